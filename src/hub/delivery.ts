// The outbox delivery worker: takes due criteria reports from the store, sends them to the Hub
// in bulk (many teams per POST), and records what the Hub said. Every decision is read from and
// written to the store, so a restart loses nothing and sends nothing twice that was acknowledged.
//   - only the latest pending report per (team, hackathon, criteria) is sent (older: SUPERSEDED);
//   - the Hub down (network, timeout, 502/503/504): exponential back-off with jitter, nothing parked;
//     the back-off ends as soon as the Hub answers any call (a team listing included) or a probe
//     sent every HUB_PROBE_INTERVAL while it lasts;
//   - 500/4xx: the items' rejections grow, batches shrink to isolate a bad item, then PARKED;
//   - per-item errors inside a 200: that item PARKED with the Hub's message;
//   - 401/403: reporting stops loudly (error log, jobscheduler_hub_reporting_blocked, readiness
//     note) and is retried only every HUB_AUTH_RETRY_INTERVAL.
import type { Logger } from "pino";
import { exponentialBackoffMs } from "../dispatch/retry.js";
import { systemClock, type Clock } from "../dispatch/clock.js";
import type { OutboxItemRecord, OutboxStore } from "../store/outbox-queries.js";
import { HubError, type CriteriaKey, type HubClient } from "./hub-client.js";
import type { HubMetrics } from "./hub-metrics.js";
import {
  planBatch, releaseItems, settleBatch, toCriteriaUpdate, type DeliveryOutcome,
} from "./outbox.js";

export interface DeliveryOptions {
  batchSize: number;
  /** After a wake-up, wait this long so more reports share the POST. */
  batchDelayMs: number;
  pollIntervalMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  retryJitter: number;
  /** While backing off, ask the Hub this often (a cheap read) whether it answers again. */
  probeIntervalMs: number;
  maxRejections: number;
  authRetryIntervalMs: number;
  updatedBy: string;
  /** How long a claimed batch is reserved for this worker (longer than a POST can take). */
  leaseMs: number;
}

export type PassResult = "idle" | "sent" | "failed" | "blocked";

export class OutboxDelivery {
  private stopped = true;
  private loopDone?: Promise<void>;
  /** Aborted by stop(); a new one for each start (a replica may lead again after a lost term). */
  private stopController = new AbortController();
  private readonly idleWaits = new Set<AbortController>();
  private consecutiveFailures = 0;
  private blockedReason: string | null = null;
  /** The back-off in progress; aborted when the Hub answers. */
  private backOffWait: AbortController | null = null;
  /** A row of the last batch that failed: what a probe reads. */
  private probeRow: CriteriaKey | null = null;
  private stopListening: (() => void) | null = null;

  constructor(
    private readonly outbox: OutboxStore,
    private readonly client: HubClient,
    private readonly options: DeliveryOptions,
    private readonly metrics: HubMetrics | null,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.stopController = new AbortController();
    // What the last term learnt of the Hub's health is relearnt: its back-off starts over.
    this.consecutiveFailures = 0;
    this.probeRow = null;
    this.stopListening = this.client.onReachable(() => this.backOffWait?.abort());
    this.loopDone = this.loop();
  }

  /** Stops after the POST in flight (if any) is recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopController.abort();
    this.stopListening?.();
    await this.loopDone;
  }

  /** A new report is waiting: deliver soon (after the batch delay). */
  wake(): void {
    for (const controller of this.idleWaits) controller.abort();
  }

