import type { JobRecord } from "../jobs/job.js";

/** Where a schedule came from: created through the API, or declared in SCHEDULES_FILE. */
export type ScheduleSource = "api" | "config";

/**
 * A schedule's definition as stored: a JSON document the store keeps as it is given. What it
 * holds is the scheduler's ScheduleSpecCodec's business (the proto JSON of ScheduleSpec).
 */
export type StoredScheduleSpec = Readonly<Record<string, unknown>>;

/** A recurring schedule as stored. The spec is kept whole, as the JSON document it was given. */
export interface ScheduleRecord {
  id: string;
  /** Unique; declared schedules are upserted by it. Always equal to spec.name. */
  name: string;
  spec: StoredScheduleSpec;
  paused: boolean;
  pausedReason: string;
  /** The first fire time not processed yet; null when the schedule will not fire again (past its end). */
  nextFireAt: number | null;
  /** The last fire time processed (fired, skipped or missed). */
  lastFireAt: number | null;
  fires: number;
  misses: number;
  skips: number;
  source: ScheduleSource;
  createdAt: number;
  updatedAt: number;
}

/** Fields an update may set; absent ones are kept. */
export type ScheduleChange = Partial<Pick<ScheduleRecord, "spec" | "paused" | "pausedReason" | "nextFireAt" | "lastFireAt" | "source">>;

/** The outcome of processing fire times: the new position plus counts to add. */
export interface ScheduleProgress {
  lastFireAt: number | null;
  nextFireAt: number | null;
  fires: number;
  misses: number;
  skips: number;
}

export interface ScheduleQuery {
  /** Continue after this name (schedules are listed by name). */
  afterName?: string;
  /** Only schedules whose job template is bound to this team (for_each_team ones never). */
  team?: string;
  limit: number;
}

/** The record of recurring schedules; both stores implement it with the same SQL (schedule-queries.ts). */
export interface ScheduleStore {
  /** Inserts the schedule; false when another one already has its name. */
  insertSchedule(schedule: ScheduleRecord): Promise<boolean>;
  getSchedule(id: string): Promise<ScheduleRecord | null>;
  getScheduleByName(name: string): Promise<ScheduleRecord | null>;
  listSchedules(query: ScheduleQuery): Promise<ScheduleRecord[]>;
  /** Null for an unknown schedule. */
  updateSchedule(id: string, change: ScheduleChange, at: number): Promise<ScheduleRecord | null>;
  /**
   * Moves the schedule past processed fire times and adds to its counters. Null for an unknown schedule.
   * `epoch`: the leader's term (its firer's progress); refused with FencedError once a newer term began.
   */
  recordScheduleProgress(id: string, progress: ScheduleProgress, at: number, epoch?: number): Promise<ScheduleRecord | null>;
  deleteSchedule(id: string): Promise<boolean>;
  /** Unpaused schedules whose next fire time has come, earliest first. */
  dueSchedules(now: number, limit: number): Promise<ScheduleRecord[]>;
  /** The earliest next fire time of any unpaused schedule. */
  nextScheduleFireAt(): Promise<number | null>;
  /** The schedule's jobs that are QUEUED, STARTING or RUNNING, oldest first. */
  activeScheduleJobs(scheduleId: string): Promise<JobRecord[]>;
  /** How long the schedule's last `limit` finished jobs ran, newest first (jobs that never started are left out). */
  recentScheduleRuns(scheduleId: string, limit: number): Promise<ScheduleRun[]>;
}

export interface ScheduleRun {
  idempotencyKey: string | null;
  durationMs: number;
}
