// Prometheus metrics of Hub reporting, registered on the service's registry.
// Names: jobscheduler_hub_* for delivery, jobscheduler_teams_processed_total after seed 001's
// teams_processed_total.
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { OUTBOX_STATES, type OutboxStore } from "../store/outbox-queries.js";

export class HubMetrics {
  readonly requests: Counter<"outcome">;
  readonly requestDuration: Histogram<"outcome">;
  readonly deliveryFailures: Counter<"kind">;
  readonly delivered: Counter<"criteria_type" | "status">;
  readonly parked: Counter<"criteria_type" | "cause">;
  readonly blocked: Gauge;
  readonly teamsProcessed: Counter<"criteria_type" | "outcome">;
  readonly rounds: Counter<"criteria_type" | "outcome">;
  readonly passes: Counter<"result">;

  constructor(registry: Registry, outbox: OutboxStore) {
    const registers = [registry];
    new Gauge({
      name: "jobscheduler_hub_outbox_items",
      help: "Criteria reports in the outbox, by state (PENDING is the delivery backlog).",
      labelNames: ["state"] as const,
      registers,
      async collect() {
        const counts = new Map((await outbox.counts()).map((c) => [c.state, c.count]));
        for (const state of OUTBOX_STATES) this.set({ state }, counts.get(state) ?? 0);
      },
    });
    this.requests = new Counter({
      name: "jobscheduler_hub_requests_total",
      help: "Requests to the Hub's service API, by outcome (ok, unavailable, rejected, auth, protocol).",
      labelNames: ["outcome"] as const,
      registers,
    });
    this.requestDuration = new Histogram({
      name: "jobscheduler_hub_request_duration_seconds",
      help: "Time of criteria POSTs to the Hub, by outcome.",
      labelNames: ["outcome"] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.deliveryFailures = new Counter({
      name: "jobscheduler_hub_delivery_failures_total",
      help: "Failed criteria deliveries: whole POSTs by kind (unavailable, rejected, auth, protocol) and single items the Hub refused (item_error).",
      labelNames: ["kind"] as const,
      registers,
    });
    this.delivered = new Counter({
      name: "jobscheduler_hub_items_delivered_total",
      help: "Criteria reports the Hub acknowledged, by criteria type and status.",
      labelNames: ["criteria_type", "status"] as const,
      registers,
    });
    this.parked = new Counter({
      name: "jobscheduler_hub_items_parked_total",
      help: "Criteria reports parked, by criteria type and cause (item_error: refused inside a 200; rejected: too many 500/4xx).",
      labelNames: ["criteria_type", "cause"] as const,
      registers,
    });
    this.blocked = new Gauge({
      name: "jobscheduler_hub_reporting_blocked",
      help: "1 while reporting is stopped by a configuration error (the Hub answered 401 or 403).",
      registers,
    });
    this.teamsProcessed = new Counter({
      name: "jobscheduler_teams_processed_total",
      help: "Teams handled by team rounds, by criteria type and outcome (job: a job was submitted; no_data: the team lacks the input).",
      labelNames: ["criteria_type", "outcome"] as const,
      registers,
    });
    this.rounds = new Counter({
      name: "jobscheduler_team_rounds_total",
      help: "Team rounds (fan-out fires), by criteria type and outcome (ok, failed: the Hub's team list could not be read).",
      labelNames: ["criteria_type", "outcome"] as const,
      registers,
    });
    this.passes = new Counter({
      name: "jobscheduler_hub_delivery_passes_total",
      help: "Passes of the outbox delivery worker, by result (sent, failed, blocked; idle: nothing was due).",
      labelNames: ["result"] as const,
      registers,
    });
  }
}