  /** Why reporting is stopped (401/403), or null. */
  blocked(): string | null {
    return this.blockedReason;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let result: PassResult;
      try {
        result = await this.deliverOnce();
      } catch (error) {
        this.logger.error({ err: error }, "outbox delivery pass failed (store error)");
        result = "failed";
      }
      this.metrics?.passes.inc({ result });
      if (this.stopped) break;
      switch (result) {
        case "sent":
          continue;
        case "failed": {
          const delay = exponentialBackoffMs(this.consecutiveFailures, this.options.retryInitialMs, this.options.retryMaxMs, this.options.retryJitter);
          await this.backOff(delay);
          continue;
        }
        case "blocked":
          await this.clock.sleep(this.options.authRetryIntervalMs, this.stopController.signal);
          continue;
        case "idle": {
          const next = await this.outbox.nextDue().catch(() => null);
          const wait = next === null ? this.options.pollIntervalMs : Math.min(this.options.pollIntervalMs, Math.max(0, next - this.clock.now()));
          if (await this.idleSleep(wait)) await this.clock.sleep(this.options.batchDelayMs, this.stopController.signal);
        }
      }
    }
  }

  /**
   * Waits out a back-off of `ms` after a failed batch, unless the Hub answers first: any call of
   * the shared client (a team listing, a probe) that gets an answer below 500 ends the wait. While
   * the wait lasts, a probe goes out every probeIntervalMs, one at a time and not awaited, so a
   * Hub that does not answer cannot hold the wait past its end.
   */
  private async backOff(ms: number): Promise<void> {
    const wait = new AbortController();
    const probes = new AbortController();
    const onStop = () => wait.abort();
    this.stopController.signal.addEventListener("abort", onStop, { once: true });
    this.backOffWait = wait;
    const end = this.clock.now() + ms;
    let probing = false;
    try {
      for (;;) {
        const left = end - this.clock.now();
        if (left <= 0 || wait.signal.aborted) break;
        await this.clock.sleep(Math.min(left, this.options.probeIntervalMs), wait.signal);
        if (wait.signal.aborted || this.clock.now() >= end || probing || !this.probeRow) continue;
        probing = true;
        void this.client.probe(this.probeRow, probes.signal).catch(() => false).finally(() => (probing = false));
      }
      if (wait.signal.aborted && !this.stopped) {
        this.logger.info({ backOffLeftMs: Math.max(0, end - this.clock.now()) }, "the Hub answers again: delivery resumes before its back-off ended");
      }
    } finally {
      this.backOffWait = null;
      probes.abort();
      this.stopController.signal.removeEventListener("abort", onStop);
    }
  }

  /** Sleeps up to `ms`; true when woken by a new report. */
  private async idleSleep(ms: number): Promise<boolean> {
    const controller = new AbortController();
    this.idleWaits.add(controller);
    const onStop = () => controller.abort();
    this.stopController.signal.addEventListener("abort", onStop, { once: true });
    try {
      await this.clock.sleep(ms, controller.signal);
      return controller.signal.aborted && !this.stopped;
    } finally {
      this.idleWaits.delete(controller);
      this.stopController.signal.removeEventListener("abort", onStop);
    }
  }

  /** One batch: claim, send, record. Exposed for tests and benchmarks. */
  async deliverOnce(): Promise<PassResult> {
    const now = this.clock.now();
    const claimed = await this.outbox.claimDue(now, this.options.batchSize, now + this.options.leaseMs);
    if (claimed.length === 0) return "idle";
    const { send, release } = planBatch(claimed, this.options);
    if (release.length) await this.outbox.settle(releaseItems(release, now), now);
    const outcome = await this.post(send);
    const settledAt = this.clock.now();
    const updates = settleBatch(send, outcome, settledAt, {
      maxRejections: this.options.maxRejections,
      rejectionDelayMs: (n) => exponentialBackoffMs(n, this.options.retryInitialMs, this.options.retryMaxMs, this.options.retryJitter),
    });
    await this.outbox.settle(updates, settledAt);
    this.record(send, outcome, updates.map((u) => u.state));
    switch (outcome.kind) {
      case "ok":
        this.consecutiveFailures = 0;
        this.unblock();
        return "sent";
      case "auth":
        this.block(outcome.message);
        return "blocked";
      default:
        this.unblock();
        this.consecutiveFailures++;
        this.probeRow = send[0];
        return "failed";
    }
  }

  private async post(items: OutboxItemRecord[]): Promise<DeliveryOutcome> {
    const started = performance.now();
    let outcome: DeliveryOutcome;
    try {
      const response = await this.client.postCriteria(items.map((item) => toCriteriaUpdate(item, this.options.updatedBy)));
      outcome = { kind: "ok", response };
    } catch (error) {
      if (!(error instanceof HubError)) throw error;
      outcome = { kind: error.kind, message: error.message };
    }
    const label = outcome.kind;
    this.metrics?.requests.inc({ outcome: label });
    this.metrics?.requestDuration.observe({ outcome: label }, (performance.now() - started) / 1000);
    return outcome;
  }

  private record(items: OutboxItemRecord[], outcome: DeliveryOutcome, states: string[]): void {
    if (outcome.kind !== "ok") {
      this.metrics?.deliveryFailures.inc({ kind: outcome.kind });
      const parked = states.filter((s) => s === "PARKED").length;
      if (outcome.kind === "auth") return;
      this.logger.warn(
        { items: items.length, kind: outcome.kind, consecutiveFailures: this.consecutiveFailures + 1, parked },
        `criteria delivery failed: ${outcome.message}`,
      );
      items.forEach((item, i) => {
        if (states[i] === "PARKED") this.metrics?.parked.inc({ criteria_type: item.criteriaType, cause: "rejected" });
      });
      return;
    }
    let refused = 0;
    items.forEach((item, i) => {
      if (states[i] === "DELIVERED") this.metrics?.delivered.inc({ criteria_type: item.criteriaType, status: item.status });
      else {
        refused++;
        this.metrics?.parked.inc({ criteria_type: item.criteriaType, cause: "item_error" });
        this.metrics?.deliveryFailures.inc({ kind: "item_error" });
      }
    });
    this.logger.info({ items: items.length, refused }, "criteria delivered to the Hub");
    if (refused) {
      const errors = (outcome.response.errors ?? []).slice(0, 5);
      this.logger.warn({ refused, errors }, "the Hub refused some criteria items; they are parked (ListOutbox, ResendOutbox)");
    }
  }

  private block(reason: string): void {
    if (this.blockedReason === null) {
      this.logger.error(
        { retryInMs: this.options.authRetryIntervalMs },
        `Hub reporting stopped: ${reason}. Reports stay in the outbox until the Hub accepts the key`,
      );
    }
    this.blockedReason = reason;
    this.metrics?.blocked.set(1);
  }

  private unblock(): void {
    if (this.blockedReason === null) return;
    this.logger.info("Hub reporting resumed: the Hub accepts the API key again");
    this.blockedReason = null;
    this.metrics?.blocked.set(0);
  }
}
