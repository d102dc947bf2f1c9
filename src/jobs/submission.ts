import type { ValidatedSubmission } from "../api/validation.js";
import { newJobId } from "./ids.js";
import type { JobRecord } from "./job.js";

export function newJobRecord(submission: ValidatedSubmission, now = Date.now()): JobRecord {
  return {
    id: newJobId(now),
    name: submission.name,
    type: submission.handler.type,
    state: "QUEUED",
    reason: "",
    message: "",
    attempt: 1,
    maxAttempts: submission.maxAttempts,
    priority: 0,
    idempotencyKey: submission.idempotencyKey,
    requestHash: submission.requestHash,
    labels: submission.labels,
    resources: submission.resources,
    timeoutMs: submission.timeoutMs,
    params: submission.params,
    result: null,
    placement: null,
    outputTail: "",
    cancelRequested: false,
    sequence: 1,
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    finishedAt: null,
  };
}
