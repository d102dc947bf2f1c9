// The order a fire's jobs are created in, which is the order they are dispatched in (FIFO within a
// priority). A fire with many targets under a concurrency limit ends when its slowest job ends, so
// the targets that ran long last time (a team app that hung until the timeout) must start early:
// their waits then overlap the rest of the fire instead of trailing it. Starting them all first
// (longest processing time first) does that, but ~25 hanging apps then fill every slot of a 16-wide
// round for a whole timeout while nothing reports. So the long ones are interleaved with the short
// ones, one short job before each long one: at any width the long jobs still all start within the
// first 2 x (their number) positions, about as early as longest-first starts them, and the short
// jobs between them end and report from the first moments of the round. (The simulation in
// test/target-order.test.ts compares makespan and time to the first completion at several widths.)
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

/** A target is long when its last run took more than this many times the fire's median run. */
export const LONG_FACTOR = 2;

/**
 * Targets in dispatch order: the long ones (more than LONG_FACTOR x the median of the known durations,
 * or without history while others have one) longest first, each preceded by one short one; the
 * short ones in the order given. Without any history the order given is kept.
 */
export function interleaveLong(targets: readonly FireTarget[], durations: ReadonlyMap<string, number>): FireTarget[] {
  const known = targets.map((t) => durations.get(t.key)).filter((d): d is number => d !== undefined).sort((a, b) => a - b);
  if (known.length === 0) return [...targets];
  const threshold = LONG_FACTOR * known[Math.floor((known.length - 1) / 2)]!;
  const expected = (target: FireTarget) => durations.get(target.key) ?? Number.POSITIVE_INFINITY;
  const long = targets
    .map((target, index) => ({ target, index, expected: expected(target) }))
    .filter(({ expected }) => expected > threshold)
    .sort((a, b) => (a.expected === b.expected ? a.index - b.index : b.expected > a.expected ? 1 : -1))
    .map(({ target }) => target);
  const isLong = new Set(long);
  const short = targets.filter((t) => !isLong.has(t));
  const order: FireTarget[] = [];
  let next = 0;
  for (const target of long) {
    if (next < short.length) order.push(short[next++]!);
    order.push(target);
  }
  return order.concat(short.slice(next));
}
