import { RunReason, type Placement } from "../runtime/runtime.js";

export const JOB_STATES = ["QUEUED", "STARTING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export type JobStateName = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: readonly JobStateName[] = ["SUCCEEDED", "FAILED", "CANCELLED"];
export const ACTIVE_STATES: readonly JobStateName[] = ["STARTING", "RUNNING"];

export function isTerminal(state: JobStateName): boolean {
  return TERMINAL_STATES.includes(state);
}

/** Machine-readable reasons carried by a job's `reason` field: the runtimes' own, and the lifecycle's. */
export const Reason = {
  ...RunReason,
  TIMED_OUT: "TIMED_OUT",
  EXIT_CODE: "EXIT_CODE",
  INTERRUPTED: "INTERRUPTED",
  CANCELLED_BY_USER: "CANCELLED_BY_USER",
  LAUNCH_FAILED: "LAUNCH_FAILED",
  RESULT_INVALID: "RESULT_INVALID",
  QUEUE_TIMEOUT: "QUEUE_TIMEOUT",
  RETRIES_EXHAUSTED: "RETRIES_EXHAUSTED",
} as const;

/** Kubernetes quantities ("250m", "128Mi"), as a job requests them. */
export interface JobResources {
  cpuRequest: string;
  cpuLimit: string;
  memoryRequest: string;
  memoryLimit: string;
}

/** Where the job's current attempt runs, as its runtime reported it. */
export type JobPlacement = Placement;

/** How a job's failed attempts are retried; maxAttempts lives on the job itself. */
export interface RetryPolicy {
  initialBackoffMs: number;
  multiplier: number;
  maxBackoffMs: number;
  /** 0..1: each delay is spread by up to this fraction, so retries of a burst do not align. */
  jitter: number;
  retryOnTimeout: boolean;
}

/** The policy of a request that sets none (or leaves parts of it unset). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  initialBackoffMs: 1000,
  multiplier: 2,
  maxBackoffMs: 300_000,
  jitter: 0.2,
  retryOnTimeout: false,
};

/** One finished attempt of a job, kept when the job is retried. */
export interface AttemptRecord {
  attempt: number;
  state: JobStateName;
  reason: string;
  message: string;
  startedAt: number | null;
  finishedAt: number;
}

/** The hackathon team a job measures. */
export interface TeamBinding {
  slug: string;
  hackathonId: string;
}

/** A job as the store holds it. Times are epoch milliseconds. */
export interface JobRecord {
  id: string;
  name: string;
  type: string;
  state: JobStateName;
  reason: string;
  message: string;
  attempt: number;
  maxAttempts: number;
  priority: number;
  /** Jobs sharing a key are limited together (e.g. one load test per target host). */
  concurrencyKey: string | null;
  /** Jobs sharing a group never run at the same time (a schedule's BUFFER_ONE overlap policy). */
  exclusiveGroup: string | null;
  /** Not admitted before this time (delayed jobs, retry back-off, schedule jitter). */
  runAt: number;
  /** A job still queued at this time fails with QUEUE_TIMEOUT. */
  queueDeadline: number | null;
  retryPolicy: RetryPolicy;
  attempts: AttemptRecord[];
  scheduleId: string | null;
  /** The job this one re-runs (RetryJob). */
  retryOf: string | null;
  team: TeamBinding | null;
  /** The Hub criterion this job's result is reported as (e.g. CODE_REPO), if any. */
  criteriaType: string | null;
  /**
   * Who submitted it (API key id or certificate subject), set by admission; stored for the
   * per-key quotas, which count in SQL, and not read back into the record.
   */
  submittedBy?: string | null;
  idempotencyKey: string | null;
  /** Hash of the request that created the job, to tell a true repeat from a key reused for another request. */
  requestHash: string;
  labels: Record<string, string>;
  resources: JobResources;
  timeoutMs: number;
  params: Record<string, unknown>;
  result: Record<string, unknown> | null;
  placement: JobPlacement | null;
  outputTail: string;
  cancelRequested: boolean;
  sequence: number;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** One stored transition of a job; `sequence` counts from 1 per job. */
export interface JobEventRecord {
  jobId: string;
  sequence: number;
  state: JobStateName;
  reason: string;
  message: string;
  attempt: number;
  at: number;
}
