// The HTTP front: the request pipeline kube-apiserver runs for every call, in its order —
// (the load's latency), authentication, flow control (APF-like throttling, then injected faults),
// authorization — then the verb's handler, and every answer written as JSON or as a Status.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Faults } from "./faults.js";
import * as rest from "./handlers.js";
import { latencyFor, type FlowControl, type Latency } from "./load.js";
import { MASTERS_GROUP, type RbacAuthorizer, type UserInfo } from "./rbac.js";
import { resourceByPlural } from "./resources.js";
import { parseRequest, type NonResourceRequest, type ResourceRequest } from "./router.js";
import { parseFieldSelector } from "./selectors.js";
import { ApiError, badRequest, forbidden, internalError, methodNotAllowed, tooManyRequests, unauthorized, unknownResource } from "./status.js";

/** One request as the fake saw it. */
export interface RequestRecord {
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  /** The RBAC verb: get, list, watch, create, update, patch, delete, deletecollection (lower-case method for non-resource paths). */
  verb: string;
  apiGroup?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  user?: string;
  /** The response status; 200 for a watch as soon as it streams. Unset while the request is in flight. */
  code?: number;
}

export interface ServerParts {
  ctx: rest.HandlerContext;
  faults: Faults;
  /** Read per request, so a test can change them; undefined: none. */
  latency(): Latency | undefined;
  flowControl(): FlowControl | undefined;
  /** Undefined when RBAC is off. Read per request, so a test can swap the rules. */
  authorizer(): RbacAuthorizer | undefined;
  userForToken(token: string): UserInfo | undefined;
  onRequest(record: RequestRecord): void;
  onResponse(record: RequestRecord): void;
  onInternalError(err: unknown): void;
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function nonResourceReply(info: NonResourceRequest): rest.Reply {
  switch (info.path) {
    case "/version":
      return { code: 200, body: { major: "1", minor: "31", gitVersion: "v1.31.0-fake-kube", platform: "linux/amd64" } };
    case "/healthz":
    case "/livez":
    case "/readyz":
      return { code: 200, body: "ok", contentType: "text/plain" };
    case "/api":
      return { code: 200, body: { kind: "APIVersions", versions: ["v1"] } };
    default:
      throw unknownResource();
  }
}

export class ApiServer {
  private readonly server: http.Server;

  constructor(private readonly parts: ServerParts) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(0, "127.0.0.1", () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const info = parseRequest(method, url);
    const record: RequestRecord = { at: Date.now(), method, path: url.pathname, query: Object.fromEntries(url.searchParams), verb: info.verb };
    if (info.type === "resource") {
      Object.assign(record, {
        apiGroup: info.apiGroup,
        resource: info.resource,
        subresource: info.subresource,
        namespace: info.namespace,
        name: info.name,
      });
    }
    this.parts.onRequest(record);
    res.on("close", () => this.parts.onResponse(record));
    try {
      const body = BODY_METHODS.has(method) ? await readJson(req) : undefined;
      const latencyMs = latencyFor(this.parts.latency(), info.type === "resource" ? info.subresource : undefined);
      if (latencyMs > 0) await sleep(latencyMs);
      const decision = this.parts.faults.decide({ verb: info.verb, ...(info.type === "resource" ? info : {}) });
      if (decision.delayMs > 0) await sleep(decision.delayMs);
      const user = this.authenticate(req);
      record.user = user.name;
      const flowControl = this.parts.flowControl();
      if (flowControl && !user.groups.includes(MASTERS_GROUP)) {
        const retryAfter = flowControl.admit(user.name);
        if (retryAfter !== undefined) throw tooManyRequests(retryAfter);
      }
      if (decision.error) throw decision.error;
      if (info.type === "nonResource") return this.reply(res, record, nonResourceReply(info));
      this.authorize(user, info);
      const reply = await this.dispatch(info, user, body, res, record);
      if (reply) this.reply(res, record, reply);
    } catch (err) {
      this.fail(res, record, err);
    }
  }

  private authenticate(req: IncomingMessage): UserInfo {
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    const user = match ? this.parts.userForToken(match[1].trim()) : undefined;
    if (!user) throw unauthorized();
    return user;
  }

  private authorize(user: UserInfo, info: ResourceRequest): void {
    const authorizer = this.parts.authorizer();
    if (!authorizer) return;
    let name = info.name;
    // For list and watch, a metadata.name field selector names the object, as the URL would.
    if (!name && (info.verb === "list" || info.verb === "watch")) {
      try {
        name = parseFieldSelector(info.query.get("fieldSelector"), "").name;
      } catch {
        name = undefined;
      }
    }
    const attrs = { verb: info.verb, apiGroup: info.apiGroup, resource: info.resource, subresource: info.subresource, namespace: info.namespace, name };
    if (!authorizer.authorize(user, attrs)) {
      throw forbidden(info.apiGroup, info.resource, info.name, authorizer.forbiddenReason(user, attrs));
    }
  }

  /** Runs the handler; returns undefined when it streams its own answer (watch). */
  private dispatch(info: ResourceRequest, user: UserInfo, body: unknown, res: ServerResponse, record: RequestRecord): rest.Reply | Promise<rest.Reply> | undefined {
    const rt = resourceByPlural(info.apiGroup, info.resource);
    if (!rt || info.apiVersion !== rt.version) throw unknownResource();
    const ctx = this.parts.ctx;
    if (info.subresource) {
      if (!rt.subresources.has(info.subresource)) throw unknownResource();
      if (info.verb !== "get") throw methodNotAllowed(`${info.verb} on ${info.resource}/${info.subresource}`);
      if (info.query.get("follow") === "true") {
        rest.followPodLog(ctx, rt, info, res);
        record.code = 200;
        return undefined;
      }
      return rest.podLog(ctx, rt, info);
    }
    if (!rt.verbs.has(info.verb)) throw methodNotAllowed(`${info.verb} on ${info.resource}`);
    switch (info.verb) {
      case "create":
        return rest.create(ctx, rt, info, body);
      case "get":
        return rest.get(ctx, rt, info);
      case "list":
        return rest.list(ctx, rt, info);
      case "watch":
        record.code = 200;
        rest.watch(ctx, rt, info, res);
        return undefined;
      case "update":
        return rest.update(ctx, rt, info, body, () => this.authorize(user, { ...info, verb: "create" }));
      case "delete":
        return rest.remove(ctx, rt, info, body);
      default:
        throw methodNotAllowed(`${info.verb} on ${info.resource}`);
    }
  }

  private reply(res: ServerResponse, record: RequestRecord, reply: rest.Reply): void {
    record.code = reply.code;
    if (res.destroyed || res.headersSent) return;
    const contentType = reply.contentType ?? "application/json";
    const payload = contentType === "application/json" ? JSON.stringify(reply.body) : String(reply.body);
    res.writeHead(reply.code, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(payload), ...reply.headers });
    res.end(payload);
  }

  private fail(res: ServerResponse, record: RequestRecord, err: unknown): void {
    let error: ApiError;
    if (err instanceof ApiError) {
      error = err;
    } else {
      this.parts.onInternalError(err);
      error = internalError(err instanceof Error ? err.message : String(err));
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.reply(res, record, { code: error.code, body: error.status, headers: error.headers });
  }
}
