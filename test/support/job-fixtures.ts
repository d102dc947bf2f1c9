import { randomUUID } from "node:crypto";
import type { JobRecord } from "../../src/jobs/job.js";

/** A freshly queued job (sequence 1, as a store receives it); overrides replace any field. */
export function makeJob(overrides: Partial<JobRecord> = {}): JobRecord {
  const now = overrides.createdAt ?? Date.now();
  return {
    id: randomUUID(),
    name: "test job",
    type: "timer",
    state: "QUEUED",
    reason: "",
    message: "",
    attempt: 1,
    maxAttempts: 1,
    priority: 0,
    concurrencyKey: null,
    exclusiveGroup: null,
    runAt: now,
    queueDeadline: null,
    retryPolicy: { initialBackoffMs: 1000, multiplier: 2, maxBackoffMs: 300_000, jitter: 0.2, retryOnTimeout: false },
    attempts: [],
    scheduleId: null,
    retryOf: null,
    team: null,
    criteriaType: null,
    idempotencyKey: null,
    requestHash: "request-hash",
    labels: {},
    resources: { cpuRequest: "100m", cpuLimit: "500m", memoryRequest: "64Mi", memoryLimit: "128Mi" },
    timeoutMs: 60_000,
    params: {},
    result: null,
    placement: null,
    outputTail: "",
    cancelRequested: false,
    sequence: 1,
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    finishedAt: null,
    ...overrides,
  };
}
