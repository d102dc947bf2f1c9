// How fast the simulated cluster runs. Every duration the API states in seconds
// (activeDeadlineSeconds, ttlSecondsAfterFinished, grace periods, watch timeoutSeconds) is
// multiplied by msPerSecond, so a test can run a 30 s deadline in 300 ms with msPerSecond: 10.
// The defaults are a real cluster's orders of magnitude (pods start and run for hundreds of ms,
// back-offs of 10 s, 75 s of watch history, compaction every 5 min); FAST_TIMING is the fast mode
// for unit tests (startFakeKube({ fast: true }) or timing: FAST_TIMING).

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
  /**
   * API seconds of change history a watch can resume from (the watch cache keeps at least 75 s):
   * a watch from an older resourceVersion gets 410 Expired.
   */
  watchHistorySeconds: number;
  /**
   * API seconds between etcd compactions (kube-apiserver's --etcd-compaction-interval, 5 min):
   * a list at an exact older resourceVersion, or with a continue token issued before, gets 410.
   */
  compactionSeconds: number;
}

export const DEFAULT_TIMING: Timing = {
  msPerSecond: 1000,
  podScheduleMs: 30,
  podStartMs: 600,
  podRunMs: 400,
  sigtermExitMs: 100,
  podBackoffBaseMs: 10_000,
  imagePullBackOffMs: 2000,
  gcDelayMs: 20,
  bookmarkIntervalMs: 60_000,
  watchHistorySeconds: 75,
  compactionSeconds: 300,
};

/** The fast mode: one API second is 20 ms, pods start in 20 ms and run 20 ms. */
export const FAST_TIMING: Timing = {
  msPerSecond: 20,
  podScheduleMs: 5,
  podStartMs: 20,
  podRunMs: 20,
  sigtermExitMs: 5,
  podBackoffBaseMs: 5,
  imagePullBackOffMs: 30,
  gcDelayMs: 2,
  bookmarkIntervalMs: 60_000,
  watchHistorySeconds: 75,
  compactionSeconds: 300,
};

export function apiSeconds(timing: Timing, seconds: number): number {
  return seconds * timing.msPerSecond;
}

export function backoffDelay(timing: Timing, failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(timing.podBackoffBaseMs * 2 ** (failures - 1), timing.podBackoffBaseMs * 36);
}
