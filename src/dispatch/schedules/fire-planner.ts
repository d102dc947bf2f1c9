// Which fire times of a schedule to run now. Pure: the caller supplies the cron's
// fire times, the position of the schedule and the time.

export type CatchupPolicyName = "ALL" | "ONE";

/**
 * A fire time reached at most this late counts as on time, whatever the catch-up
 * window: the scheduler wakes a little after the instant, not exactly on it.
 */
export const ON_TIME_GRACE_MS = 15_000;

/** Fire times looked at per plan, so one plan never holds the process up for long. */
export const DEFAULT_PLAN_BUDGET = 500;

export interface PlanInput {
  /** Fire times after this (exclusive) are still to be processed. */
  after: number;
  now: number;
  /** Late fire times no older than this are caught up; older ones are missed. */
  catchupWindowMs: number;
  catchupPolicy: CatchupPolicyName;
  /** Fire times before this are not fires of the schedule (inclusive start). */
  startTime: number | null;
  /** Fire times at or after this are not fires of the schedule (exclusive end). */
  endTime: number | null;
  /** The cron's fire times in (after, until], oldest first, at most `limit`. */
  fireTimes(after: number, until: number, limit: number): number[];
  budget?: number;
}

export interface FirePlan {
  /** Fire times to fire now, oldest first. */
  run: number[];
  /** Late fire times older than the catch-up window: never run, counted as misses. */
  missed: number;
  /** Fire times inside the window that catch-up policy ONE passed over: counted as skips. */
  skipped: number;
  /** The last fire time this plan accounts for (run, missed or skipped); null when none was due. */
  lastProcessed: number | null;
  /** False when the budget ran out before `now`: plan again from lastProcessed. */
  complete: boolean;
}

export function planFires(input: PlanInput): FirePlan {
  const budget = input.budget ?? DEFAULT_PLAN_BUDGET;
  const lower = input.startTime === null ? input.after : Math.max(input.after, input.startTime - 1);
  const upper = input.endTime === null ? input.now : Math.min(input.now, input.endTime - 1);
  const due = upper > lower ? input.fireTimes(lower, upper, budget + 1) : [];
  const complete = due.length <= budget;
  const considered = complete ? due : due.slice(0, budget);

  const windowStart = input.now - Math.max(input.catchupWindowMs, ON_TIME_GRACE_MS);
  const missed = considered.filter((t) => t < windowStart).length;
  const inWindow = considered.filter((t) => t >= windowStart);

  let run: number[];
  if (input.catchupPolicy === "ALL") run = inWindow;
  // ONE runs only the latest fire time; while more are still to come, none of these is it.
  else if (!complete) run = [];
  else run = inWindow.slice(-1);

  return {
    run,
    missed,
    skipped: inWindow.length - run.length,
    lastProcessed: considered.at(-1) ?? null,
    complete,
  };
}
