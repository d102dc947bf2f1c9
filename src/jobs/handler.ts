import type { z } from "zod";
import type { KubernetesHints, RunEnd, Workload } from "../runtime/runtime.js";
import type { EgressTarget } from "./egress/admission.js";
import type { JobRecord, JobResources, RetryPolicy } from "./job.js";

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
  /**
   * The URLs a job of this type sends requests to that its request chose (a load test's target, a
   * probed app, a completion callback), each with its field in the type's spec (`target_url`): the
   * egress policy (src/jobs/egress/) admits every one before the job is created.
   */
  egressTargets?(params: z.infer<Schema>): EgressTarget[];
}
