import { z } from "zod";
import type { JobRecord } from "../jobs/job.js";
import { text } from "../jobs/text-field.js";
import type { ActiveCounts } from "../store/admission-queries.js";

export { emptyCounts, type ActiveCounts } from "../store/admission-queries.js";

// The bounds of every limit, in one place: the API checks a request with these schemas (naming
// the field), and LimitsStore checks what it stores and loads with them.
export const MAX_LIMIT = 1_000_000;
export const MAX_LIMIT_ENTRIES = 1000;

/** One limit: how many jobs at once. */
export const limitCount = z
  .number({ error: `must be a whole number from 1 to ${MAX_LIMIT}` })
  .int(`must be a whole number from 1 to ${MAX_LIMIT}`)
  .min(1, `must be a whole number from 1 to ${MAX_LIMIT}`)
  .max(MAX_LIMIT, `must be a whole number from 1 to ${MAX_LIMIT}`);

/** A job type or concurrency key a limit applies to (as concurrency keys are written). */
export const limitKey = text({ max: 253 })
  .min(1, "must not be empty")
  .regex(/^[\x21-\x7e]+$/, "may hold printable ASCII without spaces only");

const limitMap = z
  .record(limitKey, limitCount)
  .refine((map) => Object.keys(map).length <= MAX_LIMIT_ENTRIES, `at most ${MAX_LIMIT_ENTRIES} entries`);

export const dispatchLimitsSchema = z.object({
  maxRunning: limitCount,
  maxRunningPerType: limitMap,
  maxRunningPerKey: limitCount,
  maxRunningPerKeyOverrides: limitMap,
});

export type DispatchLimits = z.infer<typeof dispatchLimitsSchema>;

export type WaitingReason =
  | "DELAYED" | "RETRY_BACKOFF" | "DISPATCH_PAUSED" | "GLOBAL_LIMIT" | "TYPE_LIMIT"
  | "CONCURRENCY_KEY_LIMIT" | "EXCLUSIVE_GROUP" | "WAITING_TURN";

export interface Blocker {
  reason: WaitingReason;
  message: string;
}

type Admissible = Pick<JobRecord, "type" | "concurrencyKey" | "exclusiveGroup">;

/** Which limit, if any, keeps this job from starting now. */
export function admissionBlocker(job: Admissible, counts: ActiveCounts, limits: DispatchLimits): Blocker | null {
  if (counts.total >= limits.maxRunning) {
    return { reason: "GLOBAL_LIMIT", message: `${counts.total} of at most ${limits.maxRunning} jobs are running` };
  }
  const typeLimit = limits.maxRunningPerType[job.type];
  const ofType = counts.byType.get(job.type) ?? 0;
  if (typeLimit !== undefined && ofType >= typeLimit) {
    return { reason: "TYPE_LIMIT", message: `${ofType} of at most ${typeLimit} ${job.type} jobs are running` };
  }
  if (job.concurrencyKey !== null) {
    const keyLimit = limits.maxRunningPerKeyOverrides[job.concurrencyKey] ?? limits.maxRunningPerKey;
    const ofKey = counts.byKey.get(job.concurrencyKey) ?? 0;
    if (ofKey >= keyLimit) {
      return { reason: "CONCURRENCY_KEY_LIMIT", message: `${ofKey} of at most ${keyLimit} jobs with concurrency key "${job.concurrencyKey}" are running` };
    }
  }
  if (job.exclusiveGroup !== null && (counts.byGroup.get(job.exclusiveGroup) ?? 0) > 0) {
    return { reason: "EXCLUSIVE_GROUP", message: `waiting for the previous run of ${job.exclusiveGroup} to end` };
  }
  return null;
}

export function countAdmitted(job: Admissible, counts: ActiveCounts): void {
  counts.total++;
  counts.byType.set(job.type, (counts.byType.get(job.type) ?? 0) + 1);
  if (job.concurrencyKey !== null) counts.byKey.set(job.concurrencyKey, (counts.byKey.get(job.concurrencyKey) ?? 0) + 1);
  if (job.exclusiveGroup !== null) counts.byGroup.set(job.exclusiveGroup, (counts.byGroup.get(job.exclusiveGroup) ?? 0) + 1);
}

/** "k6=2,http_check=20" → {k6: 2, http_check: 20} */
export function parseLimitList(text: string): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const item of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const match = /^([^=\s]+)\s*=\s*(\d+)$/.exec(item);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > MAX_LIMIT) throw new Error(`"${item}" is not name=limit with a limit from 1 to ${MAX_LIMIT}`);
    limits[match[1]] = Number(match[2]);
  }
  return limits;
}
