import { z } from "zod";
import type { JobRecord } from "../jobs/job.js";

const count = z.number().int().min(1).max(1_000_000);

export const dispatchLimitsSchema = z.object({
  maxRunning: count,
  maxRunningPerType: z.record(z.string().min(1), count),
  maxRunningPerKey: count,
  maxRunningPerKeyOverrides: z.record(z.string().min(1), count),
});

export type DispatchLimits = z.infer<typeof dispatchLimitsSchema>;

/** Jobs STARTING or RUNNING, counted the ways the limits need. */
export interface ActiveCounts {
  total: number;
  byType: Map<string, number>;
  byKey: Map<string, number>;
  byGroup: Map<string, number>;
}

export type WaitingReason =
  | "DELAYED" | "RETRY_BACKOFF" | "DISPATCH_PAUSED" | "GLOBAL_LIMIT" | "TYPE_LIMIT"
  | "CONCURRENCY_KEY_LIMIT" | "EXCLUSIVE_GROUP" | "WAITING_TURN";

export interface Blocker {
  reason: WaitingReason;
  message: string;
}

export function emptyCounts(): ActiveCounts {
  return { total: 0, byType: new Map(), byKey: new Map(), byGroup: new Map() };
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
    if (!match || Number(match[2]) < 1) throw new Error(`"${item}" is not name=limit with a limit of at least 1`);
    limits[match[1]] = Number(match[2]);
  }
  return limits;
}
