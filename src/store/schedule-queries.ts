// Queries behind ScheduleStore, shared by both stores: each passes its own way of
// running a query, its placeholder dialect and how its driver returns JSON columns.
import type { JobRecord } from "../jobs/job.js";
import type { QueryAll, Row } from "./admission-queries.js";
import type {
  ScheduleChange, ScheduleProgress, ScheduleQuery, ScheduleRecord, ScheduleRun, ScheduleSource, StoredScheduleSpec,
} from "./schedule-store.js";
import { rowToJob, type SqlDialect } from "./sql.js";

export interface ScheduleDb {
  all: QueryAll;
  dialect: SqlDialect;
  /** Turns a JSON column as the driver returns it into a value. */
  parse: (value: unknown) => unknown;
}

const COLUMNS = [
  "id", "name", "spec", "paused", "paused_reason", "next_fire_at", "last_fire_at",
  "fires", "misses", "skips", "source", "created_at", "updated_at",
] as const;

const CHANGE_COLUMNS: Record<keyof ScheduleChange, string> = {
  spec: "spec",
  paused: "paused",
  pausedReason: "paused_reason",
  nextFireAt: "next_fire_at",
  lastFireAt: "last_fire_at",
  source: "source",
};

const specJson = (spec: StoredScheduleSpec) => JSON.stringify(spec);
const numOrNull = (value: unknown) => (value === null || value === undefined ? null : Number(value));

function changeValue(key: keyof ScheduleChange, change: ScheduleChange): unknown {
  switch (key) {
    case "spec":
      return specJson(change.spec!);
    case "paused":
      return change.paused ? 1 : 0;
    default:
      return change[key];
  }
}

