// Checks a ScheduleDefinition (from the API, SCHEDULES_FILE or the Hub's default rounds) and
// resolves the settings the scheduler works with. Errors are InvalidField naming the field by its
// name in the API (spec.catchup_window), which every source of a definition shares.
import { InvalidField } from "../../jobs/errors.js";
import type { JobRegistry } from "../../jobs/registry.js";
import { checkText, durationToMs, idempotencyKey } from "../../jobs/submission/field-rules.js";
import type { JobRequest } from "../../jobs/submission/request.js";
import { validateJobRequest } from "../../jobs/submission/submission.js";
import { compileCron, type CronSchedule } from "./cron.js";
import type { PolicyRequest, ScheduleDefinition } from "./definition.js";
import type { CatchupPolicyName } from "./fire-planner.js";
import type { OverlapPolicyName } from "./overlap.js";

const MAX_CATCHUP_WINDOW_MS = 31 * 24 * 3_600_000;
const MAX_JITTER_MS = 24 * 3_600_000;
const MAX_NAME_LENGTH = 200;
const MAX_CRON_LENGTH = 256;
const MAX_TIME_ZONE_LENGTH = 64;

/** A checked spec and what the scheduler needs from it. */
export interface ResolvedSpec {
  /** The definition to store: defaults written out (time zone, policies). */
  spec: ScheduleDefinition;
  cron: CronSchedule;
  overlap: OverlapPolicyName;
  catchupPolicy: CatchupPolicyName;
  catchupWindowMs: number;
  jitterMs: number;
  startTime: number | null;
  endTime: number | null;
}

const OVERLAP_POLICIES: readonly OverlapPolicyName[] = ["SKIP", "BUFFER_ONE", "ALLOW", "CANCEL_PREVIOUS"];
const CATCHUP_POLICIES: readonly CatchupPolicyName[] = ["ALL", "ONE"];

/** The policy named, the default when unset, or null for a value that names no policy. */
function policy<Name extends string>(value: PolicyRequest<Name>, names: readonly Name[], fallback: Name): Name | null {
  if (value === null) return fallback;
  return typeof value === "string" && names.includes(value) ? value : null;
}

const policyText = (value: PolicyRequest<string>) => (typeof value === "object" && value ? String(value.unknown) : String(value));

function timestamp(ms: number | undefined, field: string): number | null {
  if (ms === undefined) return null;
  if (!Number.isFinite(ms)) throw new InvalidField(field, "is not a valid timestamp");
  return ms;
}

/** Re-raises an error about a template field under the spec's path (timer.duration → spec.job_template.timer.duration). */
function underTemplate(error: unknown, prefix: string): never {
  if (error instanceof InvalidField) {
    const field = error.field ?? "";
    const message = field && error.message.startsWith(`${field}: `) ? error.message.slice(field.length + 2) : error.message;
    throw new InvalidField(field ? `${prefix}.${field}` : prefix, message);
  }
  throw error;
}

/** The template checked the way ScheduleJob checks a request, errors named under `prefix`. */
export function validateTemplate(template: JobRequest | undefined, registry: JobRegistry, prefix = "spec.job_template"): void {
  if (!template) throw new InvalidField(prefix, "is required (the job each fire creates)");
  if (template.idempotencyKey) {
    const key = idempotencyKey.safeParse(template.idempotencyKey);
    if (!key.success) throw new InvalidField(`${prefix}.idempotency_key`, key.error.issues[0].message);
    throw new InvalidField(`${prefix}.idempotency_key`, "must be empty: each fire's job gets the key schedule:<id>:<fire time>");
  }
  if (template.runAt !== undefined) throw new InvalidField(`${prefix}.run_at`, "must be empty: each fire sets it (use spec.jitter to spread fires)");
  try {
    validateJobRequest(template, registry);
  } catch (error) {
    underTemplate(error, prefix);
  }
}

/** Resolves a stored (already checked) spec. */
export function resolveSpec(spec: ScheduleDefinition, prefix = "spec"): ResolvedSpec {
  const overlap = policy(spec.overlapPolicy, OVERLAP_POLICIES, "SKIP");
  if (!overlap) throw new InvalidField(`${prefix}.overlap_policy`, `${policyText(spec.overlapPolicy)} is not an overlap policy`);
  const catchupPolicy = policy(spec.catchupPolicy, CATCHUP_POLICIES, "ALL");
  if (!catchupPolicy) throw new InvalidField(`${prefix}.catchup_policy`, `${policyText(spec.catchupPolicy)} is not a catch-up policy`);
  checkText(`${prefix}.cron`, spec.cron, { max: MAX_CRON_LENGTH });
  checkText(`${prefix}.time_zone`, spec.timeZone, { max: MAX_TIME_ZONE_LENGTH });
  const cron = compileCron(spec.cron, spec.timeZone, { cron: `${prefix}.cron`, timeZone: `${prefix}.time_zone` });
  const catchupWindowMs = durationToMs(spec.catchupWindow, `${prefix}.catchup_window`) ?? 0;
  if (catchupWindowMs > MAX_CATCHUP_WINDOW_MS) throw new InvalidField(`${prefix}.catchup_window`, "must be at most 31 days");
  const jitterMs = durationToMs(spec.jitter, `${prefix}.jitter`) ?? 0;
  if (jitterMs > MAX_JITTER_MS) throw new InvalidField(`${prefix}.jitter`, "must be at most 24h");
  const startTime = timestamp(spec.startTime, `${prefix}.start_time`);
  const endTime = timestamp(spec.endTime, `${prefix}.end_time`);
  if (startTime !== null && endTime !== null && endTime <= startTime) throw new InvalidField(`${prefix}.end_time`, "must be after start_time");
  return {
    spec: { ...spec, timeZone: cron.timeZone, overlapPolicy: overlap, catchupPolicy },
    cron,
    overlap,
    catchupPolicy,
    catchupWindowMs,
    jitterMs,
    startTime,
    endTime,
  };
}

/** Checks a spec given by a client or SCHEDULES_FILE, including its job template. */
export function validateScheduleSpec(spec: ScheduleDefinition | undefined, registry: JobRegistry, prefix = "spec"): ResolvedSpec {
  if (!spec) throw new InvalidField(prefix, "is required");
  checkText(`${prefix}.name`, spec.name, { max: MAX_NAME_LENGTH });
  const name = spec.name.trim();
  if (!name) throw new InvalidField(`${prefix}.name`, "is required");
  if (name !== spec.name) throw new InvalidField(`${prefix}.name`, "must not begin or end with spaces");
  if (/\p{C}/u.test(name)) throw new InvalidField(`${prefix}.name`, "must not contain control or format characters");
  const resolved = resolveSpec(spec, prefix);
  validateTemplate(spec.jobTemplate, registry, `${prefix}.job_template`);
  if (spec.forEachTeam) {
    const { hackathonId, teamStatus } = spec.forEachTeam;
    if (!hackathonId) throw new InvalidField(`${prefix}.for_each_team.hackathon_id`, "is required when for_each_team is set");
    checkText(`${prefix}.for_each_team.hackathon_id`, hackathonId, { max: 100 });
    if (!/^[\x21-\x7e]+$/.test(hackathonId)) throw new InvalidField(`${prefix}.for_each_team.hackathon_id`, "may hold printable ASCII without spaces only");
    checkText(`${prefix}.for_each_team.team_status`, teamStatus, { max: 64 });
  }
  return resolved;
}
