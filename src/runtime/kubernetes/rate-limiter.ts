// The client-side rate limit in front of every Kubernetes API call: a token bucket holding at most
// `burst` tokens, refilled at `qps` per second. Callers wait in arrival order; a token is handed
// out only when it exists at the moment the caller is released, so a stalled event loop never
// turns into a burst larger than `burst` at the API server.

export type Clock = () => number;

export class TokenBucket {
  private tokens: number;
  /** Tokens are counted up to this time; a pause moves it into the future. */
  private updatedAt: number;
  private readonly waiters: Array<() => void> = [];
  private timer?: NodeJS.Timeout;

  constructor(
    readonly qps: number,
    readonly burst: number,
    private readonly now: Clock = () => performance.now(),
  ) {
    if (!(qps > 0)) throw new Error(`rate limit QPS must be positive (got ${qps})`);
    if (!(burst >= 1)) throw new Error(`rate limit burst must be at least 1 (got ${burst})`);
    this.burst = Math.floor(burst);
    this.tokens = this.burst;
    this.updatedAt = this.now();
  }

  /** Callers waiting for a token. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves when the caller may make its call. */
  take(): Promise<void> {
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.arm();
    });
  }

  /** No token for `ms` (the server said Retry-After); then the steady rate, with no burst saved up. */
  pause(ms: number): void {
    const until = this.now() + ms;
    if (until <= this.updatedAt) return;
    this.refill();
    this.tokens = 0;
    this.updatedAt = until;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.arm();
    }
  }

  private refill(): void {
    const now = this.now();
    if (now <= this.updatedAt) return;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) * this.qps) / 1000);
    this.updatedAt = now;
  }

  private arm(): void {
    if (this.timer || this.waiters.length === 0) return;
    this.refill();
    const now = this.now();
    const wait = Math.max(0, this.updatedAt - now) + (this.tokens >= 1 ? 0 : ((1 - this.tokens) * 1000) / this.qps);
    this.timer = setTimeout(() => this.release(), Math.max(0, wait));
  }

  private release(): void {
    this.timer = undefined;
    this.refill();
    while (this.waiters.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.waiters.shift()!();
    }
    this.arm();
  }
}
