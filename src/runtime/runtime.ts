import type { RunOutput, Workload } from "../jobs/handler.js";
import type { JobPlacement, JobRecord } from "../jobs/job.js";

/** Why a run ended, as the runtime saw it. The job lifecycle turns this into a state and reason. */
export type RunEnd =
  | { kind: "exited"; exitCode: number; output: RunOutput }
  | { kind: "failed"; reason: string; message: string; output: RunOutput }
  | { kind: "timed-out"; message: string; output: RunOutput }
  | { kind: "cancelled"; output: RunOutput }
  | { kind: "interrupted"; message: string; output: RunOutput };

/** How a runtime reports progress; calls for one job arrive in order. */
export interface RuntimeListener {
  running(job: JobRecord, placement: JobPlacement, at: number): Promise<void>;
  finished(job: JobRecord, end: RunEnd, at: number): Promise<void>;
  /** Why a launched run has not started yet (e.g. UNSCHEDULABLE), shown as the job's reason and message while STARTING. */
  progress?(job: JobRecord, update: { reason: string; message: string }, at: number): Promise<void>;
}

/**
 * What to do with a job the store says was in flight when the service last stopped. "adopted":
 * the runtime found the run and reports its end through the listener, like a run it launched:
 * a live run once it ends, one that ended meanwhile with the outcome it left (its result and exit
 * status), one that died without leaving an exit status as interrupted. "lost": the runtime has
 * no trace of the run; the caller ends it as interrupted (retried per the job's policy).
 */
export type Recovery =
  | { action: "adopted" }
  | { action: "lost"; message: string; output?: RunOutput };

export interface Runtime {
  readonly name: "local" | "kubernetes";
  setListener(listener: RuntimeListener): void;
  /** Starts the workload; resolves once it is launched (not finished). */
  launch(job: JobRecord, workload: Workload): Promise<JobPlacement>;
  /** Asks a launched run to stop; its end arrives through the listener. False when it is not running here. */
  cancel(job: JobRecord): Promise<boolean>;
  /** Called once at start-up, before dispatching, with every job the store holds as STARTING or RUNNING. */
  recover(jobs: JobRecord[]): Promise<Map<string, Recovery>>;
  activeRuns(): number;
  /** Stops watching; a runtime that owns its processes waits up to `graceMs` for them, then stops them as interrupted. */
  shutdown(graceMs: number): Promise<void>;
}
