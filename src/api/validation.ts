// ScheduleJob's request as the domain's JobRequest, checked by the domain (src/jobs/submission/);
// and the text rules of the fields only the API reads (ids, reasons, page tokens).
import type { ScheduleJobRequest } from "../gen/jobscheduler/v1/jobscheduler.js";
import type { JobRegistry } from "../jobs/registry.js";
import { validateJobRequest, type RunAtHorizon, type Submission } from "../jobs/submission/submission.js";
import type { TextRule } from "../jobs/text-field.js";
import { jobRequestFromWire } from "./job-request-wire.js";

export { checkText, idempotencyKey } from "../jobs/submission/field-rules.js";
export { canonicalJson } from "../jobs/submission/submission.js";

/** Job, schedule and outbox item ids are UUIDs. */
export const ID_RULE: TextRule = { max: 36 };
/** Free-text reasons (CancelJob, PauseDispatching, PauseSchedule). */
export const REASON_RULE: TextRule = { max: 1024 };
/** Page tokens the service hands out are far shorter. */
export const PAGE_TOKEN_RULE: TextRule = { max: 1024 };

export function validateScheduleJob(request: ScheduleJobRequest, registry: JobRegistry, horizon?: RunAtHorizon): Submission {
  return validateJobRequest(jobRequestFromWire(request), registry, horizon);
}
