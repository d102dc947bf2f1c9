// The wire ScheduleSpec ⇄ the domain's ScheduleDefinition (src/dispatch/schedules/definition.ts),
// and the form a definition is stored in: the proto JSON of its ScheduleSpec, as stored since the
// schedules table exists (existing rows load as they are; test/schedule-wire.test.ts pins it).
import type { CatchupPolicyName } from "../dispatch/schedules/fire-planner.js";
import type { PolicyRequest, ScheduleDefinition, ScheduleSpecCodec } from "../dispatch/schedules/definition.js";
import type { OverlapPolicyName } from "../dispatch/schedules/overlap.js";
import { CatchupPolicy, OverlapPolicy, ScheduleSpec } from "../gen/jobscheduler/v1/jobscheduler.js";
import { InvalidField } from "../jobs/errors.js";
import type { StoredScheduleSpec } from "../store/schedule-store.js";
import { jobRequestFromWire, jobRequestToWire } from "./job-request-wire.js";

type EnumObject = Record<string | number, string | number>;

/** An enum value as its name without the prefix, null for 0 (unset), the number itself when it has no name. */
function policyOf<Name extends string>(values: EnumObject, prefix: string, value: number): PolicyRequest<Name> {
  if (value === 0) return null;
  const name = Number.isInteger(value) ? values[value] : undefined;
  return typeof name === "string" ? (name.slice(prefix.length) as Name) : { unknown: value };
}

function policyToWire(values: EnumObject, prefix: string, value: PolicyRequest<string>, field: string): number {
  if (value === null) return 0;
  if (typeof value === "object") return value.unknown;
  const number = values[`${prefix}${value}`];
  if (typeof number !== "number") throw new InvalidField(field, `${value} is not a policy`);
  return number;
}

const time = (value: Date | undefined) => (value === undefined ? undefined : value.getTime());

export function scheduleSpecFromWire(spec: ScheduleSpec): ScheduleDefinition {
  return {
    name: spec.name,
    cron: spec.cron,
    timeZone: spec.timeZone,
    jobTemplate: spec.jobTemplate && jobRequestFromWire(spec.jobTemplate),
    overlapPolicy: policyOf<OverlapPolicyName>(OverlapPolicy, "OVERLAP_POLICY_", spec.overlapPolicy),
    catchupWindow: spec.catchupWindow,
    catchupPolicy: policyOf<CatchupPolicyName>(CatchupPolicy, "CATCHUP_POLICY_", spec.catchupPolicy),
    jitter: spec.jitter,
    startTime: time(spec.startTime),
    endTime: time(spec.endTime),
    forEachTeam: spec.forEachTeam,
  };
}

/** The way back: scheduleSpecToWire(scheduleSpecFromWire(m)) equals m. */
export function scheduleSpecToWire(spec: ScheduleDefinition): ScheduleSpec {
  return {
    name: spec.name,
    cron: spec.cron,
    timeZone: spec.timeZone,
    jobTemplate: spec.jobTemplate && jobRequestToWire(spec.jobTemplate),
    overlapPolicy: policyToWire(OverlapPolicy, "OVERLAP_POLICY_", spec.overlapPolicy, "spec.overlap_policy"),
    catchupWindow: spec.catchupWindow,
    catchupPolicy: policyToWire(CatchupPolicy, "CATCHUP_POLICY_", spec.catchupPolicy, "spec.catchup_policy"),
    jitter: spec.jitter,
    startTime: spec.startTime === undefined ? undefined : new Date(spec.startTime),
    endTime: spec.endTime === undefined ? undefined : new Date(spec.endTime),
    forEachTeam: spec.forEachTeam,
  };
}

/** A request's spec, absent or not (the domain names a missing one). */
export const optionalScheduleSpecFromWire = (spec: ScheduleSpec | undefined) => spec && scheduleSpecFromWire(spec);

/** Definitions stored as the proto JSON of their ScheduleSpec (ts-proto's toJSON: camelCase, enums by name, defaults left out). */
export const protoJsonScheduleSpecs: ScheduleSpecCodec = {
  toStored: (spec) => ScheduleSpec.toJSON(scheduleSpecToWire(spec)) as StoredScheduleSpec,
  fromStored: (stored) => scheduleSpecFromWire(ScheduleSpec.fromJSON(stored)),
};
