// A job request checked once, field by field, into a Submission: the job's type, its settings
// with the type's defaults filled in, its parameters as the type's schema parsed them, and the
// hash that tells a true repeat of a request from another request reusing its idempotency key.
// A Submission travels as it is (ScheduleJob, schedule fires, team rounds): nothing checks it
// again. Every refusal is an InvalidField (or PreconditionFailed) naming the field.
import { createHash } from "node:crypto";
import { MAX_QUANTITY_LENGTH, parseQuantity } from "../../runtime/quantity.js";
import { echo } from "../../echo.js";
import { fromZodError, InvalidField, mapEntryPath, PreconditionFailed } from "../errors.js";
import type { JobHandler } from "../handler.js";
import { DEFAULT_RETRY_POLICY, type JobResources, type RetryPolicy, type TeamBinding } from "../job.js";
import { labelKeyProblem, labelValueProblem } from "../labels.js";
import type { JobRegistry } from "../registry.js";
import { formatMs } from "../schema-helpers.js";
import { text, textProblem } from "../text-field.js";
import { checkText, durationToMs, idempotencyKey, printableKey } from "./field-rules.js";
import type { CriteriaTypeRequest, JobRequest, RetryPolicyRequest } from "./request.js";

export const MAX_LABELS = 64;
const MAX_ATTEMPTS_LIMIT = 20;
const PRIORITY_LIMIT = 1000;
const MAX_BACKOFF_MS = 24 * 3_600_000;
/** A job may wait in the queue at most a year: its deadline (run_at + queue_timeout) stays a Timestamp every client can print. */
const MAX_QUEUE_TIMEOUT_MS = 8760 * 3_600_000;
/** Kubernetes label keys: a DNS-subdomain prefix (253), "/", a name (63). */
const MAX_LABEL_KEY = 253 + 1 + 63;
const MAX_LABEL_VALUE = 63;

const concurrencyKey = printableKey(253);
const name = text({ max: 253 }).regex(/^[^\p{C}]*$/u, "must not contain control or format characters");
const teamSlug = printableKey(100).min(1, "is required");

export interface Submission {
  handler: JobHandler;
  team: TeamBinding | null;
  criteriaType: string | null;
  priority: number;
  concurrencyKey: string | null;
  /** Absent: due when created. */
  runAt: number | null;
  queueTimeoutMs: number | null;
  retryPolicy: RetryPolicy;
  name: string;
  idempotencyKey: string | null;
  labels: Record<string, string>;
  resources: JobResources;
  timeoutMs: number;
  maxAttempts: number;
  params: Record<string, unknown>;
  /** Two fields as the request gave them (before the type's defaults): the request hash covers these. */
  asRequested: { concurrencyKey: string; queueTimeoutMs: number | null };
  requestHash: string;
}

/** How far ahead a client may set run_at; without it (a schedule's fires, which set run_at themselves) it is not bounded. */
export interface RunAtHorizon {
  now: number;
  /** MAX_SCHEDULE_HORIZON */
  maxMs: number;
}

function validateLabels(labels: Record<string, string>): Record<string, string> {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw new InvalidField("labels", `at most ${MAX_LABELS} labels are allowed`);
  for (const [key, value] of entries) {
    const problem =
      textProblem(key, { max: MAX_LABEL_KEY }) ?? textProblem(value, { max: MAX_LABEL_VALUE }) ?? labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem) throw new InvalidField(mapEntryPath("labels", key), problem);
  }
  return labels;
}

function validateResources(requested: Partial<JobResources> | undefined, defaults: JobResources): JobResources {
  const merged: JobResources = { ...defaults };
  const fields: [keyof JobResources, string][] = [
    ["cpuRequest", "cpu_request"], ["cpuLimit", "cpu_limit"], ["memoryRequest", "memory_request"], ["memoryLimit", "memory_limit"],
  ];
  for (const [key, protoName] of fields) {
    const value = requested?.[key];
    if (!value) continue;
    checkText(`resources.${protoName}`, value, { max: MAX_QUANTITY_LENGTH });
    const parsed = parseQuantity(value);
    if (parsed === null) throw new InvalidField(`resources.${protoName}`, `"${echo(value)}" is not a resource quantity below 2^63 (e.g. 250m, 0.5, 128Mi)`);
    if (parsed <= 0) throw new InvalidField(`resources.${protoName}`, "must be greater than zero");
    merged[key] = value;
  }
  // A request above its limit is invalid; when only one side was given, the other follows it.
  for (const [request, limit, label] of [["cpuRequest", "cpuLimit", "cpu"], ["memoryRequest", "memoryLimit", "memory"]] as const) {
    const r = parseQuantity(merged[request])!;
    const l = parseQuantity(merged[limit])!;
    if (r <= l) continue;
    if (requested?.[request] && requested?.[limit]) {
      throw new InvalidField(`resources.${label}_request`, `${merged[request]} is above the ${label} limit ${merged[limit]}`);
    }
    if (requested?.[request]) merged[limit] = merged[request];
    else merged[request] = merged[limit];
  }
  return merged;
}

