import { stableFraction } from "../retry.js";

/**
 * How long a fire's job waits after the fire time: a pseudo-random amount below
 * `jitterMs` that depends only on the schedule and the fire time, so a fire repeated
 * after a restart gets the same delay, and schedules sharing a cron do not start together.
 */
export function jitterDelayMs(scheduleId: string, fireTime: number, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  return Math.floor(stableFraction(`${scheduleId}/${new Date(fireTime).toISOString()}`) * jitterMs);
}
