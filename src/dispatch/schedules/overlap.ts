// What a fire does about the schedule's jobs that are still queued or running.
import type { JobRecord } from "../../jobs/job.js";

export type OverlapPolicyName = "SKIP" | "BUFFER_ONE" | "ALLOW" | "CANCEL_PREVIOUS";

export type OverlapDecision =
  | { action: "skip"; reason: string }
  | {
      action: "create";
      /** Jobs to cancel first (CANCEL_PREVIOUS). */
      cancel: JobRecord[];
      /**
       * The dispatcher runs one job of an exclusive group at a time, so the new job waits
       * for a running one (BUFFER_ONE) or for a cancelled one to stop (CANCEL_PREVIOUS).
       */
      exclusive: boolean;
    };

/** The exclusive group of a schedule's jobs (per fan-out target when the fire has several). */
export function exclusiveGroupOf(scheduleId: string, targetKey = ""): string {
  return targetKey ? `schedule:${scheduleId}:${targetKey}` : `schedule:${scheduleId}`;
}

const describe = (job: JobRecord) => `job ${job.id} is still ${job.state}`;

/**
 * `active` holds the schedule's QUEUED, STARTING and RUNNING jobs, except those of the
 * fire being decided (a fire repeated after a crash must not count its own job).
 */
export function decideOverlap(policy: OverlapPolicyName, active: readonly JobRecord[]): OverlapDecision {
  switch (policy) {
    case "ALLOW":
      return { action: "create", cancel: [], exclusive: false };
    case "SKIP": {
      const blocking = active[0];
      if (blocking) return { action: "skip", reason: `overlap policy SKIP: ${describe(blocking)}` };
      return { action: "create", cancel: [], exclusive: true };
    }
    case "BUFFER_ONE": {
      const waiting = active.find((job) => job.state === "QUEUED");
      if (waiting) return { action: "skip", reason: `overlap policy BUFFER_ONE: ${describe(waiting)} (one fire is already buffered)` };
      return { action: "create", cancel: [], exclusive: true };
    }
    case "CANCEL_PREVIOUS":
      return { action: "create", cancel: [...active], exclusive: true };
  }
}
