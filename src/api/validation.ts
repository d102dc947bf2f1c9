import { createHash } from "node:crypto";
import { z } from "zod";
import type { Duration } from "../gen/google/protobuf/duration.js";
import {
  CriteriaType,
  ScheduleJobRequest as ScheduleJobRequestCodec,
  type RetryPolicy as RetryPolicyMessage,
  type ScheduleJobRequest,
} from "../gen/jobscheduler/v1/jobscheduler.js";
import type { JobHandler } from "../jobs/handler.js";
import { DEFAULT_RETRY_POLICY } from "../dispatch/retry.js";
import { durationProblem } from "../jobs/duration.js";
import type { JobResources, RetryPolicy, TeamBinding } from "../jobs/job.js";
import type { JobRegistry } from "../jobs/registry.js";
import { formatMs } from "../jobs/schema-helpers.js";
import { text, textProblem, type TextRule } from "../jobs/text-field.js";
import { MAX_QUANTITY_LENGTH, parseQuantity } from "../runtime/quantity.js";
import { labelKeyProblem, labelValueProblem } from "../store/label-selector.js";
import { ApiError, echo, fromZodError, mapEntryPath } from "./errors.js";

export const MAX_LABELS = 64;
const MAX_ATTEMPTS_LIMIT = 20;
const PRIORITY_LIMIT = 1000;
const MAX_BACKOFF_MS = 24 * 3_600_000;
/** A job may wait in the queue at most a year: its deadline (run_at + queue_timeout) stays a Timestamp every client can print. */
const MAX_QUEUE_TIMEOUT_MS = 8760 * 3_600_000;
/** Kubernetes label keys: a DNS-subdomain prefix (253), "/", a name (63). */
const MAX_LABEL_KEY = 253 + 1 + 63;
const MAX_LABEL_VALUE = 63;

/** The string rule (src/jobs/text-field.ts) for a field the API reads itself: INVALID_ARGUMENT naming it. */
export function checkText(field: string, value: string, rule: TextRule): string {
  const problem = textProblem(value, rule);
  if (problem) throw ApiError.invalid(field, problem);
  return value;
}

/** Job, schedule and outbox item ids are UUIDs. */
export const ID_RULE: TextRule = { max: 36 };
/** Free-text reasons (CancelJob, PauseDispatching, PauseSchedule). */
export const REASON_RULE: TextRule = { max: 1024 };
/** Page tokens the service hands out are far shorter. */
export const PAGE_TOKEN_RULE: TextRule = { max: 1024 };

const printableKey = (max: number) => text({ max }).regex(/^[\x21-\x7e]*$/, "may hold printable ASCII without spaces only");

const concurrencyKey = printableKey(253);

export interface ValidatedSubmission {
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
  requestHash: string;
}

const name = text({ max: 253 }).regex(/^[^\p{C}]*$/u, "must not contain control or format characters");

export const idempotencyKey = printableKey(255);

/** A Duration field in milliseconds: a valid google.protobuf.Duration (src/jobs/duration.ts), not negative. */
export function durationToMs(duration: Duration | undefined, field: string): number | undefined {
  if (!duration) return undefined;
  const problem = durationProblem(duration);
  if (problem) throw ApiError.invalid(field, problem);
  if (duration.seconds < 0 || duration.nanos < 0) throw ApiError.invalid(field, "must not be negative");
  return duration.seconds * 1000 + Math.floor(duration.nanos / 1e6);
}

