// The client-side rate limit in front of every Kubernetes API call: a token bucket holding at most
// `burst` tokens, refilled at `qps` per second. A token is handed out only when it exists at the
// moment the caller is released, so a stalled event loop never turns into a burst larger than
// `burst` at the API server.
//
// Callers wait in two queues, each in arrival order: "high" (launches, cancels, watches, lists:
// what starts and stops runs and keeps the caches current) before "low" (log reads for output
// tails, which only decorate an end, and deletes of finished Jobs, which only tidy up). A low caller that has waited `lowMaxWaitMs` goes first, so
// a long stream of launches delays log reads but never starves them.

export type Clock = () => number;
export type Priority = "high" | "low";

interface Waiter {
  release: () => void;
  since: number;
}

/** How long a low-priority caller may be passed over before it goes first. */
export const LOW_PRIORITY_MAX_WAIT_MS = 3000;

export class TokenBucket {
  private tokens: number;
  /** Tokens are counted up to this time; a pause moves it into the future. */
  private updatedAt: number;
  private readonly high: Waiter[] = [];
  private readonly low: Waiter[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    readonly qps: number,
    readonly burst: number,
    private readonly now: Clock = () => performance.now(),
    private readonly lowMaxWaitMs = LOW_PRIORITY_MAX_WAIT_MS,
  ) {
    if (!(qps > 0)) throw new Error(`rate limit QPS must be positive (got ${qps})`);
    if (!(burst >= 1)) throw new Error(`rate limit burst must be at least 1 (got ${burst})`);
    this.burst = Math.floor(burst);
    this.tokens = this.burst;
    this.updatedAt = this.now();
  }

  /** Callers waiting for a token. */
  get waiting(): number {
    return this.high.length + this.low.length;
  }

  /** Resolves when the caller may make its call. */
  take(priority: Priority = "high"): Promise<void> {
    this.refill();
    if (this.waiting === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise((release) => {
      (priority === "low" ? this.low : this.high).push({ release, since: this.now() });
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
    if (this.timer || this.waiting === 0) return;
    this.refill();
    const now = this.now();
    const wait = Math.max(0, this.updatedAt - now) + (this.tokens >= 1 ? 0 : ((1 - this.tokens) * 1000) / this.qps);
    this.timer = setTimeout(() => this.release(), Math.max(0, wait));
  }

  /** The next caller: high first, unless the oldest low one has waited too long. */
  private next(): Waiter | undefined {
    const low = this.low[0];
    if (low && (this.high.length === 0 || this.now() - low.since >= this.lowMaxWaitMs)) return this.low.shift();
    return this.high.shift();
  }

  private release(): void {
    this.timer = undefined;
    this.refill();
    while (this.waiting > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.next()!.release();
    }
    this.arm();
  }
}
