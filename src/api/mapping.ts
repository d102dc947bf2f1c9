import type { Duration } from "../gen/google/protobuf/duration.js";
import { CriteriaType, JobState, type Job, type JobEvent, type JobType, type Progress, type QueueStatus, type RetryPolicy as RetryPolicyMessage } from "../gen/jobscheduler/v1/jobscheduler.js";
import type { JobHandler } from "../jobs/handler.js";
import { paramsJsonSchema } from "../jobs/schema-helpers.js";
import { JOB_STATES, type JobEventRecord, type JobRecord, type JobStateName, type RetryPolicy } from "../jobs/job.js";
import { shareMessage } from "./shared-messages.js";

export function stateToProto(state: JobStateName): JobState {
  return JobState[`JOB_STATE_${state}`];
}

export function stateFromProto(state: JobState): JobStateName | null {
  const name = JobState[state]?.replace(/^JOB_STATE_/, "");
  return (JOB_STATES as readonly string[]).includes(name ?? "") ? (name as JobStateName) : null;
}

export function msToDuration(ms: number): Duration {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

const date = (ms: number | null) => (ms === null ? undefined : new Date(ms));

export function retryPolicyToProto(policy: RetryPolicy, maxAttempts: number): RetryPolicyMessage {
  return {
    maxAttempts,
    initialBackoff: msToDuration(policy.initialBackoffMs),
    backoffMultiplier: policy.multiplier,
    maxBackoff: msToDuration(policy.maxBackoffMs),
    jitter: policy.jitter,
    retryOnTimeout: policy.retryOnTimeout,
  };
}

// Frozen records (the SQLite store's cached rows) never change, so their message is built (and
// encoded, see shared-messages.ts) once; not a RUNNING job's, whose progress moves with the clock.
// A queued job's message also carries its queue status: the last one built is kept while the
// status stays the same.
const protoOfFrozen = new WeakMap<JobRecord, Job>();
const queuedProtoOfFrozen = new WeakMap<JobRecord, Job>();

export function jobToProto(job: JobRecord, queue?: QueueStatus): Job {
  if (!Object.isFrozen(job) || job.state === "RUNNING") return buildJob(job, queue);
  let message = protoOfFrozen.get(job);
  if (!message) protoOfFrozen.set(job, (message = shareMessage(buildJob(job))));
  if (!queue) return message;
  const last = queuedProtoOfFrozen.get(job);
  if (last?.queue && sameQueueStatus(last.queue, queue)) return last;
  const queued = shareMessage({ ...message, queue });
  queuedProtoOfFrozen.set(job, queued);
  return queued;
}

function sameQueueStatus(a: QueueStatus, b: QueueStatus): boolean {
  return a.position === b.position && a.waitingReason === b.waitingReason && a.waitingMessage === b.waitingMessage;
}

function buildJob(job: JobRecord, queue?: QueueStatus): Job {
  return {
    id: job.id,
    name: job.name,
    type: job.type,
    state: stateToProto(job.state),
    reason: job.reason,
    message: job.message,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    createTime: date(job.createdAt),
    startTime: date(job.startedAt),
    finishTime: date(job.finishedAt),
    updateTime: date(job.updatedAt),
    labels: job.labels,
    resources: job.resources,
    timeout: msToDuration(job.timeoutMs),
    params: job.params,
    result: job.result ?? undefined,
    placement: job.placement
      ? {
          runtime: job.placement.runtime,
          location: job.placement.location,
          host: job.placement.host ?? "",
          pid: job.placement.pid ?? 0,
          namespace: job.placement.namespace ?? "",
          kubernetesJobName: job.placement.kubernetesJobName ?? "",
        }
      : undefined,
    idempotencyKey: job.idempotencyKey ?? "",
    outputTail: job.outputTail,
    cancelRequested: job.cancelRequested,
    sequence: job.sequence,
    priority: job.priority,
    concurrencyKey: job.concurrencyKey ?? "",
    runAt: date(job.runAt),
    queueDeadline: date(job.queueDeadline),
    retryPolicy: retryPolicyToProto(job.retryPolicy, job.maxAttempts),
    attempts: job.attempts.map((a) => ({
      attempt: a.attempt,
      state: stateToProto(a.state),
      reason: a.reason,
      message: a.message,
      startTime: date(a.startedAt),
      finishTime: date(a.finishedAt),
    })),
    scheduleId: job.scheduleId ?? "",
    retryOf: job.retryOf ?? "",
    queue,
    team: job.team ?? undefined,
    criteriaType: job.criteriaType ? (CriteriaType[`CRITERIA_TYPE_${job.criteriaType}` as keyof typeof CriteriaType] ?? CriteriaType.CRITERIA_TYPE_UNSPECIFIED) : CriteriaType.CRITERIA_TYPE_UNSPECIFIED,
    progress: progressOf(job),
  };
}

/**
 * Elapsed/total time of a RUNNING job whose type knows its length: its validated params carry
 * `expectedRunMs` (k6: the duration or stages of the test).
 */
export function progressOf(job: JobRecord, now = Date.now()): Progress | undefined {
  const total = job.params.expectedRunMs;
  if (job.state !== "RUNNING" || job.startedAt === null || typeof total !== "number" || !(total > 0)) return undefined;
  const elapsed = Math.max(0, now - job.startedAt);
  const percent = Math.min(100, Math.floor((elapsed / total) * 100));
  return {
    elapsed: msToDuration(elapsed),
    total: msToDuration(total),
    message: elapsed <= total ? `${formatSeconds(elapsed)} of ${formatSeconds(total)} (${percent}%)` : `${formatSeconds(elapsed)}: past the planned ${formatSeconds(total)}, finishing`,
  };
}

function formatSeconds(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h ? `${h}h${String(m).padStart(2, "0")}m${String(s).padStart(2, "0")}s` : m ? `${m}m${String(s).padStart(2, "0")}s` : `${s}s`;
}

export function eventToProto(event: JobEventRecord, job?: JobRecord): JobEvent {
  return {
    sequence: event.sequence,
    time: new Date(event.at),
    state: stateToProto(event.state),
    reason: event.reason,
    message: event.message,
    attempt: event.attempt,
    job: job ? jobToProto(job) : undefined,
  };
}

export function handlerToProto(handler: JobHandler): JobType {
  return {
    name: handler.type,
    description: handler.description,
    defaultResources: handler.defaultResources,
    defaultTimeout: msToDuration(handler.defaultTimeoutMs),
    maxTimeout: msToDuration(handler.maxTimeoutMs),
    defaultMaxAttempts: handler.defaultMaxAttempts,
    paramsSchema: paramsJsonSchema(handler.paramsSchema),
  };
}
