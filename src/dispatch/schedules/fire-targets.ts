// The extension point between "a schedule fires" and "these jobs are submitted".
// A plain schedule submits its template once. A fan-out schedule (spec.for_each_team)
// submits it once per team; that needs the Hub's team list, which the Hub integration
// provides by implementing FireTargets and passing it to the Scheduler as `fanOut`.
// Targets carry Submissions, checked once where they are made (the egress policy included): the
// scheduler only gives each its fire's idempotency key and due time.
import { admitEgress, type EgressAdmission } from "../../jobs/egress/admission.js";
import { DomainError } from "../../jobs/errors.js";
import type { JobRegistry } from "../../jobs/registry.js";
import { validateJobRequest, type Submission } from "../../jobs/submission/submission.js";
import type { Schedule } from "./definition.js";

/** One job of a fire. */
export interface FireTarget {
  /**
   * Tells this target's job apart from the other jobs of the same fire: it is appended to
   * the fire's idempotency key and exclusive group. "" for the only job of a plain fire.
   * Must be stable (e.g. the team slug), printable ASCII without spaces.
   */
  key: string;
}

/** A target and the job it submits (the schedule's template, adapted to the target, e.g. with its team). */
export interface FireSubmission extends FireTarget {
  submission: Submission;
}

/** A target whose job the job type refused (e.g. a template of a type no longer enabled): the fire is skipped. */
export interface FireRejection extends FireTarget {
  rejection: DomainError;
}

/** Turns one fire of a schedule into the job submissions it makes. */
export interface FireTargets {
  targets(schedule: Schedule, fireTime: number): Promise<(FireSubmission | FireRejection)[]>;
  /** Why no fire can be turned into targets on this server (e.g. a setting is missing), else null. */
  unavailableReason?(): string | null;
}

/** A plain fire: the template, once; a template without a name takes the schedule's. Its targets are admitted by the egress policy. */
export function templateOnce(registry: JobRegistry, egress: EgressAdmission): FireTargets {
  return {
    async targets(schedule) {
      const template = schedule.spec.jobTemplate;
      if (!template) throw new Error(`schedule ${schedule.id} has no job template`);
      try {
        const submission = validateJobRequest({ ...template, name: template.name || schedule.name }, registry);
        await admitEgress(egress, submission);
        return [{ key: "", submission }];
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        return [{ key: "", rejection: error }];
      }
    },
  };
}
