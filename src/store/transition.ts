import type { JobEventRecord, JobRecord } from "../jobs/job.js";
import type { JobPatch, JobTransition } from "./store.js";

/** The job and event a transition produces, or null when the job is not in a `from` state. */
export function applyTransition(job: JobRecord, change: JobTransition): { job: JobRecord; event: JobEventRecord } | null {
  if (!change.from.includes(job.state)) return null;
  const next: JobRecord = {
    ...job,
    ...definedOnly(change.patch ?? {}),
    state: change.to,
    reason: change.reason ?? "",
    message: change.message ?? "",
    sequence: job.sequence + 1,
    updatedAt: change.at,
  };
  const event: JobEventRecord = {
    jobId: job.id,
    sequence: next.sequence,
    state: next.state,
    reason: next.reason,
    message: next.message,
    attempt: next.attempt,
    at: change.at,
  };
  return { job: next, event };
}

export function applyPatch(job: JobRecord, patch: JobPatch, at: number): JobRecord {
  return { ...job, ...definedOnly(patch), updatedAt: at };
}

function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function firstEvent(job: JobRecord): JobEventRecord {
  return { jobId: job.id, sequence: job.sequence, state: job.state, reason: job.reason, message: job.message, attempt: job.attempt, at: job.createdAt };
}
