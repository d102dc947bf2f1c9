// A ScheduleJobRequest message (the wire type) as the domain's JobRequest. ScheduleJob's
// requests, and the templates schedules and team rounds still keep as wire messages, come in
// through here. It belongs to src/api/ once schedules and the Hub have domain types of their
// own (issue #14, item 3): test/import-direction.test.ts lists it as a known wire-type import.
import {
  BudgetJob, CriteriaType, GitActivityJob, HttpCheckJob, JudgeScoreJob, K6Job, TimerJob, type ScheduleJobRequest,
} from "../../gen/jobscheduler/v1/jobscheduler.js";
import type { CriteriaTypeRequest, JobRequest } from "./request.js";

/** The criteria type's name without the prefix, null when unset, the number itself when it has no name. */
function criteriaTypeOf(value: CriteriaType): CriteriaTypeRequest {
  if (value === CriteriaType.CRITERIA_TYPE_UNSPECIFIED) return null;
  const name = Number.isInteger(value) ? CriteriaType[value] : undefined;
  return name ? name.replace(/^CRITERIA_TYPE_/, "") : { unknown: value };
}

type Spec = NonNullable<ScheduleJobRequest["spec"]>;

/** Each job type's parameters in proto3 JSON, the form its schema reads. */
function paramsJson(spec: Spec): unknown {
  switch (spec.$case) {
    case "timer": return TimerJob.toJSON(spec.value);
    case "httpCheck": return HttpCheckJob.toJSON(spec.value);
    case "gitActivity": return GitActivityJob.toJSON(spec.value);
    case "budget": return BudgetJob.toJSON(spec.value);
    case "judgeScore": return JudgeScoreJob.toJSON(spec.value);
    case "k6": return K6Job.toJSON(spec.value);
  }
}

export function jobRequestFromWire(request: ScheduleJobRequest): JobRequest {
  let spec: JobRequest["spec"];
  if (request.spec) {
    // The oneof member as ts-proto names it (httpCheck) and as the registry and clients do (http_check).
    const member = request.spec.$case;
    spec = { type: member.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), params: paramsJson(request.spec) };
  }
  return {
    name: request.name,
    idempotencyKey: request.idempotencyKey,
    labels: request.labels,
    resources: request.resources,
    timeout: request.timeout,
    retryPolicy: request.retryPolicy,
    priority: request.priority,
    concurrencyKey: request.concurrencyKey,
    runAt: request.runAt ? request.runAt.getTime() : undefined,
    queueTimeout: request.queueTimeout,
    team: request.team,
    criteriaType: criteriaTypeOf(request.criteriaType),
    spec,
  };
}