function validateLabels(labels: Record<string, string>): Record<string, string> {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw ApiError.invalid("labels", `at most ${MAX_LABELS} labels are allowed`);
  for (const [key, value] of entries) {
    const problem =
      textProblem(key, { max: MAX_LABEL_KEY }) ?? textProblem(value, { max: MAX_LABEL_VALUE }) ?? labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem) throw ApiError.invalid(mapEntryPath("labels", key), problem);
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
    if (parsed === null) throw ApiError.invalid(`resources.${protoName}`, `"${echo(value)}" is not a resource quantity below 2^63 (e.g. 250m, 0.5, 128Mi)`);
    if (parsed <= 0) throw ApiError.invalid(`resources.${protoName}`, "must be greater than zero");
    merged[key] = value;
  }
  // A request above its limit is invalid; when only one side was given, the other follows it.
  for (const [request, limit, label] of [["cpuRequest", "cpuLimit", "cpu"], ["memoryRequest", "memoryLimit", "memory"]] as const) {
    const r = parseQuantity(merged[request])!;
    const l = parseQuantity(merged[limit])!;
    if (r <= l) continue;
    if (requested?.[request] && requested?.[limit]) {
      throw ApiError.invalid(`resources.${label}_request`, `${merged[request]} is above the ${label} limit ${merged[limit]}`);
    }
    if (requested?.[request]) merged[limit] = merged[request];
    else merged[request] = merged[limit];
  }
  return merged;
}

function validateRetryPolicy(message: RetryPolicyMessage | undefined): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY };
  if (!message) return policy;
  const initial = durationToMs(message.initialBackoff, "retry_policy.initial_backoff");
  const max = durationToMs(message.maxBackoff, "retry_policy.max_backoff");
  if (initial !== undefined) {
    if (initial > MAX_BACKOFF_MS) throw ApiError.invalid("retry_policy.initial_backoff", "must be at most 24h");
    policy.initialBackoffMs = initial;
  }
  if (max !== undefined) {
    if (max > MAX_BACKOFF_MS) throw ApiError.invalid("retry_policy.max_backoff", "must be at most 24h");
    if (max > 0) policy.maxBackoffMs = max;
  }
  if (policy.maxBackoffMs < policy.initialBackoffMs) throw ApiError.invalid("retry_policy.max_backoff", "must not be below initial_backoff");
  if (message.backoffMultiplier !== 0) {
    if (!(message.backoffMultiplier >= 1 && message.backoffMultiplier <= 10)) throw ApiError.invalid("retry_policy.backoff_multiplier", "must be between 1 and 10");
    policy.multiplier = message.backoffMultiplier;
  }
  if (message.jitter !== undefined) {
    if (!(message.jitter >= 0 && message.jitter <= 1)) throw ApiError.invalid("retry_policy.jitter", "must be between 0 and 1");
    policy.jitter = message.jitter;
  }
  policy.retryOnTimeout = message.retryOnTimeout;
  return policy;
}

/** The criteria type's name without the prefix, null when unset; an unknown number (decoded as is) is refused. */
function criteriaTypeName(value: CriteriaType): string | null {
  if (value === CriteriaType.CRITERIA_TYPE_UNSPECIFIED) return null;
  const name = Number.isInteger(value) ? CriteriaType[value] : undefined;
  if (!name) throw ApiError.invalid("criteria_type", `${value} is not a criteria type`);
  return name.replace(/^CRITERIA_TYPE_/, "");
}

const teamSlug = printableKey(100).min(1, "is required");