export function rowToSchedule(row: Row, parse: (value: unknown) => unknown): ScheduleRecord {
  return {
    id: row.id as string,
    name: row.name as string,
    spec: parse(row.spec) as StoredScheduleSpec,
    paused: Boolean(Number(row.paused)),
    pausedReason: row.paused_reason as string,
    nextFireAt: numOrNull(row.next_fire_at),
    lastFireAt: numOrNull(row.last_fire_at),
    fires: Number(row.fires),
    misses: Number(row.misses),
    skips: Number(row.skips),
    source: row.source as ScheduleSource,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export async function insertSchedule(db: ScheduleDb, s: ScheduleRecord): Promise<boolean> {
  const values = [
    s.id, s.name, specJson(s.spec), s.paused ? 1 : 0, s.pausedReason, s.nextFireAt, s.lastFireAt,
    s.fires, s.misses, s.skips, s.source, s.createdAt, s.updatedAt,
  ];
  const placeholders = COLUMNS.map((_, i) => db.dialect.param(i + 1)).join(", ");
  const rows = await db.all(
    `INSERT INTO schedules (${COLUMNS.join(", ")}) VALUES (${placeholders}) ON CONFLICT (name) DO NOTHING RETURNING id`,
    values,
  );
  return rows.length === 1;
}

async function one(db: ScheduleDb, sql: string, values: unknown[]): Promise<ScheduleRecord | null> {
  const [row] = await db.all(sql, values);
  return row ? rowToSchedule(row, db.parse) : null;
}

export function getSchedule(db: ScheduleDb, id: string): Promise<ScheduleRecord | null> {
  return one(db, `SELECT * FROM schedules WHERE id = ${db.dialect.param(1)}`, [id]);
}

export function getScheduleByName(db: ScheduleDb, name: string): Promise<ScheduleRecord | null> {
  return one(db, `SELECT * FROM schedules WHERE name = ${db.dialect.param(1)}`, [name]);
}

export async function listSchedules(db: ScheduleDb, query: ScheduleQuery): Promise<ScheduleRecord[]> {
  const { param: p, jsonText } = db.dialect;
  // Schedules are few (tens): a team filter reads them all rather than keep an index of it.
  // Values in the order their placeholders appear (SQLite's are positional).
  const values: unknown[] = [query.afterName ?? ""];
  let team = "";
  if (query.team !== undefined) {
    values.push(query.team);
    team = ` AND ${jsonText("spec", ["jobTemplate", "team", "slug"])} = ${p(2)} AND ${jsonText("spec", ["forEachTeam"])} IS NULL`;
  }
  values.push(query.limit);
  const rows = await db.all(`SELECT * FROM schedules WHERE name > ${p(1)}${team} ORDER BY name LIMIT ${p(values.length)}`, values);
  return rows.map((row) => rowToSchedule(row, db.parse));
}

export function updateSchedule(db: ScheduleDb, id: string, change: ScheduleChange, at: number): Promise<ScheduleRecord | null> {
  const keys = (Object.keys(change) as (keyof ScheduleChange)[]).filter((k) => change[k] !== undefined && k in CHANGE_COLUMNS);
  const values = keys.map((k) => changeValue(k, change));
  const sets = keys.map((k, i) => `${CHANGE_COLUMNS[k]} = ${db.dialect.param(i + 1)}`);
  sets.push(`updated_at = ${db.dialect.param(keys.length + 1)}`);
  return one(db, `UPDATE schedules SET ${sets.join(", ")} WHERE id = ${db.dialect.param(keys.length + 2)} RETURNING *`, [...values, at, id]);
}

export function recordScheduleProgress(db: ScheduleDb, id: string, progress: ScheduleProgress, at: number): Promise<ScheduleRecord | null> {
  const p = db.dialect.param;
  return one(
    db,
    `UPDATE schedules SET last_fire_at = ${p(1)}, next_fire_at = ${p(2)}, fires = fires + ${p(3)}, misses = misses + ${p(4)},
       skips = skips + ${p(5)}, updated_at = ${p(6)} WHERE id = ${p(7)} RETURNING *`,
    [progress.lastFireAt, progress.nextFireAt, progress.fires, progress.misses, progress.skips, at, id],
  );
}

export async function deleteSchedule(db: ScheduleDb, id: string): Promise<boolean> {
  const rows = await db.all(`DELETE FROM schedules WHERE id = ${db.dialect.param(1)} RETURNING id`, [id]);
  return rows.length === 1;
}

export async function dueSchedules(db: ScheduleDb, now: number, limit: number): Promise<ScheduleRecord[]> {
  const p = db.dialect.param;
  const rows = await db.all(
    `SELECT * FROM schedules WHERE paused = 0 AND next_fire_at IS NOT NULL AND next_fire_at <= ${p(1)} ORDER BY next_fire_at, id LIMIT ${p(2)}`,
    [now, limit],
  );
  return rows.map((row) => rowToSchedule(row, db.parse));
}

export async function nextScheduleFireAt(db: ScheduleDb): Promise<number | null> {
  const [row] = await db.all("SELECT MIN(next_fire_at) AS next FROM schedules WHERE paused = 0", []);
  return numOrNull(row?.next);
}

export async function activeScheduleJobs(db: ScheduleDb, scheduleId: string): Promise<JobRecord[]> {
  const rows = await db.all(
    `SELECT * FROM jobs WHERE schedule_id = ${db.dialect.param(1)} AND state IN ('QUEUED', 'STARTING', 'RUNNING') ORDER BY created_at, id`,
    [scheduleId],
  );
  return rows.map((row) => rowToJob(row, db.parse));
}

export async function recentScheduleRuns(db: ScheduleDb, scheduleId: string, limit: number): Promise<ScheduleRun[]> {
  const p = db.dialect.param;
  const rows = await db.all(
    `SELECT idempotency_key, started_at, finished_at FROM jobs
     WHERE schedule_id = ${p(1)} AND finished_at IS NOT NULL AND started_at IS NOT NULL
     ORDER BY created_at DESC, id DESC LIMIT ${p(2)}`,
    [scheduleId, limit],
  );
  return rows.map((row) => ({
    idempotencyKey: (row.idempotency_key as string | null) ?? null,
    durationMs: Math.max(0, Number(row.finished_at) - Number(row.started_at)),
  }));
}
