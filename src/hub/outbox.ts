// The criteria outbox: how a job's end becomes an outbox row, and the pure decisions the
// delivery worker (delivery.ts) makes about a batch. Rows live in the store (migration 5);
// the state machine is
//   PENDING --200--> DELIVERED
//   PENDING --200 with a per-item error ("Team not found", "Hackathon ID mismatch")--> PARKED
//   PENDING --500 or 4xx, HUB_MAX_REJECTIONS times--> PARKED
//   PENDING --a newer report for the same (team, hackathon, criteria)--> SUPERSEDED
//   PARKED  --ResendOutbox--> PENDING
// Outages (network errors, timeouts, 502/503/504) never park anything: the worker backs off.
import type { CriteriaReporter } from "../dispatch/lifecycle.js";
import type { JobRecord } from "../jobs/job.js";
import type { OutboxInsert, OutboxItemRecord, OutboxUpdate } from "../store/outbox-queries.js";
import { isCriteriaType, type CriteriaReport, type CriteriaStatus, type CriteriaTypeName, type CriteriaUpdate } from "./criteria.js";
import { evaluate, type CriteriaSettings } from "./evaluator.js";
import type { BulkCriteriaResponse, HubErrorKind } from "./hub-client.js";

/** The reporter the job lifecycle calls when a team-bound job ends (same transaction as the end). */
export function criteriaReporter(settings: CriteriaSettings): CriteriaReporter {
  return (job, end) => {
    if (!job.team || !job.criteriaType || !isCriteriaType(job.criteriaType)) return null;
    const report = evaluate(
      { criteriaType: job.criteriaType, jobType: job.type, state: end.state, reason: end.reason, result: end.result, params: job.params },
      settings,
    );
    return report ? outboxInsert(`job:${job.id}`, job.team, job.criteriaType, report, end.at, job.id) : null;
  };
}

export function outboxInsert(
  sourceKey: string, team: NonNullable<JobRecord["team"]>, criteriaType: CriteriaTypeName, report: CriteriaReport, at: number, jobId: string | null = null,
): OutboxInsert {
  return {
    sourceKey,
    teamSlug: team.slug,
    hackathonId: team.hackathonId,
    criteriaType,
    status: report.status,
    score: report.score,
    metrics: { ...report.metrics, lastChecked: new Date(at).toISOString() },
    jobId,
    createdAt: at,
  };
}

export function toCriteriaUpdate(item: OutboxItemRecord, updatedBy: string): CriteriaUpdate {
  return {
    teamSlug: item.teamSlug,
    hackathonId: item.hackathonId,
    criteriaType: item.criteriaType as CriteriaTypeName,
    status: item.status as CriteriaStatus,
    score: Math.max(0, Math.round(item.score)),
    metrics: item.metrics,
    updatedBy,
  };
}

export interface BatchPolicy {
  batchSize: number;
  maxRejections: number;
}

/**
 * From claimed items (fewest rejections first), the ones to send now: at most one per
 * (team, criteria) so the Hub's per-item errors name one item, and a batch that shrinks with
 * the rejections its items have had, reaching a single item at the last attempt before
 * parking, so one poison item cannot park its neighbours.
 */
export function planBatch(claimed: OutboxItemRecord[], policy: BatchPolicy): { send: OutboxItemRecord[]; release: OutboxItemRecord[] } {
  if (claimed.length === 0) return { send: [], release: [] };
  const rejections = claimed[0].rejections;
  const size = batchSizeAfter(rejections, policy);
  const send: OutboxItemRecord[] = [];
  const release: OutboxItemRecord[] = [];
  const seen = new Set<string>();
  for (const item of claimed) {
    const key = `${item.teamSlug}\u0000${item.criteriaType}`;
    if (send.length < size && item.rejections === rejections && !seen.has(key)) {
      seen.add(key);
      send.push(item);
    } else {
      release.push(item);
    }
  }
  return { send, release };
}

export function batchSizeAfter(rejections: number, policy: BatchPolicy): number {
  if (rejections <= 0) return policy.batchSize;
  const lastTry = Math.max(1, policy.maxRejections - 1);
  if (rejections >= lastTry) return 1;
  return Math.max(1, Math.floor(policy.batchSize ** (1 - rejections / lastTry)));
}

export type DeliveryOutcome =
  | { kind: "ok"; response: BulkCriteriaResponse }
  | { kind: HubErrorKind; message: string };

export interface SettlePolicy {
  maxRejections: number;
  /** Delay before an item the Hub rejected is tried again, by its rejection count. */
  rejectionDelayMs(rejections: number): number;
}

/** What one POST's outcome means for each item it carried. */
export function settleBatch(items: OutboxItemRecord[], outcome: DeliveryOutcome, now: number, policy: SettlePolicy): OutboxUpdate[] {
  const base = (item: OutboxItemRecord): OutboxUpdate => ({
    id: item.id, state: item.state, attempts: item.attempts, rejections: item.rejections,
    lastError: item.lastError, nextAttemptAt: now, deliveredAt: item.deliveredAt,
  });
  switch (outcome.kind) {
    case "ok": {
      const errors = new Map<string, string>();
      for (const e of outcome.response.errors ?? []) errors.set(`${e.teamSlug}\u0000${e.criteriaType}`, e.error);
      return items.map((item) => {
        const error = errors.get(`${item.teamSlug}\u0000${item.criteriaType}`);
        return error === undefined
          ? { ...base(item), state: "DELIVERED", attempts: item.attempts + 1, lastError: "", deliveredAt: now }
          : { ...base(item), state: "PARKED", attempts: item.attempts + 1, lastError: `the Hub refused this item: ${error}` };
      });
    }
    case "rejected":
    case "protocol":
      return items.map((item) => {
        const rejections = item.rejections + 1;
        const parked = rejections >= policy.maxRejections;
        return {
          ...base(item),
          state: parked ? "PARKED" : "PENDING",
          attempts: item.attempts + 1,
          rejections,
          lastError: parked ? `the Hub rejected this item ${rejections} times; last: ${outcome.message}` : outcome.message,
          nextAttemptAt: parked ? now : now + policy.rejectionDelayMs(rejections),
        };
      });
    case "unavailable":
      return items.map((item) => ({ ...base(item), attempts: item.attempts + 1, lastError: outcome.message }));
    case "auth":
      // A configuration error, not the items' fault: they wait, untouched, for a working key.
      return items.map((item) => ({ ...base(item), lastError: outcome.message }));
  }
}

/** Items taken by a claim but not sent: back in line at once. */
export function releaseItems(items: OutboxItemRecord[], now: number): OutboxUpdate[] {
  return items.map((item) => ({
    id: item.id, state: item.state, attempts: item.attempts, rejections: item.rejections,
    lastError: item.lastError, nextAttemptAt: now, deliveredAt: item.deliveredAt,
  }));
}
