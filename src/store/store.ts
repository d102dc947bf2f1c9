import type { JobEventRecord, JobPlacement, JobRecord, JobStateName } from "../jobs/job.js";
import type { ActiveCounts, DispatchCursor, QueuedCount } from "./admission-queries.js";
import type { LabelRequirement } from "./label-selector.js";
import type { OutboxInsert, OutboxStore } from "./outbox-queries.js";
import type { JobFeedHandlers } from "./postgres/job-feed.js";

export interface JobCursor {
  createdAt: number;
  id: string;
}

export interface JobQuery {
  type?: string;
  scheduleId?: string;
  /** Jobs bound to this team (its slug). */
  team?: string;
  reason?: string;
  states?: JobStateName[];
  labels?: LabelRequirement[];
  createdAfter?: number;
  createdBefore?: number;
  /** Continue after this job (newest-first order). */
  after?: JobCursor;
  limit: number;
}

/** Fields a transition may change besides state, reason and message. */
export type JobPatch = Partial<
  Pick<
    JobRecord,
    "attempt" | "result" | "placement" | "outputTail" | "startedAt" | "finishedAt" | "cancelRequested" | "runAt" | "queueDeadline" | "attempts"
  >
>;

export interface JobTransition {
  /** Compare-and-set: the transition happens only when the job is in one of these states. */
  from: readonly JobStateName[];
  to: JobStateName;
  reason?: string;
  message?: string;
  patch?: JobPatch;
  /** Outbox rows (a criterion report for the Hub, a completion callback), written in the same transaction (only when the transition happens). */
  outbox?: OutboxInsert[];
  at: number;
  /** A leader-only write: the epoch of the writer's term; refused with FencedError once a newer term began (store/fencing.ts). */
  epoch?: number;
}

export interface TransitionResult {
  job: JobRecord;
  event: JobEventRecord;
}

export interface StateCount {
  type: string;
  state: JobStateName;
  count: number;
}

/**
 * The record of every job. Both implementations (SQLite, PostgreSQL) pass the same
 * conformance suite (test/store.test.ts). Every state change goes through
 * `transition`, which writes the job row and its event in one transaction.
 */
export interface JobStore {
  readonly kind: "sqlite" | "postgres";
  /** Criteria reports for the Hub (src/hub/outbox.ts). */
  readonly outbox: OutboxStore;
  migrate(): Promise<number>;
  /**
   * Inserts the job with its first event, or, when a job with the same
   * idempotency key exists, returns that one with created=false.
   */
  createJob(job: JobRecord): Promise<{ job: JobRecord; created: boolean }>;
  getJob(id: string): Promise<JobRecord | null>;
  listJobs(query: JobQuery): Promise<JobRecord[]>;
  transition(id: string, change: JobTransition): Promise<TransitionResult | null>;
  /** Updates non-state fields (no event). Returns null for an unknown job. */
  patchJob(id: string, patch: Pick<JobPatch, "placement" | "outputTail" | "cancelRequested">, at: number): Promise<JobRecord | null>;
  listEvents(jobId: string, afterSequence: number): Promise<JobEventRecord[]>;
  /** Jobs in the given states, in dispatch order: priority desc, then oldest first. */
  jobsInDispatchOrder(states: readonly JobStateName[], limit: number): Promise<JobRecord[]>;
  /** From counts maintained with every insert and state change: no count over the jobs. */
  countByTypeAndState(): Promise<StateCount[]>;
  /** Jobs STARTING or RUNNING, by type, concurrency key and exclusive group. */
  activeCounts(): Promise<ActiveCounts>;
  /** QUEUED jobs whose run_at has come, in dispatch order, optionally after a cursor. */
  dueQueuedJobs(now: number, limit: number, after?: DispatchCursor): Promise<JobRecord[]>;
  /** The dispatch-order key of the n-th (1-based) due queued job, or null when fewer are due. */
  nthDueQueued(now: number, n: number): Promise<DispatchCursor | null>;
  /** QUEUED jobs whose queue deadline has passed. */
  expiredQueuedJobs(now: number, limit: number): Promise<JobRecord[]>;
  /** When the next delayed job becomes due or the next queue deadline passes. */
  nextQueueChange(now: number): Promise<number | null>;
  /** 1-based position among due queued jobs, exact up to `bound` jobs ahead; `bound + 1` beyond. */
  queuePosition(job: JobRecord, now: number, bound: number): Promise<number>;
  queuedCounts(now: number): Promise<QueuedCount[]>;
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string | null): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
  /** The V8 heaps of threads the store runs (SQLite: the reader and checkpoint thread), for /metrics. */
  threadHeaps?(): Promise<{ thread: string; used: number; total: number; external: number }[]>;
  /** Stores shared by replicas (PostgreSQL): what the others commit, as they commit it. */
  listen?(handlers: JobFeedHandlers): Promise<{ close(): Promise<void> }>;
}

export type { JobPlacement };
