// Local runs are batch work; the service's own event loop (the API, the dispatcher, the watch
// of every run) must not wait behind them for a CPU. Each run has its own session (detached, so
// it can be stopped as a group), and on Linux with autogroup scheduling every session is its own
// scheduling group: a task's nice value then only ranks it within that session, and 64 busy runs
// would each get as much CPU as the whole service. So the session's autogroup is niced as well.
import { writeFileSync } from "node:fs";
import { setPriority } from "node:os";

/** Lowers a just-started run's CPU priority to `nice` (0 = leave it as the service's). Best effort. */
export function deprioritiseRun(pid: number, nice: number): void {
  if (nice === 0) return;
  try {
    setPriority(pid, nice);
  } catch {
    // the run already ended, or the platform refuses: it keeps the service's priority
  }
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
  } catch {
    // no autogroup scheduling here (not Linux, or disabled): the task's nice value is what counts
  }
}
