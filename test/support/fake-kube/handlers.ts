// The REST verbs on a resource: create, get, list, watch, update, delete, and pods/log.
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { defaultJob } from "./defaults.js";
import { fieldError, type FieldError } from "./field-errors.js";
import type { DeleteOptions, GarbageCollector } from "./garbage-collector.js";
import type { Kubelet } from "./kubelet.js";
import { randomSuffix } from "./pod-builder.js";
import type { ResourceType } from "./resources.js";
import type { ResourceRequest } from "./router.js";
import { dropFields, schemaProblems, unknownFields } from "./schema.js";
import { parseFieldSelector, parseLabelSelector } from "./selectors.js";
import {
  ApiError,
  alreadyExists,
  badRequest,
  conflict,
  expired,
  invalid,
  invalidListOptions,
  methodNotAllowed,
  namespaceNotFound,
  notFound,
  success,
  tooLargeResourceVersion,
  type StatusCause,
} from "./status.js";
import type { ObjectStore } from "./store.js";
import { apiSeconds, type Timing } from "./timing.js";
import { asPod, type Kind, type KubeObject, type PropagationPolicy } from "./types.js";
import { validateForCreate, validateForUpdate } from "./validation.js";
import type { WatchHub } from "./watch.js";

export interface HandlerContext {
  store: ObjectStore;
  gc: GarbageCollector;
  kubelet: Kubelet;
  watches: WatchHub;
  timing: Timing;
  random: () => number;
  namespaceExists(namespace: string): boolean;
  /** Reject unknown fields even when the client does not ask for fieldValidation=Strict. */
  strictFields: boolean;
}

