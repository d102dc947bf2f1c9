// A job request as the domain reads it, whoever sent it (ScheduleJob, a schedule's template, a
// team round). Plain values, not yet checked: validateJobRequest (submission.ts) turns one into
// a Submission or names the field at fault. src/api/ builds these from the wire messages.
import type { DurationValue } from "../duration.js";
import type { JobResources } from "../job.js";

export interface RetryPolicyRequest {
  /** 0: the type's default. */
  maxAttempts: number;
  initialBackoff?: DurationValue;
  maxBackoff?: DurationValue;
  /** 0: the default. */
  backoffMultiplier: number;
  jitter?: number;
  retryOnTimeout: boolean;
}

/** A criteria type: its name (CODE_REPO), null when unset, or a number no name is known for. */
export type CriteriaTypeRequest = string | null | { unknown: number };

export interface JobRequest {
  /** "" for the type's name. */
  name: string;
  /** "" for none. */
  idempotencyKey: string;
  labels: Record<string, string>;
  /** Quantities; "" or absent members take the type's defaults. */
  resources?: Partial<JobResources>;
  timeout?: DurationValue;
  retryPolicy?: RetryPolicyRequest;
  priority: number;
  /** "" for the type's default. */
  concurrencyKey: string;
  /** Epoch milliseconds (NaN for an instant that is no valid time); absent: due when created. */
  runAt?: number;
  queueTimeout?: DurationValue;
  team?: { slug: string; hackathonId: string };
  criteriaType: CriteriaTypeRequest;
  /**
   * The job type (as registered: http_check) and its parameters in the form the type's schema
   * reads (proto3 JSON: camelCase names, durations as "1.5s", times as RFC 3339).
   */
  spec?: { type: string; params: unknown };
}
