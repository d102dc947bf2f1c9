// Completion callbacks as outbox rows (kind "callback", src/store/outbox-queries.ts): how a job's
// callback becomes a row, and what one POST's outcome means for it. The state machine is the
// criteria outbox's (src/hub/outbox.ts), without supersession (each job has its own row):
//   PENDING --2xx--> DELIVERED
//   PENDING --network error, timeout, 408, 429, 5xx--> PENDING after a back-off (never parked)
//   PENDING --other 4xx, maxRejections times--> PARKED  (ResendOutbox puts it back)
//   PENDING --URL refused by the egress policy (nothing sent)--> PARKED at once
import type { OutboxInsert, OutboxItemRecord, OutboxUpdate } from "../store/outbox-queries.js";

/** The source key is the Idempotency-Key the receiver gets with every delivery of this callback. */
export function callbackKey(jobId: string): string {
  return `callback:${jobId}`;
}

export function callbackOutboxItem(jobId: string, callback: { url: string; body: Record<string, unknown> }, at: number): OutboxInsert {
  return {
    kind: "callback",
    sourceKey: callbackKey(jobId),
    targetUrl: callback.url,
    metrics: callback.body,
    teamSlug: "",
    hackathonId: "",
    criteriaType: "",
    status: "",
    score: 0,
    jobId,
    createdAt: at,
  };
}

export type CallbackOutcome =
  | { kind: "answered"; status: number }
  | { kind: "unreachable"; message: string }
  /** The egress policy refused the URL's address: nothing was sent, and trying again changes nothing. */
  | { kind: "blocked"; message: string };

export interface CallbackPolicy {
  maxRejections: number;
  /** The delay before try n + 1 after n failed ones. */
  retryDelayMs(failures: number): number;
}

export function settleCallback(item: OutboxItemRecord, outcome: CallbackOutcome, now: number, policy: CallbackPolicy): OutboxUpdate {
  const attempts = item.attempts + 1;
  const base: OutboxUpdate = {
    id: item.id, state: "PENDING", attempts, rejections: item.rejections, lastError: "", nextAttemptAt: now, deliveredAt: null,
  };
  if (outcome.kind === "answered" && outcome.status >= 200 && outcome.status < 300) return { ...base, state: "DELIVERED", deliveredAt: now };
  if (outcome.kind === "blocked") return { ...base, state: "PARKED", lastError: `not sent: ${outcome.message}` };
  const lastError = outcome.kind === "answered" ? `the receiver answered HTTP ${outcome.status}` : outcome.message;
  const refused = outcome.kind === "answered" && outcome.status >= 400 && outcome.status < 500 && outcome.status !== 408 && outcome.status !== 429;
  if (!refused) return { ...base, lastError, nextAttemptAt: now + policy.retryDelayMs(attempts) };
  const rejections = item.rejections + 1;
  if (rejections >= policy.maxRejections) {
    return { ...base, state: "PARKED", rejections, lastError: `refused ${rejections} times; last: ${lastError}` };
  }
  return { ...base, rejections, lastError, nextAttemptAt: now + policy.retryDelayMs(attempts) };
}