export interface Reply {
  code: number;
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

/** Kinds whose PUT may omit metadata.resourceVersion (an unconditional update). */
const UNCONDITIONAL_UPDATE: ReadonlySet<Kind> = new Set(["ConfigMap"]);
/** Kinds a PUT creates when absent (AllowCreateOnUpdate in their registry strategy). */
const CREATE_ON_UPDATE: ReadonlySet<Kind> = new Set(["Lease"]);

// metav1.MicroTime only parses RFC 3339 with exactly six fractional digits: Date#toISOString() is
// rejected by a real API server (client-node's V1MicroTime writes the right form).
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;
const MICRO_TIME_FIELDS: Partial<Record<Kind, string[]>> = { Lease: ["acquireTime", "renewTime"] };

function decodeError(rt: ResourceType, detail: string): ApiError {
  return badRequest(`${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: ${detail}`);
}

function asBody(rt: ResourceType, body: unknown): KubeObject {
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw decodeError(rt, "the body is not a JSON object");
  const obj = body as KubeObject;
  if (obj.apiVersion !== undefined && obj.apiVersion !== rt.apiVersion) {
    throw badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${rt.apiVersion})`);
  }
  if (obj.kind !== undefined && obj.kind !== rt.kind) {
    throw badRequest(`${String(obj.kind)} in version "${rt.version}" cannot be handled as a ${rt.kind}: kind mismatch`);
  }
  obj.apiVersion = rt.apiVersion;
  obj.kind = rt.kind;
  if (obj.metadata === null || typeof obj.metadata !== "object") obj.metadata = {} as KubeObject["metadata"];
  return obj;
}

function checkMicroTimes(rt: ResourceType, obj: KubeObject): void {
  const spec = obj.spec as Record<string, unknown> | undefined;
  for (const field of MICRO_TIME_FIELDS[rt.kind] ?? []) {
    const value = spec?.[field];
    if (value !== undefined && value !== null && !(typeof value === "string" && MICRO_TIME.test(value))) {
      throw decodeError(rt, `parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse as RFC3339 with microseconds (spec.${field})`);
    }
  }
}

/** Schema and unknown-field checks done while decoding; returns the Warning headers to send. */
function decode(ctx: HandlerContext, rt: ResourceType, obj: KubeObject, query: URLSearchParams): { warnings: string[]; schemaCauses: FieldError[] } {
  checkMicroTimes(rt, obj);
  const problems = schemaProblems(rt.kind, obj);
  const typeProblem = problems.find((p) => p.category === "type");
  if (typeProblem) throw decodeError(rt, `${typeProblem.field}: ${typeProblem.message}`);
  const unknown = unknownFields(rt.kind, obj);
  const mode = query.get("fieldValidation") ?? (ctx.strictFields ? "Strict" : "Warn");
  if (unknown.length > 0 && mode === "Strict") {
    throw badRequest(`strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(", ")}`);
  }
  dropFields(obj, unknown);
  const warnings = mode === "Ignore" ? [] : unknown.map((f) => `299 - "unknown field \\"${f}\\""`);
  const schemaCauses = problems.map((p) =>
    p.category === "required" ? fieldError.required(p.field) : { field: p.field, reason: "FieldValueNotSupported", message: p.message },
  );
  return { warnings, schemaCauses };
}

/** Our own causes first; schema findings only for fields we said nothing about. */
function mergeCauses(own: FieldError[], schema: FieldError[]): FieldError[] {
  const seen = new Set(own.map((c) => c.field));
  return [...own, ...schema.filter((c) => !seen.has(c.field) && ![...seen].some((f) => f.startsWith(`${c.field}.`) || c.field.startsWith(`${f}.`)))];
}

function warningHeaders(warnings: string[]): Record<string, string> | undefined {
  return warnings.length > 0 ? { Warning: warnings.join(", ") } : undefined;
}

function requireNamespace(req: ResourceRequest): string {
  if (!req.namespace) throw methodNotAllowed(`${req.verb} of ${req.resource} across all namespaces`);
  return req.namespace;
}

function stripServerFields(obj: KubeObject, rt: ResourceType): void {
  const meta = obj.metadata as Partial<KubeObject["metadata"]> & Record<string, unknown>;
  delete meta.uid;
  delete meta.creationTimestamp;
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  delete meta.selfLink;
  delete meta.managedFields;
  delete meta.generation;
  if (rt.kind === "Job") delete obj.status;
}

export function create(ctx: HandlerContext, rt: ResourceType, req: ResourceRequest, body: unknown): Reply {
  const namespace = requireNamespace(req);
  if (!ctx.namespaceExists(namespace)) throw namespaceNotFound(namespace);
  const obj = asBody(rt, body);
  if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== namespace) {
    throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
  }
  if (obj.metadata.resourceVersion) throw badRequest("resourceVersion should not be set on objects to be created");
  const { warnings, schemaCauses } = decode(ctx, rt, obj, req.query);
  stripServerFields(obj, rt);
  if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = obj.metadata.generateName + randomSuffix(ctx.random);
  obj.metadata.namespace = namespace;
  obj.metadata.uid = randomUUID();
  if (rt.kind === "Job") defaultJob(obj);
  const causes = mergeCauses(validateForCreate(rt.kind, obj), schemaCauses);
  if (causes.length > 0) throw invalid(rt, obj.metadata.name ?? "", causes);
  if (req.query.get("dryRun") === "All") {
    if (ctx.store.get(rt.kind, namespace, obj.metadata.name)) throw alreadyExists(rt, obj.metadata.name);
    return { code: 201, body: obj, headers: warningHeaders(warnings) };
  }
  return { code: 201, body: ctx.store.create(obj), headers: warningHeaders(warnings) };
}

export function get(ctx: HandlerContext, rt: ResourceType, req: ResourceRequest): Reply {
  const obj = ctx.store.get(rt.kind, req.namespace ?? "", req.name ?? "");
  if (!obj) throw notFound(rt, req.name ?? "");
  return { code: 200, body: obj };
}

interface ContinueToken {
  /** The snapshot the list is read at; -1 continues at the latest state (after a 410). */
  rv: number;
  /** The last key ("namespace/name") already returned. */
  after: string;
}

// kube-apiserver's wording (storage/etcd3/store.go).
const LIST_TOO_OLD = "The resourceVersion for the provided list is too old.";
const CONTINUE_TOO_OLD =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

function encodeContinue(token: ContinueToken): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

function decodeContinue(text: string): ContinueToken {
  try {
    const token = JSON.parse(Buffer.from(text, "base64url").toString()) as ContinueToken;
    if (typeof token.after === "string" && Number.isInteger(token.rv)) return token;
  } catch {
    // answered below
  }
  throw badRequest("continue key is not valid: illegal base64 data");
}

function parseVersion(text: string): number {
  const rv = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(rv)) throw badRequest(`resourceVersion: Invalid value: "${text}": must be a non-negative integer`);
  return rv;
}

/** ValidateListOptions of kube-apiserver, and the continue rule of the etcd3 store. */
function checkListOptions(rv: string | null, match: string | null, token: string | null): void {
  const causes: StatusCause[] = [];
  if (match) {
    if (!rv) causes.push({ reason: "FieldValueForbidden", field: "resourceVersionMatch", message: "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided" });
    if (token) causes.push({ reason: "FieldValueForbidden", field: "resourceVersionMatch", message: "Forbidden: resourceVersionMatch is forbidden when continue is provided" });
    if (match !== "Exact" && match !== "NotOlderThan") {
      causes.push({ reason: "FieldValueNotSupported", field: "resourceVersionMatch", message: `Unsupported value: "${match}": supported values: "Exact", "NotOlderThan", ""` });
    }
    if (match === "Exact" && rv === "0") causes.push({ reason: "FieldValueForbidden", field: "resourceVersionMatch", message: 'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"' });
  }
  if (causes.length > 0) throw invalidListOptions(causes);
  if (token && rv && rv !== "0") throw badRequest("specifying resource version is not allowed when using continue");
}

/**
 * list, with the resourceVersion semantics of kube-apiserver: unset = the most recent state;
 * "0" = any (here the current one); NotOlderThan (the default for a non-zero version without
 * limit) waits up to 3 API seconds for the store to reach the version, then answers 504 Too large
 * resource version; Exact (and a non-zero version with limit) reads the state at that version,
 * 410 Expired once compacted. Continue tokens read the first page's snapshot and expire the same
 * way; the 410 then carries a token that continues at the latest state.
 */
export async function list(ctx: HandlerContext, rt: ResourceType, req: ResourceRequest): Promise<Reply> {
  const labels = parseLabelSelector(req.query.get("labelSelector"));
  const fields = parseFieldSelector(req.query.get("fieldSelector"), rt.kind);
  const rvText = req.query.get("resourceVersion");
  const match = req.query.get("resourceVersionMatch");
  const token = req.query.get("continue");
  checkListOptions(rvText, match, token);
  const limit = Number(req.query.get("limit") ?? 0);
  const compactedMs = apiSeconds(ctx.timing, ctx.timing.compactionSeconds);
  const keyOf = (o: KubeObject): string => `${o.metadata.namespace}/${o.metadata.name}`;

  let after: string | undefined;
  let at: number | undefined; // the snapshot's resourceVersion; undefined: the current state
  if (token) {
    const cont = decodeContinue(token);
    after = cont.after;
    if (cont.rv >= 0) at = cont.rv;
    if (at !== undefined && at < ctx.store.oldestVersionWithin(compactedMs)) {
      const error = new ApiError(expired(CONTINUE_TOO_OLD));
      error.status.metadata.continue = encodeContinue({ rv: -1, after });
      throw error;
    }
  } else if (rvText && rvText !== "0") {
    const rv = parseVersion(rvText);
    const exact = match === "Exact" || (!match && limit > 0);
    if (rv > ctx.store.resourceVersion && !(await ctx.store.waitForVersion(rv, apiSeconds(ctx.timing, 3)))) {
      throw tooLargeResourceVersion(rv, ctx.store.resourceVersion);
    }
    if (exact) at = rv;
  }

  let items: KubeObject[];
  let listVersion: number;
  if (at === undefined) {
    listVersion = ctx.store.resourceVersion;
    items = ctx.store.list(rt.kind, req.namespace);
  } else {
    const snapshot = ctx.store.snapshot(rt.kind, req.namespace, at, compactedMs);
    if (!snapshot) throw new ApiError(expired(LIST_TOO_OLD));
    listVersion = at;
    items = snapshot;
  }
  const selective = Boolean(req.query.get("labelSelector") || req.query.get("fieldSelector"));
  items = items.filter((o) => labels.matches(o.metadata.labels) && fields.matches(o));
  if (after !== undefined) items = items.filter((o) => keyOf(o) > after);
  const metadata: Record<string, unknown> = { resourceVersion: String(listVersion) };
  if (limit > 0 && items.length > limit) {
    // kube-apiserver cannot count what is left when selectors filter the rest.
    if (!selective) metadata.remainingItemCount = items.length - limit;
    items = items.slice(0, limit);
    metadata.continue = encodeContinue({ rv: token && at === undefined ? -1 : listVersion, after: keyOf(items[items.length - 1]) });
  }
  // Items of a list carry no kind or apiVersion; the list does.
  const bare = items.map(({ kind: _kind, apiVersion: _apiVersion, ...rest }) => rest);
  return { code: 200, body: { kind: rt.listKind, apiVersion: rt.apiVersion, metadata, items: bare } };
}

export function watch(ctx: HandlerContext, rt: ResourceType, req: ResourceRequest, res: ServerResponse): void {
  const timeoutSeconds = req.query.get("timeoutSeconds");
  ctx.watches.serve(res, {
    rt,
    namespace: req.namespace,
    labelSelector: parseLabelSelector(req.query.get("labelSelector")),
    fieldSelector: parseFieldSelector(req.query.get("fieldSelector"), rt.kind),
    resourceVersion: req.query.get("resourceVersion") ?? undefined,
    allowBookmarks: req.query.get("allowWatchBookmarks") === "true",
    timeoutMs: timeoutSeconds ? apiSeconds(ctx.timing, Number(timeoutSeconds)) : undefined,
  });
}

/**
 * PUT. `authorizeCreate` throws 403 unless the caller may also create: a PUT that creates the
 * object (Leases allow that) needs both verbs, as in kube-apiserver.
 */
export function update(ctx: HandlerContext, rt: ResourceType, req: ResourceRequest, body: unknown, authorizeCreate: () => void): Reply {
  const namespace = requireNamespace(req);
  const name = req.name ?? "";
  const obj = asBody(rt, body);
  if (obj.metadata.name !== undefined && obj.metadata.name !== name) {
    throw badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${name})`);
  }
  if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== namespace) {
    throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
  }
  const current = ctx.store.get(rt.kind, namespace, name);
  if (!current) return createOnUpdate(ctx, rt, req, obj, authorizeCreate);
  const { warnings, schemaCauses } = decode(ctx, rt, obj, req.query);
  const expected = obj.metadata.resourceVersion || undefined;
  if (expected === undefined && !UNCONDITIONAL_UPDATE.has(rt.kind)) {
    throw invalid(rt, name, [fieldError.invalid("metadata.resourceVersion", 0, "must be specified for an update")]);
  }
  if (obj.metadata.uid && obj.metadata.uid !== current.metadata.uid) {
    throw conflict(rt, name, `Precondition failed: UID in precondition: ${obj.metadata.uid}, UID in object meta: ${current.metadata.uid}`);
  }
  obj.metadata.name = name;
  obj.metadata.namespace = namespace;
  const causes = mergeCauses(validateForUpdate(rt.kind, obj, current), schemaCauses);
  if (causes.length > 0) throw invalid(rt, name, causes);
  if (current.metadata.deletionTimestamp) {
    obj.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
    obj.metadata.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
  }
  return { code: 200, body: ctx.store.replace(obj, expected), headers: warningHeaders(warnings) };
}

