// A recurring schedule as the domain reads it, whoever declared it (CreateSchedule,
// SCHEDULES_FILE, the Hub's default team rounds). Plain values, not yet checked:
// validateScheduleSpec (spec.ts) checks one and names the field at fault. src/api/ maps the
// wire ScheduleSpec to and from this, and owns the form it is stored in (ScheduleSpecCodec).
import type { DurationValue } from "../../jobs/duration.js";
import type { JobRequest } from "../../jobs/submission/request.js";
import type { ScheduleRecord, StoredScheduleSpec } from "../../store/schedule-store.js";
import type { CatchupPolicyName } from "./fire-planner.js";
import type { OverlapPolicyName } from "./overlap.js";

/** A policy by name, null when unset (the default), or a number no name is known for. */
export type PolicyRequest<Name extends string> = Name | null | { unknown: number };

/** Runs the job template once per team of a hackathon at each fire (src/hub/fanout.ts). */
export interface TeamFanOutSpec {
  hackathonId: string;
  /** "" for APPROVED. */
  teamStatus: string;
}

export interface ScheduleDefinition {
  /** Unique among schedules; declared schedules are upserted by it. */
  name: string;
  cron: string;
  /** IANA name; "" for UTC. */
  timeZone: string;
  /** The job each fire creates (each team's, for a fan-out). */
  jobTemplate?: JobRequest;
  overlapPolicy: PolicyRequest<OverlapPolicyName>;
  catchupWindow?: DurationValue;
  catchupPolicy: PolicyRequest<CatchupPolicyName>;
  jitter?: DurationValue;
  /** Epoch milliseconds (NaN for an instant that is no valid time); inclusive. */
  startTime?: number;
  /** Epoch milliseconds; exclusive. */
  endTime?: number;
  forEachTeam?: TeamFanOutSpec;
}

/** A schedule as the scheduler hands it out: its record, with the definition read from what is stored. */
export interface Schedule extends Omit<ScheduleRecord, "spec"> {
  spec: ScheduleDefinition;
}

/**
 * How a definition is stored and read back. The API implements it (the proto JSON of
 * ScheduleSpec, the format stored since the schedules table exists), so GetSchedule and the
 * stored rows agree.
 */
export interface ScheduleSpecCodec {
  toStored(spec: ScheduleDefinition): StoredScheduleSpec;
  fromStored(stored: StoredScheduleSpec): ScheduleDefinition;
}
