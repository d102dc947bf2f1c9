import { Counter, type Registry } from "prom-client";

/** What the scheduler reports as schedules fire. */
export interface ScheduleObserver {
  /** Jobs created by a fire. */
  fired(schedule: string, jobs: number): void;
  /** Late fire times older than the catch-up window. */
  missed(schedule: string, count: number): void;
  /** Fire times skipped by the overlap policy or by catch-up policy ONE. */
  skipped(schedule: string, count: number, policy: "overlap" | "catchup"): void;
}

/** Prometheus counters for schedules, registered in the service's registry. */
export class ScheduleMetrics implements ScheduleObserver {
  private readonly fires: Counter<"schedule">;
  private readonly misses: Counter<"schedule">;
  private readonly skips: Counter<"schedule" | "policy">;

  constructor(registry: Registry) {
    this.fires = new Counter({
      name: "jobscheduler_schedule_fires_total",
      help: "Jobs created by schedule fires, by schedule name.",
      labelNames: ["schedule"] as const,
      registers: [registry],
    });
    this.misses = new Counter({
      name: "jobscheduler_schedule_misses_total",
      help: "Fire times missed (late beyond the catch-up window, e.g. while the service was down or the schedule paused), by schedule name.",
      labelNames: ["schedule"] as const,
      registers: [registry],
    });
    this.skips = new Counter({
      name: "jobscheduler_schedule_skips_total",
      help: "Fire times skipped by the overlap policy or by catch-up policy ONE, by schedule name and policy.",
      labelNames: ["schedule", "policy"] as const,
      registers: [registry],
    });
  }

  fired(schedule: string, jobs: number): void {
    if (jobs > 0) this.fires.inc({ schedule }, jobs);
  }

  missed(schedule: string, count: number): void {
    if (count > 0) this.misses.inc({ schedule }, count);
  }

  skipped(schedule: string, count: number, policy: "overlap" | "catchup"): void {
    if (count > 0) this.skips.inc({ schedule, policy }, count);
  }
}
