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
   * Inputs too big or too structured for env (scripts): file name -> content. On Kubernetes they
   * are a ConfigMap owned by the Job, mounted read-only; the program finds them in $JOB_FILES_DIR.
   */
  files?: Record<string, string>;
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
  | { ok: true; result: Record<string, unknown> }
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
  parseResult(raw: string): ParsedResult;
  /** Kubernetes runtime hints (backoffLimit, retryable exit codes). */
  readonly kubernetes?: KubernetesHints;
  /** The concurrency key a job gets when the request names none (e.g. the target host). */
  defaultConcurrencyKey?(params: z.infer<Schema>): string | null;
  /**
   * Whether a failed run may be retried. Without it, infrastructure failures are
   * retryable and application verdicts are not (see isInfrastructureFailure).
   */
  isRetryable?(end: RunEnd, policy: RetryPolicy): boolean;
}