function validateTeam(request: ScheduleJobRequest): TeamBinding | null {
  if (!request.team || (!request.team.slug && !request.team.hackathonId)) return null;
  const slug = teamSlug.safeParse(request.team.slug);
  if (!slug.success) throw fromZodError(slug.error, ["team", "slug"]);
  const hackathon = teamSlug.safeParse(request.team.hackathonId);
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

/** How far ahead a client may set run_at; without it (a schedule's fires, which set run_at themselves) it is not bounded. */
export interface RunAtHorizon {
  now: number;
  /** MAX_SCHEDULE_HORIZON */
  maxMs: number;
}

export function validateScheduleJob(request: ScheduleJobRequest, registry: JobRegistry, horizon?: RunAtHorizon): ValidatedSubmission {
  if (!request.spec) {
    const types = registry.all().map((h) => h.type).join(", ");
    throw ApiError.invalid("spec", `one job spec is required (one of: ${types})`);
  }
  // The oneof member as ts-proto names it (httpCheck) and as the registry and clients do (http_check).
  const member = request.spec.$case;
  const type = member.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const handler = registry.get(type);
  if (!handler) throw ApiError.invalid("spec", `job type "${type}" is not enabled on this server`);
  const unavailable = handler.unavailableReason?.();
  if (unavailable) throw ApiError.failedPrecondition(unavailable, "JOB_TYPE_UNAVAILABLE");

  const nameResult = name.safeParse(request.name);
  if (!nameResult.success) throw fromZodError(nameResult.error, ["name"]);
  const keyResult = idempotencyKey.safeParse(request.idempotencyKey);
  if (!keyResult.success) throw fromZodError(keyResult.error, ["idempotency_key"]);
  const labels = validateLabels(request.labels);
  const resources = validateResources(request.resources, handler.defaultResources);

  const timeoutMs = durationToMs(request.timeout, "timeout") ?? handler.defaultTimeoutMs;
  if (timeoutMs <= 0) throw ApiError.invalid("timeout", "must be positive");
  if (timeoutMs > handler.maxTimeoutMs) throw ApiError.invalid("timeout", `must be at most ${handler.maxTimeoutMs / 1000}s for ${type} jobs`);

  const requestedAttempts = request.retryPolicy?.maxAttempts ?? 0;
  if (requestedAttempts < 0 || requestedAttempts > MAX_ATTEMPTS_LIMIT) {
    throw ApiError.invalid("retry_policy.max_attempts", `must be between 1 and ${MAX_ATTEMPTS_LIMIT} (0 for the type's default)`);
  }
  const maxAttempts = requestedAttempts || handler.defaultMaxAttempts;

  if (!Number.isInteger(request.priority) || Math.abs(request.priority) > PRIORITY_LIMIT) {
    throw ApiError.invalid("priority", `must be between -${PRIORITY_LIMIT} and ${PRIORITY_LIMIT}`);
  }
  const keyCheck = concurrencyKey.safeParse(request.concurrencyKey);
  if (!keyCheck.success) throw fromZodError(keyCheck.error, ["concurrency_key"]);
  const runAt = request.runAt ? request.runAt.getTime() : null;
  if (runAt !== null && !Number.isFinite(runAt)) throw ApiError.invalid("run_at", "is not a valid timestamp");
  if (runAt !== null && horizon && runAt > horizon.now + horizon.maxMs) {
    throw ApiError.invalid("run_at", `must be at most ${formatMs(horizon.maxMs)} from now (MAX_SCHEDULE_HORIZON)`);
  }
  const queueTimeoutMs = durationToMs(request.queueTimeout, "queue_timeout") ?? null;
  if (queueTimeoutMs !== null && queueTimeoutMs > MAX_QUEUE_TIMEOUT_MS) {
    throw ApiError.invalid("queue_timeout", `must be at most ${formatMs(MAX_QUEUE_TIMEOUT_MS)}`);
  }
  const retryPolicy = validateRetryPolicy(request.retryPolicy);

  const team = validateTeam(request);
  const criteriaType = criteriaTypeName(request.criteriaType);
  if (criteriaType && !team) throw ApiError.invalid("team", "is required when criteria_type is set");

  const specJson = (ScheduleJobRequestCodec.toJSON(request) as Record<string, unknown>)[member] ?? {};
  const paramsResult = handler.paramsSchema.safeParse(specJson);
  if (!paramsResult.success) throw fromZodError(paramsResult.error, [type]);
  const params = paramsResult.data;

  const jobName = nameResult.data || type;
  const requestHash = createHash("sha256")
    .update(canonicalJson({
      type, name: jobName, labels, resources, timeoutMs, maxAttempts, params, priority: request.priority,
      concurrencyKey: request.concurrencyKey, runAt, queueTimeoutMs, retryPolicy, team, criteriaType,
    }))
    .digest("base64url");
  return {
    handler,
    team,
    criteriaType,
    priority: request.priority,
    concurrencyKey: keyCheck.data || handler.defaultConcurrencyKey?.(params) || null,
    runAt,
    queueTimeoutMs: queueTimeoutMs || null,
    retryPolicy,
    name: jobName,
    idempotencyKey: keyResult.data || null,
    labels,
    resources,
    timeoutMs,
    maxAttempts,
    params,
    requestHash,
  };
}
