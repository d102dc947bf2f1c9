// The client-side rate limit in front of every Kubernetes API call: a token bucket (QPS with a
// burst), written as GCRA so a caller learns at once how long it must wait and callers are served
// in the order they asked, like client-go's token bucket limiter.

export type Clock = () => number;

export class TokenBucket {
  /** Milliseconds between two tokens. */
  private readonly interval: number;
  /** How far ahead of the steady rate a burst may run. */
  private readonly tolerance: number;
  /** The theoretical time the next call would be due at the steady rate. */
  private due: number;

  constructor(
    readonly qps: number,
    readonly burst: number,
    private readonly now: Clock = () => performance.now(),
  ) {
    if (!(qps > 0)) throw new Error(`rate limit QPS must be positive (got ${qps})`);
    if (!(burst >= 1)) throw new Error(`rate limit burst must be at least 1 (got ${burst})`);
    this.interval = 1000 / qps;
    this.tolerance = (Math.floor(burst) - 1) * this.interval;
    this.due = this.now();
  }

  /** Reserves the next slot and returns how many milliseconds the caller must wait for it. */
  reserve(): number {
    const now = this.now();
    const due = Math.max(this.due, now);
    this.due = due + this.interval;
    return Math.max(0, due - this.tolerance - now);
  }

  /** Resolves when the caller may make its call. */
  async take(): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }

  /** Holds every later call for `ms` (the server said Retry-After), then resumes at the steady rate, without a burst. */
  pause(ms: number): void {
    this.due = Math.max(this.due, this.now() + ms + this.tolerance);
  }
}
