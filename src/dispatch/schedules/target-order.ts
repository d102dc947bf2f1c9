// The order a fire's jobs are created in, which is the order they are dispatched in (FIFO within a
// priority). A fire with many targets under a concurrency limit ends when its slowest job ends, so
// the targets that ran long last time (a team app that hung until the timeout) must start early:
// their waits then overlap the rest of the fire instead of trailing it. Starting them all first
// (longest processing time first) does that, but ~25 hanging apps then fill every slot of a 16-wide
// round for a whole timeout while nothing reports. So the order alternates: the shortest left, then
// the longest left, and so on. Every job starts at most about twice as late (in positions) as
// longest-first would start it, so the long waits still overlap the round, while the short jobs
// between them end and report from its first moments. No threshold says what "long" is, so noise in
// short durations cannot move a long job back. (The simulation in test/target-order.test.ts
// compares makespan and time to the first completion at several widths.)
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

/**
 * Targets in dispatch order: alternately the shortest and the longest of those left, by each one's
 * last duration (a target without history counts as the longest: it may hang); ties in the order
 * given. Without any history the order given is kept.
 */
export function alternateShortLong<T extends { key: string }>(targets: readonly T[], durations: ReadonlyMap<string, number>): T[] {
  if (!targets.some((t) => durations.has(t.key))) return [...targets];
  const expected = (target: T) => durations.get(target.key) ?? Number.POSITIVE_INFINITY;
  const ascending = targets
    .map((target, index) => ({ target, index, expected: expected(target) }))
    .sort((a, b) => (a.expected === b.expected ? a.index - b.index : a.expected < b.expected ? -1 : 1))
    .map(({ target }) => target);
  const order: T[] = [];
  for (let short = 0, long = ascending.length - 1; short <= long; ) {
    order.push(ascending[short++]!);
    if (short <= long) order.push(ascending[long--]!);
  }
  return order;
}
