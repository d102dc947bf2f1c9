// What a runtime runs and how it reports back: the contract between the job side (handlers build
// workloads, the lifecycle records ends) and the runtimes. Nothing here knows a job type, a store
// or the API; a job record satisfies `Run` and `InFlightRun` as it is.
import type { EgressPolicy } from "../shared/egress/policy.js";

/** The reference to one attempt of a job that a runtime's reports carry. */
export interface RunRef {
  /** The job's id. */
  id: string;
  attempt: number;
}

/** Requests and limits as Kubernetes quantities ("500m", "128Mi"); an empty one is unset. */
export interface RunResources {
  cpuRequest: string;
  cpuLimit: string;
  memoryRequest: string;
  memoryLimit: string;
}

/** What a runtime knows of the attempt it launches. */
export interface Run extends RunRef {
  /** The job type: it names the Kubernetes Job and picks its scheduling. */
  type: string;
  /** The job's own name, kept in an annotation. */
  name: string;
  labels: Record<string, string>;
  /** The hackathon team the job measures, labelled on Kubernetes objects. */
  team: { slug: string; hackathonId: string } | null;
  resources: RunResources;
  timeoutMs: number;
}

/** An attempt the store holds as launched (STARTING or RUNNING) when the service starts. */
export interface InFlightRun extends Run {
  state: string;
  cancelRequested: boolean;
  startedAt: number | null;
  /** The output kept so far. */
  outputTail: string;
  placement: { location: string } | null;
  /** Builds its workload again (the runtime keeps none across a restart); throws when it cannot. */
  workload?(): Workload;
}

/**
 * What a handler asks a runtime to run. `collector` names one of our own programs
 * (`dist/collectors/<collector>.js`), which both runtimes start the same way;
 * `env` is everything the program is told (never the scheduler's own environment).
 */
export interface Workload {
  collector: string;
  env: Record<string, string>;
  /**
   * Variables holding secrets (tokens). The local runtime passes `value`; on Kubernetes the pod
   * reads `secretKeyRef` (a Secret in the jobs namespace) instead, so the value is never written
   * into the Job object, where anyone allowed to read Jobs would see it.
   */
  secretEnv?: Record<string, SecretEnvVar>;
  /**
   * Inputs too big or too structured for env (scripts): file name -> content. On Kubernetes they
   * are a ConfigMap owned by the Job, mounted read-only; the program finds them in $JOB_FILES_DIR.
   */
  files?: Record<string, string>;
  /**
   * A group of runners in an image of their own instead of one of our collectors. Runtimes that
   * run containers run it (Kubernetes: one Indexed Job); the local runtime runs `collector`, which
   * starts the same runners itself, each in a process group of its own (held to
   * `program.resources.memory`, as a pod would be; the stop signal reaches runners only through
   * `collector`).
   */
  program?: RunnerProgram;
  /**
   * The local program says itself when the run really starts (e.g. once its runners are started
   * together), by writing the line `running` to the file descriptor named by JOB_STATUS_FD; until
   * then the job stays STARTING. Without it, a local run is RUNNING as soon as it is spawned.
   */
  reportsRunning?: boolean;
  /** How the Kubernetes runtime runs the job's type (its handler's hints). */
  kubernetes?: KubernetesHints;
  /** The type's default resources, for any value the run lacks. */
  defaultResources?: RunResources;
}

export interface SecretEnvVar {
  value?: string;
  secretKeyRef?: { name: string; key: string };
}

/** The runners of a workload (Workload.program): a group started together once all are up. */
export interface RunnerProgram {
  image: string;
  /** The container's command (argv); runner i finds its index in JOB_COMPLETION_INDEX. */
  command: string[];
  /** How many runners: one Indexed Job with completions = parallelism = this. */
  parallelism: number;
  /** Per runner, requests = limits (so runners are not throttled unevenly). Default: the job's limits. */
  resources?: { cpu: string; memory: string };
  /** The runners' container name (the pod failure policy and log reads name it). Default "runner". */
  container?: string;
  /** What the runners are called in messages: "3 <label> runners". */
  label?: string;
  /** The runners start held; the runtime releases them all at once when every one is up. */
  heldStart?: HeldStart;
  /**
   * One HTTP request before anything is created: an unreachable target ends the run FAILED / TARGET_UNREACHABLE.
   * `egress`: the policy its target's addresses are judged by again before it connects (docs/security.md).
   */
  preflight?: { url: string; timeoutMs: number; egress?: EgressPolicy };
  /** How long the runners may take to be all running (and, held, released) before the run fails and is cleaned up. */
  startTimeoutMs: number;
  /** The setting `startTimeoutMs` comes from, named when the runners did not start in time. */
  startTimeoutSetting?: string;
}

