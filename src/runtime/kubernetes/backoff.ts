// Back-off between retries: exponential with jitter, and a failure counter that forgets. A
// reconnect loop (the tracker's list+watch) that only ever counted up would, behind a proxy that
// resets connections every few seconds, end up waiting its cap after every reset. As client-go's
// reflector does, the count starts over after a healthy period: a watch that stayed open long
// enough (`reset()`), or no failure for `resetAfterMs` (its backoff manager's resetDuration).

/** Exponential back-off with jitter: between half and all of base × 2^(failures−1), capped. */
export function backoffDelay(failures: number, baseMs = 100, capMs = 5000, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, failures - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  /** A failure this long after the previous one starts the count over. */
  resetAfterMs: number;
  now?: () => number;
  random?: () => number;
}

export class Backoff {
  private count = 0;
  private lastFailureAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly options: BackoffOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  /** Failures counted since the last healthy period. */
  get failures(): number {
    return this.count;
  }

  /** Counts a failure; returns how long to wait before trying again. */
  failure(): number {
    const now = this.now();
    if (now - this.lastFailureAt >= this.options.resetAfterMs) this.count = 0;
    this.count++;
    this.lastFailureAt = now;
    return backoffDelay(this.count, this.options.baseMs, this.options.capMs, this.options.random);
  }

  /** A healthy period: the next failure waits the base delay again. */
  reset(): void {
    this.count = 0;
  }
}
