// CreateApiKey, ListApiKeys, RevokeApiKey (admin). Keys are made and checked in src/auth/;
// here requests are validated and records mapped. The key's text leaves the service once, in
// CreateApiKey's answer, and is never logged.
import type {
  ApiKey, CreateApiKeyRequest, CreateApiKeyResponse, ListApiKeysRequest, ListApiKeysResponse, RevokeApiKeyRequest,
} from "../gen/jobscheduler/v1/jobscheduler.js";
import { Role } from "../gen/jobscheduler/v1/jobscheduler.js";
import { hashApiKey, KEY_ID, newApiKey } from "../auth/api-key.js";
import type { KeyDirectory } from "../auth/key-directory.js";
import type { Clock } from "../dispatch/clock.js";
import type { ApiKeyRecord, AuthStore } from "../store/auth-store.js";
import { Conflict, InvalidField, NotFound, PreconditionFailed } from "../jobs/errors.js";
import { echo } from "./errors.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type SecurityRpcs } from "./job-scheduler-service.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import type { RpcContext, RpcInstrumentation } from "./rpc.js";
import { checkText, PAGE_TOKEN_RULE } from "./validation.js";

export interface ApiKeyServiceDeps {
  store: AuthStore;
  keys: KeyDirectory;
  clock: Clock;
}

const ROLE_NAMES: Record<string, Role> = {
  viewer: Role.ROLE_VIEWER,
  submitter: Role.ROLE_SUBMITTER,
  operator: Role.ROLE_OPERATOR,
  admin: Role.ROLE_ADMIN,
};

function roleFromProto(role: Role): string {
  const name = Object.entries(ROLE_NAMES).find(([, value]) => value === role)?.[0];
  if (!name) throw new InvalidField("role", "is required: ROLE_VIEWER, ROLE_SUBMITTER, ROLE_OPERATOR or ROLE_ADMIN");
  return name;
}

const date = (ms: number | null) => (ms === null ? undefined : new Date(ms));

export function apiKeyToProto(key: ApiKeyRecord): ApiKey {
  return {
    id: key.id,
    name: key.name,
    role: ROLE_NAMES[key.role] ?? Role.ROLE_UNSPECIFIED,
    team: key.team ?? "",
    allowInlineScripts: key.allowInlineScripts,
    expireTime: date(key.expiresAt),
    createTime: new Date(key.createdAt),
    lastUsedTime: date(key.lastUsedAt),
    revokeTime: date(key.revokedAt),
    source: key.source,
    createdBy: key.createdBy ?? "",
  };
}

const NAME_RULE = { max: 100 };

export function apiKeyService(rpc: RpcInstrumentation, deps: ApiKeyServiceDeps): Omit<SecurityRpcs, "listAuditEvents"> {
  async function createApiKey(request: CreateApiKeyRequest, ctx: RpcContext): Promise<CreateApiKeyResponse> {
    if (!request.name) throw new InvalidField("name", "is required");
    checkText("name", request.name, NAME_RULE);
    const role = roleFromProto(request.role);
    checkText("team", request.team, NAME_RULE);
    const now = deps.clock.now();
    const expiresAt = request.expireTime?.getTime() ?? null;
    if (expiresAt !== null && !(expiresAt > now)) throw new InvalidField("expire_time", "must be in the future");
    const { id, key } = newApiKey();
    const record: ApiKeyRecord = {
      id,
      name: request.name,
      role,
      team: request.team || null,
      allowInlineScripts: request.allowInlineScripts,
      keyHash: hashApiKey(key),
      source: "api",
      createdBy: ctx.principal?.id ?? null,
      createdAt: now,
      expiresAt,
      lastUsedAt: null,
      revokedAt: null,
    };
    // 48 random bits of id: a clash is all but impossible, and refused rather than overwritten.
    if (!(await deps.store.insertApiKey(record))) throw new Conflict("id", "a key with this id exists; call again");
    deps.keys.forget(id);
    ctx.logger.info({ keyId: id, name: record.name, role, team: record.team }, "API key created");
    return { key: apiKeyToProto(record), secret: key };
  }

  async function listApiKeys(request: ListApiKeysRequest): Promise<ListApiKeysResponse> {
    const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
    if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw new InvalidField("page_size", `must be between 1 and ${MAX_PAGE_SIZE}`);
    checkText("team", request.team, NAME_RULE);
    checkText("page_token", request.pageToken, PAGE_TOKEN_RULE);
    const filters = { keys: true, team: request.team, includeRevoked: request.includeRevoked };
    const after = request.pageToken ? decodePageToken(request.pageToken, filters) : undefined;
    const team = request.team || undefined;
    const rows = await deps.store.listApiKeys({ team, includeRevoked: request.includeRevoked, after, limit: pageSize + 1 });
    const page = rows.slice(0, pageSize);
    const last = page.at(-1);
    // Keys declared in API_KEYS_FILE are held in memory, not stored: they lead the first page.
    const declared = after ? [] : deps.keys.declaredKeys().filter((k) => team === undefined || k.team === team);
    return {
      keys: [...declared, ...page].map(apiKeyToProto),
      nextPageToken: rows.length > pageSize && last ? encodePageToken({ createdAt: last.createdAt, id: last.id }, filters) : "",
    };
  }

  async function revokeApiKey(request: RevokeApiKeyRequest, ctx: RpcContext): Promise<ApiKey> {
    if (!request.keyId) throw new InvalidField("key_id", "is required");
    checkText("key_id", request.keyId, { max: 64 });
    if (!KEY_ID.test(request.keyId)) throw new InvalidField("key_id", `"${echo(request.keyId)}" is not a key id (the part between jsk_ and the next _)`);
    if (deps.keys.isDeclared(request.keyId)) {
      throw new PreconditionFailed(`API key ${request.keyId} is declared in API_KEYS_FILE: remove it there (and restart) to revoke it`, "KEY_DECLARED");
    }
    const revoked = await deps.store.revokeApiKey(request.keyId, deps.clock.now());
    if (!revoked) throw new NotFound(`API key ${request.keyId} not found`);
    deps.keys.forget(request.keyId);
    ctx.logger.info({ keyId: revoked.id, name: revoked.name }, "API key revoked");
    return apiKeyToProto(revoked);
  }

  return {
    createApiKey: rpc.unary("CreateApiKey", createApiKey),
    listApiKeys: rpc.unary("ListApiKeys", listApiKeys),
    revokeApiKey: rpc.unary("RevokeApiKey", revokeApiKey),
  };
}
