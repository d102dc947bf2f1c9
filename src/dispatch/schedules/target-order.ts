// The order a fire's jobs are created in, which is the order they are dispatched in (FIFO within a
// priority). A fire with many targets under a concurrency limit ends when its slowest job ends;
// starting the targets that ran longest last time first (longest processing time first) lets
// their waits overlap the rest of the fire instead of trailing it: a team app that hung until the
// timeout in the last round starts at the head of the next one. Targets with no history go first
// too (they may be slow); ties keep the order the targets came in.
import type { FireTarget } from "./fire-targets.js";

/** The target key of a schedule job's idempotency key (fireKey's last part), or null for another schedule's. */
export function fireTargetKey(idempotencyKey: string, scheduleId: string): string | null {
  const prefix = `schedule:${scheduleId}:`;
  if (!idempotencyKey.startsWith(prefix)) return null;
  // "<ISO fire time>" or "<ISO fire time>:<target key>"; toISOString() is 24 characters.
  const rest = idempotencyKey.slice(prefix.length);
  return rest.length > 25 && rest[24] === ":" ? rest.slice(25) : "";
}

/** Each target key's latest duration, from runs listed newest first. */
export function lastDurations(runs: readonly { idempotencyKey: string | null; durationMs: number }[], scheduleId: string): Map<string, number> {
  const durations = new Map<string, number>();
  for (const run of runs) {
    const key = run.idempotencyKey === null ? null : fireTargetKey(run.idempotencyKey, scheduleId);
    if (key !== null && !durations.has(key)) durations.set(key, run.durationMs);
  }
  return durations;
}

/** Targets longest expected run first; unknown ones before known ones; stable otherwise. */
export function longestFirst(targets: readonly FireTarget[], durations: ReadonlyMap<string, number>): FireTarget[] {
  const expected = (target: FireTarget) => durations.get(target.key) ?? Number.POSITIVE_INFINITY;
  return targets
    .map((target, index) => ({ target, index, expected: expected(target) }))
    .sort((a, b) => (a.expected === b.expected ? a.index - b.index : b.expected > a.expected ? 1 : -1))
    .map(({ target }) => target);
}
