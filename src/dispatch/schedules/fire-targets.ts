// The extension point between "a schedule fires" and "these jobs are submitted".
// A plain schedule submits its template once. A fan-out schedule (spec.for_each_team)
// submits it once per team; that needs the Hub's team list, which the Hub integration
// provides by implementing FireTargets and passing it to the Scheduler as `fanOut`.
import type { ScheduleJobRequest } from "../../gen/jobscheduler/v1/jobscheduler.js";
import type { ScheduleRecord } from "../../store/schedule-store.js";

/** One job submission of a fire. */
export interface FireTarget {
  /** The request to submit (the schedule's template, adapted to the target, e.g. with its team). */
  request: ScheduleJobRequest;
  /**
   * Tells this target's job apart from the other jobs of the same fire: it is appended to
   * the fire's idempotency key and exclusive group. "" for the only job of a plain fire.
   * Must be stable (e.g. the team slug), printable ASCII without spaces.
   */
  key: string;
}

/** Turns one fire of a schedule into the job submissions it makes. */
export interface FireTargets {
  targets(schedule: ScheduleRecord, fireTime: number): Promise<FireTarget[]>;
  /** Why no fire can be turned into targets on this server (e.g. a setting is missing), else null. */
  unavailableReason?(): string | null;
}

/** A plain fire: the template, once. */
export const templateOnce: FireTargets = {
  async targets(schedule) {
    if (!schedule.spec.jobTemplate) throw new Error(`schedule ${schedule.id} has no job template`);
    return [{ request: schedule.spec.jobTemplate, key: "" }];
  },
};