function createOnUpdate(ctx: HandlerContext, rt: ResourceType, req: ResourceRequest, obj: KubeObject, authorizeCreate: () => void): Reply {
  const name = req.name ?? "";
  if (!CREATE_ON_UPDATE.has(rt.kind) || obj.metadata.resourceVersion) throw notFound(rt, name);
  // A uid in the body is a precondition, which an absent object cannot meet.
  if (obj.metadata.uid) throw conflict(rt, name, `Precondition failed: UID in precondition: ${obj.metadata.uid}, UID in object meta: `);
  authorizeCreate();
  return create(ctx, rt, { ...req, verb: "create" }, { ...obj, metadata: { ...obj.metadata, name } });
}

function deleteOptions(rt: ResourceType, name: string, query: URLSearchParams, body: unknown): DeleteOptions {
  const fromBody = (body && typeof body === "object" ? body : {}) as DeleteOptions;
  const policy = (query.get("propagationPolicy") ?? fromBody.propagationPolicy) as PropagationPolicy | undefined;
  const policies = ["Foreground", "Background", "Orphan"];
  if (policy !== undefined && !policies.includes(policy)) {
    throw invalid(rt, name, [fieldError.notSupported("propagationPolicy", policy, policies)]);
  }
  const grace = query.get("gracePeriodSeconds") ?? fromBody.gracePeriodSeconds;
  const orphan = query.get("orphanDependents") ?? fromBody.orphanDependents;
  return {
    propagationPolicy: policy,
    gracePeriodSeconds: grace === undefined || grace === null ? undefined : Number(grace),
    orphanDependents: orphan === undefined || orphan === null ? undefined : String(orphan) === "true",
    preconditions: fromBody.preconditions,
  };
}