function validateRetryPolicy(requested: RetryPolicyRequest | undefined): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY };
  if (!requested) return policy;
  const initial = durationToMs(requested.initialBackoff, "retry_policy.initial_backoff");
  const max = durationToMs(requested.maxBackoff, "retry_policy.max_backoff");
  if (initial !== undefined) {
    if (initial > MAX_BACKOFF_MS) throw new InvalidField("retry_policy.initial_backoff", "must be at most 24h");
    policy.initialBackoffMs = initial;
  }
  if (max !== undefined) {
    if (max > MAX_BACKOFF_MS) throw new InvalidField("retry_policy.max_backoff", "must be at most 24h");
    if (max > 0) policy.maxBackoffMs = max;
  }
  if (policy.maxBackoffMs < policy.initialBackoffMs) throw new InvalidField("retry_policy.max_backoff", "must not be below initial_backoff");
  if (requested.backoffMultiplier !== 0) {
    if (!(requested.backoffMultiplier >= 1 && requested.backoffMultiplier <= 10)) throw new InvalidField("retry_policy.backoff_multiplier", "must be between 1 and 10");
    policy.multiplier = requested.backoffMultiplier;
  }
  if (requested.jitter !== undefined) {
    if (!(requested.jitter >= 0 && requested.jitter <= 1)) throw new InvalidField("retry_policy.jitter", "must be between 0 and 1");
    policy.jitter = requested.jitter;
  }
  policy.retryOnTimeout = requested.retryOnTimeout;
  return policy;
}

function criteriaTypeName(value: CriteriaTypeRequest): string | null {
  if (value !== null && typeof value === "object") throw new InvalidField("criteria_type", `${value.unknown} is not a criteria type`);
  return value;
}

function validateTeam(team: JobRequest["team"]): TeamBinding | null {
  if (!team || (!team.slug && !team.hackathonId)) return null;
  const slug = teamSlug.safeParse(team.slug);
  if (!slug.success) throw fromZodError(slug.error, ["team", "slug"]);
  const hackathon = teamSlug.safeParse(team.hackathonId);
  if (!hackathon.success) throw fromZodError(hackathon.error, ["team", "hackathon_id"]);
  return { slug: slug.data, hackathonId: hackathon.data };
}

/**
 * JSON with object keys in sorted order and undefined members left out, so equal requests hash
 * equally. Stored hashes are compared with new ones: the output must never change.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += `${i ? "," : ""}${canonicalJson(value[i]) ?? ""}`;
    return `${out}]`;
  }
  let out = "";
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined) out += `${out ? "," : ""}${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `{${out}}`;
}

/**
 * The submission with the hash of what was asked for (not the idempotency key). Stored hashes are
 * compared with new ones: the hash must never change. Written out member by member: V8 builds
 * `{ ...a, b }` of this many members through a slow path.
 */
function withRequestHash(s: Omit<Submission, "requestHash">): Submission {
  const requestHash = createHash("sha256")
    .update(canonicalJson({
      type: s.handler.type, name: s.name, labels: s.labels, resources: s.resources, timeoutMs: s.timeoutMs, maxAttempts: s.maxAttempts,
      params: s.params, priority: s.priority, concurrencyKey: s.asRequested.concurrencyKey, runAt: s.runAt,
      queueTimeoutMs: s.asRequested.queueTimeoutMs, retryPolicy: s.retryPolicy, team: s.team, criteriaType: s.criteriaType,
    }))
    .digest("base64url");
  return {
    handler: s.handler, team: s.team, criteriaType: s.criteriaType, priority: s.priority, concurrencyKey: s.concurrencyKey, runAt: s.runAt,
    queueTimeoutMs: s.queueTimeoutMs, retryPolicy: s.retryPolicy, name: s.name, idempotencyKey: s.idempotencyKey, labels: s.labels,
    resources: s.resources, timeoutMs: s.timeoutMs, maxAttempts: s.maxAttempts, params: s.params, asRequested: s.asRequested, requestHash,
  };
}

