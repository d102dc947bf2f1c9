// What a loaded API server does to every request, on by default (a quiet server is an opt-out):
// - latency: each answer takes a few milliseconds; pods/log tens (kube-apiserver proxies it to
//   the node's kubelet);
// - flow control, as API Priority and Fairness does for a client past its share: a request
//   over the configured rate is answered 429 TooManyRequests with Retry-After, whatever its verb
//   (watch opens and pods/log included). system:masters is exempt, as in the `exempt` priority
//   level, so a test's own admin calls never take the service's share.

export interface Latency {
  /** Real milliseconds before any request is answered. */
  requestMs: number;
  /** Before a pods/log request is answered (instead of requestMs). */
  logMs: number;
}

export interface FlowControlSettings {
  /** Requests per second the server admits from one user... */
  qps: number;
  /** ...with at most this many at once. */
  burst: number;
  /** What a refused request is told to wait. */
  retryAfterSeconds: number;
}

export const DEFAULT_LATENCY: Latency = { requestMs: 2, logMs: 20 };
export const DEFAULT_FLOW_CONTROL: FlowControlSettings = { qps: 100, burst: 200, retryAfterSeconds: 1 };
/** How long a proxy in front of the server lets a watch connection live before resetting it. */
export const DEFAULT_WATCH_RESET_MS = 5000;

export function latencyFor(latency: Latency | undefined, subresource: string | undefined): number {
  if (!latency) return 0;
  return subresource === "log" ? latency.logMs : latency.requestMs;
}

/** A token bucket per user: what the server admits, and how many it refused. */
export class FlowControl {
  private settings: FlowControlSettings;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  /** Requests answered 429 so far. */
  rejected = 0;

  constructor(settings: FlowControlSettings) {
    this.settings = { ...settings };
  }

  get current(): FlowControlSettings {
    return { ...this.settings };
  }

  /** Changes the limit for the rest of the test (the buckets start full again). */
  configure(settings: Partial<FlowControlSettings>): void {
    this.settings = { ...this.settings, ...settings };
    this.buckets.clear();
  }

  /** Seconds to tell the client to wait, or undefined when the request is admitted. */
  admit(user: string, now = performance.now()): number | undefined {
    const { qps, burst, retryAfterSeconds } = this.settings;
    let bucket = this.buckets.get(user);
    if (!bucket) {
      bucket = { tokens: burst, at: now };
      this.buckets.set(user, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * qps) / 1000);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    this.rejected++;
    return retryAfterSeconds;
  }
}