export function remove(ctx: HandlerContext, rt: ResourceType, req: ResourceRequest, body: unknown): Reply {
  const namespace = requireNamespace(req);
  const name = req.name ?? "";
  const opts = deleteOptions(rt, name, req.query, body);
  if (req.query.get("dryRun") === "All") {
    const current = ctx.store.get(rt.kind, namespace, name);
    if (!current) throw notFound(rt, name);
    return { code: 200, body: current };
  }
  const result = ctx.gc.delete(rt.kind, namespace, name, opts);
  // Pods answer with the pod; other kinds with a Success Status once gone, or the object while deletion is pending.
  if (result.removed && rt.kind !== "Pod") return { code: 200, body: success(rt, name, result.object.metadata.uid) };
  return { code: 200, body: result.object };
}

function tail(text: string, lines: number): string {
  if (lines <= 0) return "";
  const parts = text.split("\n");
  const trailingNewline = text.endsWith("\n");
  if (trailingNewline) parts.pop();
  return parts.slice(-lines).join("\n") + (trailingNewline ? "\n" : "");
}

/**
 * pods/log?follow=true: the (tailLines) log so far, then what the container writes, streamed
 * until it stops or the pod is deleted; limitBytes bounds the whole stream.
 */
export function followPodLog(ctx: HandlerContext, rt: ResourceType, req: ResourceRequest, res: ServerResponse): void {
  const obj = ctx.store.get("Pod", req.namespace ?? "", req.name ?? "");
  if (!obj) throw notFound(rt, req.name ?? "");
  const limitText = req.query.get("limitBytes");
  let left = limitText === null ? Infinity : Number(limitText);
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    stop();
    if (!res.destroyed) res.end();
  };
  const send = (text: string): void => {
    if (ended || res.destroyed) return;
    const bytes = Buffer.from(text);
    const part = bytes.length <= left ? bytes : bytes.subarray(0, left);
    left -= part.length;
    if (part.length) res.write(part);
    if (left <= 0) end();
  };
  const opened = ctx.kubelet.followLog(asPod(obj), req.query.get("container") ?? undefined, { data: send, end });
  const stop = opened.stop;
  res.writeHead(200, { "Content-Type": "text/plain", "Cache-Control": "no-cache, private" });
  res.flushHeaders();
  res.on("close", () => {
    ended = true;
    stop();
  });
  const tailLines = req.query.get("tailLines");
  send(tailLines === null ? opened.text : tail(opened.text, Number(tailLines)));
  if (!opened.following) end();
}

export function podLog(ctx: HandlerContext, rt: ResourceType, req: ResourceRequest): Reply {
  const obj = ctx.store.get("Pod", req.namespace ?? "", req.name ?? "");
  if (!obj) throw notFound(rt, req.name ?? "");
  let text = ctx.kubelet.readLog(asPod(obj), req.query.get("container") ?? undefined);
  const tailLines = req.query.get("tailLines");
  if (tailLines !== null) text = tail(text, Number(tailLines));
  const limitBytes = req.query.get("limitBytes");
  if (limitBytes !== null) text = Buffer.from(text).subarray(0, Number(limitBytes)).toString();
  return { code: 200, body: text, contentType: "text/plain" };
}
