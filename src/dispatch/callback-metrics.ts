import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { OUTBOX_STATES, type OutboxState, type OutboxStore } from "../store/outbox-queries.js";

/** What the callback delivery worker reports per POST. */
export interface CallbackObserver {
  /** One POST settled: its row's new state (PENDING: retried later) and how long the POST took. */
  settled(state: OutboxState, seconds: number): void;
}

/** Prometheus metrics of completion callbacks, registered in the service's registry. */
export class CallbackMetrics implements CallbackObserver {
  private readonly deliveries: Counter<"outcome">;
  private readonly duration: Histogram;

  constructor(registry: Registry, outbox: OutboxStore) {
    const registers = [registry];
    new Gauge({
      name: "jobscheduler_callback_outbox_items",
      help: "Completion callbacks in the outbox, by state (PENDING is the delivery backlog, PARKED refused for good).",
      labelNames: ["state"] as const,
      registers,
      async collect() {
        const counts = new Map((await outbox.counts("callback")).map((c) => [c.state, c.count]));
        for (const state of OUTBOX_STATES) this.set({ state }, counts.get(state) ?? 0);
      },
    });
    this.deliveries = new Counter({
      name: "jobscheduler_callback_deliveries_total",
      help: "Completion callback POSTs, by outcome (delivered: 2xx; retry: unreachable or refused, sent again later; parked: refused for good).",
      labelNames: ["outcome"] as const,
      registers,
    });
    this.duration = new Histogram({
      name: "jobscheduler_callback_request_duration_seconds",
      help: "Time of completion callback POSTs, until the receiver's answer or the failure.",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  settled(state: OutboxState, seconds: number): void {
    this.deliveries.inc({ outcome: state === "DELIVERED" ? "delivered" : state === "PARKED" ? "parked" : "retry" });
    this.duration.observe(seconds);
  }
}
