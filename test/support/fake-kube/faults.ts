// Fault injection: slow answers, error responses (500s, 429 with Retry-After), expired watches.
import { ApiError, injected, tooManyRequests } from "./status.js";

/** Which requests a fault applies to; every given field must match. */
export interface RequestMatch {
  verb?: string | string[];
  /** Plural resource, optionally with subresource: "jobs", "pods/log". */
  resource?: string;
  namespace?: string;
  name?: string;
}

export interface RequestFacts {
  verb: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface FaultHandle {
  /** Stops this fault. */
  remove(): void;
}

interface Rule {
  match?: RequestMatch;
  /** How many more requests it applies to (Infinity: until removed). */
  remaining: number;
  delayMs?: number;
  percent?: number;
  error: () => ApiError | undefined;
}

function matches(match: RequestMatch | undefined, req: RequestFacts): boolean {
  if (!match) return true;
  if (match.verb !== undefined) {
    const verbs = Array.isArray(match.verb) ? match.verb : [match.verb];
    if (!verbs.includes(req.verb)) return false;
  }
  if (match.resource !== undefined) {
    const resource = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
    if (resource !== match.resource) return false;
  }
  if (match.namespace !== undefined && match.namespace !== req.namespace) return false;
  if (match.name !== undefined && match.name !== req.name) return false;
  return true;
}

export interface FaultDecision {
  delayMs: number;
  error?: ApiError;
}

export class Faults {
  private rules: Rule[] = [];
  private expiredWatches: Array<"event" | "response"> = [];

  constructor(private readonly random: () => number) {}

  /** Answers matching requests only after ms milliseconds. */
  delay(ms: number, match?: RequestMatch): FaultHandle {
    return this.add({ match, remaining: Infinity, delayMs: ms, error: () => undefined });
  }

  /** Answers the next `count` matching requests only after ms milliseconds (a create stuck behind a slow etcd write). */
  delayNext(count: number, ms: number, match?: RequestMatch): FaultHandle {
    return this.add({ match, remaining: count, delayMs: ms, error: () => undefined });
  }

  /** Fails the given percentage (0–100) of matching requests with the code (default 500 InternalError). */
  errorRate(percent: number, opts: { code?: number; match?: RequestMatch } = {}): FaultHandle {
    const code = opts.code ?? 500;
    return this.add({ match: opts.match, remaining: Infinity, percent, error: () => injected(code, "fake-kube injected fault") });
  }

  /** Fails the next `count` matching requests with the code (default 500). */
  failNext(count: number, opts: { code?: number; match?: RequestMatch } = {}): FaultHandle {
    const code = opts.code ?? 500;
    return this.add({ match: opts.match, remaining: count, error: () => injected(code, "fake-kube injected fault") });
  }

  /** Answers matching requests 429 TooManyRequests with `Retry-After: retryAfterSeconds` (the next `count`, default all). */
  throttle(retryAfterSeconds: number, opts: { count?: number; match?: RequestMatch } = {}): FaultHandle {
    return this.add({ match: opts.match, remaining: opts.count ?? Infinity, error: () => tooManyRequests(retryAfterSeconds) });
  }

  /**
   * The next `count` watches that resume from a resourceVersion get 410 Expired, as after a
   * compaction: as an ERROR event on an open stream (the watch cache's way, the default), or as
   * the answer to the request itself ("response").
   */
  expireNextWatch(count = 1, how: "event" | "response" = "event"): void {
    for (let i = 0; i < count; i++) this.expiredWatches.push(how);
  }

  clear(): void {
    this.rules = [];
    this.expiredWatches = [];
  }

  /** @internal What to do with a request: consumes counted faults. */
  decide(req: RequestFacts): FaultDecision {
    let delayMs = 0;
    let error: ApiError | undefined;
    for (const rule of this.rules) {
      if (rule.remaining <= 0 || !matches(rule.match, req)) continue;
      if (rule.delayMs !== undefined) {
        delayMs += rule.delayMs;
        if (rule.remaining !== Infinity) rule.remaining--;
        continue;
      }
      if (error) continue;
      if (rule.percent !== undefined && this.random() * 100 >= rule.percent) continue;
      error = rule.error();
      rule.remaining--;
    }
    this.rules = this.rules.filter((r) => r.remaining > 0);
    return { delayMs, error };
  }

  /** @internal How this watch should be answered 410, if it should. */
  takeExpiredWatch(): "event" | "response" | undefined {
    return this.expiredWatches.shift();
  }

  private add(rule: Rule): FaultHandle {
    this.rules.push(rule);
    return { remove: () => (this.rules = this.rules.filter((r) => r !== rule)) };
  }
}
