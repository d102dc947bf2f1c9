import { createHash } from "node:crypto";
import type { JobHandler } from "../jobs/handler.js";
import { isInfrastructureFailure } from "../jobs/infrastructure-failure.js";
import type { JobRecord, RetryPolicy } from "../jobs/job.js";
import type { RunEnd } from "../runtime/runtime.js";

export { DEFAULT_RETRY_POLICY } from "../jobs/job.js";

export function isRetryable(handler: JobHandler | undefined, end: RunEnd, policy: RetryPolicy): boolean {
  return handler?.isRetryable ? handler.isRetryable(end, policy) : isInfrastructureFailure(end, policy);
}

/**
 * Delay before attempt `nextAttempt` (2, 3, ...): exponential, capped, spread by
 * jitter. The spread is derived from the job id and attempt, so it is stable
 * across restarts and differs between jobs of a burst.
 */
export function backoffMs(job: Pick<JobRecord, "id" | "retryPolicy">, nextAttempt: number): number {
  const { initialBackoffMs, multiplier, maxBackoffMs, jitter } = job.retryPolicy;
  const base = Math.min(maxBackoffMs, initialBackoffMs * multiplier ** Math.max(0, nextAttempt - 2));
  const spread = stableFraction(`${job.id}/${nextAttempt}`) * 2 - 1;
  return Math.max(0, Math.round(Math.min(maxBackoffMs, base * (1 + jitter * spread))));
}

/** A number in [0, 1) that depends only on `seed`. */
export function stableFraction(seed: string): number {
  return createHash("sha256").update(seed).digest().readUInt32BE(0) / 2 ** 32;
}

/** Exponential back-off with jitter: initial * 2^(n-1), capped, spread by +-jitter. */
export function exponentialBackoffMs(n: number, initialMs: number, maxMs: number, jitter: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, n - 1));
  return Math.max(0, Math.round(Math.min(maxMs, base * (1 + jitter * (random() * 2 - 1)))));
}
