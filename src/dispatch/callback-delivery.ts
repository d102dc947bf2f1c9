// The completion-callback delivery worker: takes due callback rows from the outbox, POSTs each
// body to its URL with the row's source key as the `Idempotency-Key` header, and records the
// outcome (callback-outbox.ts). A row is marked DELIVERED in the store only after the receiver
// answered 2xx, so delivery is at least once; a receiver sees a repeat (same key, same body)
// only when the service died between the answer and that record. The URL is judged by the egress
// policy right before each POST (name and every resolved address) and the POST connects to a judged
// address: the service itself must never be the path into the cluster's inside.
import http from "node:http";
import https from "node:https";
import type { Logger } from "pino";
import { checkUrl, pinnedLookup } from "../shared/egress/check.js";
import type { EgressPolicy } from "../shared/egress/policy.js";
import type { Resolver } from "../shared/egress/resolver.js";
import type { OutboxStore } from "../store/outbox-queries.js";
import type { CallbackObserver } from "./callback-metrics.js";
import { settleCallback, type CallbackOutcome } from "./callback-outbox.js";
import { systemClock, type Clock } from "./clock.js";
import { exponentialBackoffMs } from "./retry.js";

export interface CallbackDeliveryOptions {
  batchSize: number;
  pollIntervalMs: number;
  requestTimeoutMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  retryJitter: number;
  maxRejections: number;
  /**
   * How long a claimed row is reserved for this worker (longer than a POST can take). Also how late
   * a row claimed by a service that then died is sent by the next one: keep it short.
   */
  leaseMs: number;
}

export const DEFAULT_CALLBACK_DELIVERY: CallbackDeliveryOptions = {
  batchSize: 32,
  pollIntervalMs: 5_000,
  requestTimeoutMs: 10_000,
  retryInitialMs: 1_000,
  retryMaxMs: 300_000,
  retryJitter: 0.2,
  maxRejections: 5,
  leaseMs: 15_000,
};

export class CallbackDelivery {
  private stopped = true;
  private loopDone?: Promise<void>;
  /** Aborted by stop(); a new one for each start (a replica may lead again after a lost term). */
  private stopController = new AbortController();
  private idleWait: AbortController | null = null;
  private woken = false;

  constructor(
    private readonly outbox: OutboxStore,
    private readonly options: CallbackDeliveryOptions,
    private readonly logger: Logger,
    private readonly egress: { policy: EgressPolicy; resolver: Resolver },
    private readonly clock: Clock = systemClock,
    private readonly observer?: CallbackObserver,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.stopController = new AbortController();
    this.loopDone = this.loop();
  }

  /** Stops after the POSTs in flight (if any) are recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    await this.loopDone;
  }

  /** A new callback is waiting: deliver now. */
  wake(): void {
    this.woken = true;
    this.idleWait?.abort();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let sent = 0;
      try {
        sent = await this.deliverOnce();
      } catch (error) {
        this.logger.error({ err: error }, "callback delivery pass failed (store error)");
      }
      if (this.stopped) break;
      if (sent > 0) continue;
      const next = await this.outbox.nextDue("callback").catch(() => null);
      const wait = next === null ? this.options.pollIntervalMs : Math.min(this.options.pollIntervalMs, Math.max(0, next - this.clock.now()));
      await this.idle(wait);
    }
  }

  private async idle(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    const wait = new AbortController();
    const onStop = () => wait.abort();
    this.stopController.signal.addEventListener("abort", onStop, { once: true });
    this.idleWait = wait;
    try {
      await this.clock.sleep(ms, wait.signal);
    } finally {
      this.idleWait = null;
      this.woken = false;
      this.stopController.signal.removeEventListener("abort", onStop);
    }
  }

  /** One batch: claim, POST each, record. Returns how many were sent. */
  async deliverOnce(): Promise<number> {
    const now = this.clock.now();
    const claimed = await this.outbox.claimDue(now, this.options.batchSize, now + this.options.leaseMs, "callback");
    if (claimed.length === 0) return 0;
    const seconds: number[] = [];
    const outcomes = await Promise.all(claimed.map(async (item, i) => {
      const started = performance.now();
      const outcome = await this.post(item.targetUrl ?? "", item.sourceKey, item.metrics);
      seconds[i] = (performance.now() - started) / 1000;
      return outcome;
    }));
    const settledAt = this.clock.now();
    const policy = {
      maxRejections: this.options.maxRejections,
      retryDelayMs: (n: number) => exponentialBackoffMs(n, this.options.retryInitialMs, this.options.retryMaxMs, this.options.retryJitter),
    };
    const updates = claimed.map((item, i) => settleCallback(item, outcomes[i], settledAt, policy));
    await this.outbox.settle(updates, settledAt);
    updates.forEach((update, i) => {
      this.observer?.settled(update.state, seconds[i]);
      if (update.state !== "DELIVERED") this.logger.warn({ jobId: claimed[i].jobId, attempts: update.attempts, state: update.state }, `completion callback not delivered: ${update.lastError}`);
    });
    return claimed.length;
  }

  private async post(url: string, key: string, body: Record<string, unknown>): Promise<CallbackOutcome> {
    const checked = await checkUrl(this.egress.policy, this.egress.resolver, url);
    if (!checked.ok) return { kind: "blocked", message: checked.message };
    if (checked.resolveError) return { kind: "unreachable", message: `${checked.target.host}: ${checked.resolveError}` };
    const payload = JSON.stringify(body);
    const lookup = checked.target.ip ? undefined : pinnedLookup(checked.target.host, checked.addresses);
    return new Promise((resolve) => {
      const options = {
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), "idempotency-key": key, "user-agent": "jobscheduler-callback/1" },
        agent: false as const,
        lookup,
      };
      // Redirects are not followed: a 3xx is the receiver's answer.
      // The status is the answer; the body is not waited for.
      const req = (url.startsWith("https:") ? https : http).request(url, options, (res) => finish({ kind: "answered", status: res.statusCode ?? 0 }));
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.options.requestTimeoutMs} ms`)), this.options.requestTimeoutMs);
      req.once("error", (error: NodeJS.ErrnoException) => finish({ kind: "unreachable", message: error.code ? `${error.code}: ${error.message}` : error.message }));
      req.end(payload);
      let settled = false;
      function finish(outcome: CallbackOutcome) {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        resolve(outcome);
      }
    });
  }
}
