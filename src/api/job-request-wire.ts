// The wire ScheduleJobRequest ⇄ the domain's JobRequest (src/jobs/submission/request.ts).
// ScheduleJob's requests come in through jobRequestFromWire; schedule templates go both ways
// (schedule-wire.ts), and the way back is exact, so a template reads as it was written.
import {
  BudgetJob, CriteriaType, GitActivityJob, HttpCheckJob, JudgeScoreJob, K6Job, TimerJob, type ScheduleJobRequest,
} from "../gen/jobscheduler/v1/jobscheduler.js";
import { InvalidField } from "../jobs/errors.js";
import type { CriteriaTypeRequest, JobRequest } from "../jobs/submission/request.js";

/** The criteria type's name without the prefix, null when unset, the number itself when it has no name. */
function criteriaTypeOf(value: CriteriaType): CriteriaTypeRequest {
  if (value === CriteriaType.CRITERIA_TYPE_UNSPECIFIED) return null;
  const name = Number.isInteger(value) ? CriteriaType[value] : undefined;
  return name ? name.replace(/^CRITERIA_TYPE_/, "") : { unknown: value };
}

function criteriaTypeToWire(value: CriteriaTypeRequest): CriteriaType {
  if (value === null) return CriteriaType.CRITERIA_TYPE_UNSPECIFIED;
  if (typeof value === "object") return value.unknown;
  const number = (CriteriaType as unknown as Record<string, number | undefined>)[`CRITERIA_TYPE_${value}`];
  if (number === undefined) throw new InvalidField("criteria_type", `${value} is not a criteria type`);
  return number;
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

/** The oneof member of a job type (as registered: http_check → httpCheck), with its parameters read from proto3 JSON. */
function specToWire(type: string, params: unknown): Spec {
  switch (type) {
    case "timer": return { $case: "timer", value: TimerJob.fromJSON(params) };
    case "http_check": return { $case: "httpCheck", value: HttpCheckJob.fromJSON(params) };
    case "git_activity": return { $case: "gitActivity", value: GitActivityJob.fromJSON(params) };
    case "budget": return { $case: "budget", value: BudgetJob.fromJSON(params) };
    case "judge_score": return { $case: "judgeScore", value: JudgeScoreJob.fromJSON(params) };
    case "k6": return { $case: "k6", value: K6Job.fromJSON(params) };
    default: throw new InvalidField("spec", `the job type ${type} has no message in the API`);
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

/** The way back: jobRequestToWire(jobRequestFromWire(m)) equals m. */
export function jobRequestToWire(request: JobRequest): ScheduleJobRequest {
  return {
    name: request.name,
    idempotencyKey: request.idempotencyKey,
    labels: request.labels,
    resources: request.resources && {
      cpuRequest: request.resources.cpuRequest ?? "",
      cpuLimit: request.resources.cpuLimit ?? "",
      memoryRequest: request.resources.memoryRequest ?? "",
      memoryLimit: request.resources.memoryLimit ?? "",
    },
    timeout: request.timeout,
    retryPolicy: request.retryPolicy,
    priority: request.priority,
    concurrencyKey: request.concurrencyKey,
    runAt: request.runAt === undefined ? undefined : new Date(request.runAt),
    queueTimeout: request.queueTimeout,
    team: request.team,
    criteriaType: criteriaTypeToWire(request.criteriaType),
    spec: request.spec && specToWire(request.spec.type, request.spec.params),
  };
}