export function validateJobRequest(request: JobRequest, registry: JobRegistry, horizon?: RunAtHorizon): Submission {
  if (!request.spec) {
    const types = registry.all().map((h) => h.type).join(", ");
    throw new InvalidField("spec", `one job spec is required (one of: ${types})`);
  }
  const { type } = request.spec;
  const handler = registry.get(type);
  if (!handler) throw new InvalidField("spec", `job type "${type}" is not enabled on this server`);
  const unavailable = handler.unavailableReason?.();
  if (unavailable) throw new PreconditionFailed(unavailable, "JOB_TYPE_UNAVAILABLE");

  const nameResult = name.safeParse(request.name);
  if (!nameResult.success) throw fromZodError(nameResult.error, ["name"]);
  const keyResult = idempotencyKey.safeParse(request.idempotencyKey);
  if (!keyResult.success) throw fromZodError(keyResult.error, ["idempotency_key"]);
  const labels = validateLabels(request.labels);
  const resources = validateResources(request.resources, handler.defaultResources);

  const timeoutMs = durationToMs(request.timeout, "timeout") ?? handler.defaultTimeoutMs;
  if (timeoutMs <= 0) throw new InvalidField("timeout", "must be positive");
  if (timeoutMs > handler.maxTimeoutMs) throw new InvalidField("timeout", `must be at most ${handler.maxTimeoutMs / 1000}s for ${type} jobs`);

  const requestedAttempts = request.retryPolicy?.maxAttempts ?? 0;
  if (requestedAttempts < 0 || requestedAttempts > MAX_ATTEMPTS_LIMIT) {
    throw new InvalidField("retry_policy.max_attempts", `must be between 1 and ${MAX_ATTEMPTS_LIMIT} (0 for the type's default)`);
  }
  const maxAttempts = requestedAttempts || handler.defaultMaxAttempts;

  if (!Number.isInteger(request.priority) || Math.abs(request.priority) > PRIORITY_LIMIT) {
    throw new InvalidField("priority", `must be between -${PRIORITY_LIMIT} and ${PRIORITY_LIMIT}`);
  }
  const keyCheck = concurrencyKey.safeParse(request.concurrencyKey);
  if (!keyCheck.success) throw fromZodError(keyCheck.error, ["concurrency_key"]);
  const runAt = request.runAt ?? null;
  if (runAt !== null && !Number.isFinite(runAt)) throw new InvalidField("run_at", "is not a valid timestamp");
  if (runAt !== null && horizon && runAt > horizon.now + horizon.maxMs) {
    throw new InvalidField("run_at", `must be at most ${formatMs(horizon.maxMs)} from now (MAX_SCHEDULE_HORIZON)`);
  }
  const queueTimeoutMs = durationToMs(request.queueTimeout, "queue_timeout") ?? null;
  if (queueTimeoutMs !== null && queueTimeoutMs > MAX_QUEUE_TIMEOUT_MS) {
    throw new InvalidField("queue_timeout", `must be at most ${formatMs(MAX_QUEUE_TIMEOUT_MS)}`);
  }
  const retryPolicy = validateRetryPolicy(request.retryPolicy);

  const team = validateTeam(request.team);
  const criteriaType = criteriaTypeName(request.criteriaType);
  if (criteriaType && !team) throw new InvalidField("team", "is required when criteria_type is set");

  const paramsResult = handler.paramsSchema.safeParse(request.spec.params ?? {});
  if (!paramsResult.success) throw fromZodError(paramsResult.error, [type]);
  const params = paramsResult.data;

  return withRequestHash({
    handler,
    team,
    criteriaType,
    priority: request.priority,
    concurrencyKey: keyCheck.data || handler.defaultConcurrencyKey?.(params) || null,
    runAt,
    queueTimeoutMs: queueTimeoutMs || null,
    retryPolicy,
    name: nameResult.data || type,
    idempotencyKey: keyResult.data || null,
    labels,
    resources,
    timeoutMs,
    maxAttempts,
    params,
    asRequested: { concurrencyKey: request.concurrencyKey, queueTimeoutMs },
  });
}

/**
 * The submission of one fire of a schedule (or a round): its idempotency key, and the time it
 * is due (null: now). The rest was checked when the submission was made.
 */
export function forFire(submission: Submission, fire: { idempotencyKey: string; runAt: number | null }): Submission {
  const key = idempotencyKey.safeParse(fire.idempotencyKey);
  if (!key.success) throw fromZodError(key.error, ["idempotency_key"]);
  if (fire.runAt !== null && !Number.isFinite(fire.runAt)) throw new InvalidField("run_at", "is not a valid timestamp");
  return withRequestHash({ ...submission, idempotencyKey: key.data || null, runAt: fire.runAt });
}
