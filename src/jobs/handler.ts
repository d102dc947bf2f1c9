import type { z } from "zod";
import type { RunEnd } from "../runtime/runtime.js";
import type { JobRecord, JobResources, RetryPolicy } from "./job.js";

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
   * A program in its own image instead of one of our collectors (k6 runners). Runtimes that run
   * containers run it (Kubernetes: one Indexed Job); the local runtime runs `collector`, which
   * starts the same program itself, each runner in a process group of its own (held to
   * `program.resources.memory`, as a pod would be; the stop signal reaches runners only through
   * `collector`). See docs/k6.md.
   */
  program?: RunnerProgram;
  /**
   * The local program says itself when the run really starts (k6: once its runners are started
   * together), by writing the line `running` to the file descriptor named by JOB_STATUS_FD; until
   * then the job stays STARTING. Without it, a local run is RUNNING as soon as it is spawned.
   */
  reportsRunning?: boolean;
}

export interface SecretEnvVar {
  value?: string;
  secretKeyRef?: { name: string; key: string };
}

/** The runner side of a job whose program is not ours (Workload.program). */
export interface RunnerProgram {
  image: string;
  /** The container's command (argv); runner i finds its index in JOB_COMPLETION_INDEX. */
  command: string[];
  /** How many runners: one Indexed Job with completions = parallelism = this. */
  parallelism: number;
  /** Per runner, requests = limits (so runners are not throttled unevenly). Default: the job's limits. */
  resources?: { cpu: string; memory: string };
  /** The runners start paused (k6 `--paused`, REST API on `port`); the runtime starts them together once all run. */
  pausedStart?: { port: number };
  /** One HTTP request before anything is created: an unreachable target ends the run FAILED / TARGET_UNREACHABLE. */
  preflight?: { url: string; timeoutMs: number };
  /** How long the runners may take to be all running (and, paused, started) before the run fails and is cleaned up. */
  startTimeoutMs: number;
}

/**
 * The raw result of a program workload (JSON): what each runner left (its termination message or
 * result file), by index, and the pre-flight outcome. The handler's parseResult merges it.
 */
export interface RunnerResults {
  runners: { index: number; exitCode: number | null; result: string | null }[];
  preflight?: { ok: boolean; url: string; status?: number; error?: string; durationMs: number };
  /** When the runners were started together (epoch ms). */
  startedAt?: number;
  /** Set by a program that could not run the test at all (e.g. its runners never all came up). */
  failure?: { reason: string; message: string };
  /** The runners were stopped before the test's end (cancel, timeout, shutdown): the figures are partial. */
  stopped?: boolean;
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

export type ParsedResult =
  /** `failure`: a valid result that is itself a failed verdict (e.g. k6 thresholds): the job ends FAILED with it, result kept. */
  | { ok: true; result: Record<string, unknown>; failure?: { reason: string; message: string } }
  | { ok: false; message: string };

/**
 * A job type. The dispatcher, runtimes, store and API know nothing of any one type:
 * they only call these members (the same idea as Kueue's integration registry).
 */
export interface JobHandler<Schema extends z.ZodType<Record<string, unknown>> = z.ZodType<Record<string, unknown>>> {
  /** The type name clients see, e.g. "timer". Matches the `oneof spec` member. */
  readonly type: string;
  readonly description: string;
  /** Validates the spec (already mapped from proto to plain JSON) and applies defaults. */
  readonly paramsSchema: Schema;
  readonly defaultResources: JobResources;
  readonly defaultTimeoutMs: number;
  readonly maxTimeoutMs: number;
  readonly defaultMaxAttempts: number;
  buildWorkload(job: JobRecord & { params: z.infer<Schema> }): Workload;
  /** `job` (the record the run belongs to) is given when known, for results that depend on it. */
  parseResult(raw: string, job?: JobRecord): ParsedResult;
  /** Non-zero exit codes of the type's program that are verdicts, not crashes (k6: 99); its result is parsed as usual. */
  readonly verdictExitCodes?: readonly number[];
  /**
   * Whether this server can run the type at all (e.g. a k6 binary for local runs): a message saying
   * why not makes ScheduleJob answer FAILED_PRECONDITION.
   */
  unavailableReason?(): string | null;
  /** Kubernetes runtime hints (backoffLimit, retryable exit codes). */
  readonly kubernetes?: KubernetesHints;
  /** The concurrency key a job gets when the request names none (e.g. the target host). */
  defaultConcurrencyKey?(params: z.infer<Schema>): string | null;
  /**
   * Whether a failed run may be retried. Without it, infrastructure failures are
   * retryable and application verdicts are not (see isInfrastructureFailure).
   */
  isRetryable?(end: RunEnd, policy: RetryPolicy): boolean;
  /**
   * The completion callback of a job that SUCCEEDED with `result`, or null: the service POSTs
   * `body` to `url` through the outbox (written with the job's end, delivered at least once with
   * the Idempotency-Key "callback:<job id>"); the workload never posts it itself.
   */
  completionCallback?(job: JobRecord & { params: z.infer<Schema> }, result: Record<string, unknown>, finishedAt: number): { url: string; body: Record<string, unknown> } | null;
}
