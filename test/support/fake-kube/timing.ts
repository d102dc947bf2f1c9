// How fast the simulated cluster runs. Every duration the API states in seconds
// (activeDeadlineSeconds, ttlSecondsAfterFinished, grace periods, watch timeoutSeconds) is
// multiplied by msPerSecond, so a test can run a 30 s deadline in 300 ms with msPerSecond: 10.

export interface Timing {
  /** Real milliseconds per API second. */
  msPerSecond: number;
  /** Pod created → bound to a node (PodScheduled). */
  podScheduleMs: number;
  /** Pod created → containers Running. */
  podStartMs: number;
  /** Running → containers exit, unless the pod's outcome says otherwise. */
  podRunMs: number;
  /** SIGTERM → the container exits with 143. */
  sigtermExitMs: number;
  /** First back-off before a replacement pod (or an OnFailure restart); doubles per failure, capped at ×36 (10 s → 6 min). */
  podBackoffBaseMs: number;
  /** ErrImagePull → ImagePullBackOff. */
  imagePullBackOffMs: number;
  /** An owner's deletion → the garbage collector handles its dependents. */
  gcDelayMs: number;
  /** Period of BOOKMARK events on watches that allow them. */
  bookmarkIntervalMs: number;
}

export const DEFAULT_TIMING: Timing = {
  msPerSecond: 1000,
  podScheduleMs: 5,
  podStartMs: 50,
  podRunMs: 50,
  sigtermExitMs: 10,
  podBackoffBaseMs: 10,
  imagePullBackOffMs: 50,
  gcDelayMs: 5,
  bookmarkIntervalMs: 1000,
};

export function apiSeconds(timing: Timing, seconds: number): number {
  return seconds * timing.msPerSecond;
}

export function backoffDelay(timing: Timing, failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(timing.podBackoffBaseMs * 2 ** (failures - 1), timing.podBackoffBaseMs * 36);
}