/** How held runners are reached and released: the runner program's own protocol, supplied by its job type. */
export interface HeldStart {
  /** The port each runner answers on, and its name in the container. */
  port: number;
  portName: string;
  /**
   * Where the service reaches a runner, with {podIP}, {pod}, {namespace}, {index} and {port}
   * filled in. Default: "http://{podIP}:{port}".
   */
  url?: string;
  /** What a runner answers on, in messages ("REST API": "waiting for their REST APIs"). */
  endpoint: string;
  /** Whether the runner at `url` is still held; rejects while it does not answer. */
  isHeld(url: string, timeoutMs: number): Promise<boolean>;
  /** Releases the runner at `url`; rejects when it refuses. */
  release(url: string, timeoutMs: number): Promise<unknown>;
  /** A rejected call in a few words. */
  describeError(error: unknown): string;
}

/** How the Kubernetes runtime runs a job type; every field is optional. */
export interface KubernetesHints {
  /** Failed pods Kubernetes replaces within one attempt (disruptions never count). Default 0. */
  backoffLimit?: number;
  /** Exit codes that count against backoffLimit; any other non-zero exit fails the Job at once. */
  retryableExitCodes?: number[];
}

/** What a finished run left behind, as the runtime observed it. */
export interface RunOutput {
  /** The raw result document the program wrote (termination message / result file), if any. */
  rawResult: string | null;
  outputTail: string;
}

/** Where a run was launched, as the job record keeps it. */
export interface Placement {
  runtime: "local" | "kubernetes";
  location: string;
  host?: string;
  pid?: number;
  namespace?: string;
  kubernetesJobName?: string;
}

/** The reasons runtimes give: in a failed RunEnd, or with progress while a run is starting. */
export const RunReason = {
  OOM_KILLED: "OOM_KILLED",
  SIGNALED: "SIGNALED",
  /** Kubernetes, while STARTING: the pod's image cannot be pulled yet (it fails after IMAGE_PULL_FAILURE_TIMEOUT). */
  IMAGE_PULL_BACKOFF: "IMAGE_PULL_BACKOFF",
  /** Kubernetes: the pod's image could not be pulled for IMAGE_PULL_FAILURE_TIMEOUT. */
  IMAGE_PULL_FAILED: "IMAGE_PULL_FAILED",
  /** Kubernetes, while STARTING: no node can take the pod yet (the message says why). */
  UNSCHEDULABLE: "UNSCHEDULABLE",
  /** Kubernetes: the Job failed without a container exit code to report (e.g. its pods were lost). */
  KUBERNETES_JOB_FAILED: "KUBERNETES_JOB_FAILED",
  /** Kubernetes, while STARTING: a runner group waits for its runners. */
  RUNNERS_STARTING: "RUNNERS_STARTING",
} as const;

/** Why a run ended, as the runtime saw it. The job lifecycle turns this into a state and reason. */
export type RunEnd =
  | { kind: "exited"; exitCode: number; output: RunOutput }
  | { kind: "failed"; reason: string; message: string; output: RunOutput }
  | { kind: "timed-out"; message: string; output: RunOutput }
  | { kind: "cancelled"; output: RunOutput }
  | { kind: "interrupted"; message: string; output: RunOutput };

/** How a runtime reports progress; calls for one run arrive in order, each with the run it was given. */
export interface RuntimeListener {
  running(run: RunRef, placement: Placement, at: number): Promise<void>;
  finished(run: RunRef, end: RunEnd, at: number): Promise<void>;
  /** Why a launched run has not started yet (e.g. UNSCHEDULABLE), shown as the job's reason and message while STARTING. */
  progress?(run: RunRef, update: { reason: string; message: string }, at: number): Promise<void>;
}

/**
 * What to do with a run the store says was in flight when the service last stopped. "adopted":
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
  launch(run: Run, workload: Workload): Promise<Placement>;
  /** Asks a launched run to stop; its end arrives through the listener. False when it is not running here. */
  cancel(run: RunRef): Promise<boolean>;
  /** Called once at start-up, before dispatching, with every run the store holds as STARTING or RUNNING; decisions by job id. */
  recover(runs: InFlightRun[]): Promise<Map<string, Recovery>>;
  activeRuns(): number;
  /** Stops watching; a runtime that owns its processes waits up to `graceMs` for them, then stops them as interrupted. */
  shutdown(graceMs: number): Promise<void>;
  /** A leader handing over: stops following its runs without stopping them; the next leader's recovery adopts them. */
  detach?(): Promise<void>;
}
