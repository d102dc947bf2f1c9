import { Gauge, type Registry } from "prom-client";
import type { LeadershipStatus } from "./create-election.js";

/** `jobscheduler_leader` (1 on the replica that leads) and `jobscheduler_leader_epoch` (its term). */
export function leadershipMetrics(registry: Registry, status: () => LeadershipStatus): void {
  new Gauge({
    name: "jobscheduler_leader",
    help: "1 while this replica leads (dispatches, fires schedules, delivers the outbox), else 0; label: this replica's identity.",
    labelNames: ["identity"] as const,
    registers: [registry],
    collect() {
      const now = status();
      this.reset();
      this.set({ identity: now.identity }, now.role === "leader" ? 1 : 0);
    },
  });
  new Gauge({
    name: "jobscheduler_leader_epoch",
    help: "The epoch of the last term this replica led (0 when it never led, or leadership is not fenced: SQLite).",
    registers: [registry],
    collect() {
      this.set(status().epoch ?? 0);
    },
  });
}
