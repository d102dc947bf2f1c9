// SQL shared by the SQLite and PostgreSQL stores. Each store supplies a dialect
// for the few places where the two differ (placeholders, JSON access).
import type { JobEventRecord, JobRecord, JobStateName } from "../jobs/job.js";
import type { JobQuery } from "./store.js";

export interface SqlDialect {
  /** Placeholder for the n-th parameter (1-based). */
  param(n: number): string;
  /** SQL for "the value of label <key param>", and the bound value that names the key. */
  labelValue(paramSql: string): string;
  labelExists(paramSql: string): string;
  labelKeyArg(key: string): string;
}

export const JOB_COLUMNS = [
  "id", "name", "type", "state", "reason", "message", "attempt", "max_attempts", "priority",
  "idempotency_key", "request_hash", "labels", "resources", "timeout_ms", "params", "result",
  "placement", "output_tail", "cancel_requested", "sequence", "created_at", "updated_at",
  "started_at", "finished_at", "concurrency_key", "exclusive_group", "run_at", "queue_deadline",
  "retry_policy", "attempts", "schedule_id", "retry_of", "team", "criteria_type",
] as const;

type Json = (value: unknown) => unknown;

/** Row values in JOB_COLUMNS order; `json` encodes JSON columns the way the driver wants them. */
export function jobRowValues(job: JobRecord, json: Json): unknown[] {
  return [
    job.id, job.name, job.type, job.state, job.reason, job.message, job.attempt, job.maxAttempts,
    job.priority, job.idempotencyKey, job.requestHash, json(job.labels), json(job.resources),
    job.timeoutMs, json(job.params), job.result === null ? null : json(job.result),
    job.placement === null ? null : json(job.placement), job.outputTail, job.cancelRequested ? 1 : 0,
    job.sequence, job.createdAt, job.updatedAt, job.startedAt, job.finishedAt, job.concurrencyKey,
    job.exclusiveGroup, job.runAt, job.queueDeadline, json(job.retryPolicy), json(job.attempts), job.scheduleId,
    job.retryOf, job.team === null ? null : json(job.team), job.criteriaType,
  ];
}

type Row = Record<string, unknown>;

const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

export function rowToJob(row: Row, parse: (value: unknown) => unknown): JobRecord {
  return {
    id: row.id as string,
    name: row.name as string,
    type: row.type as string,
    state: row.state as JobStateName,
    reason: row.reason as string,
    message: row.message as string,
    attempt: num(row.attempt),
    maxAttempts: num(row.max_attempts),
    priority: num(row.priority),
    idempotencyKey: (row.idempotency_key as string | null) ?? null,
    requestHash: row.request_hash as string,
    labels: parse(row.labels) as JobRecord["labels"],
    resources: parse(row.resources) as JobRecord["resources"],
    timeoutMs: num(row.timeout_ms),
    params: parse(row.params) as JobRecord["params"],
    result: row.result === null ? null : (parse(row.result) as JobRecord["result"]),
    placement: row.placement === null ? null : (parse(row.placement) as JobRecord["placement"]),
    outputTail: row.output_tail as string,
    cancelRequested: Boolean(Number(row.cancel_requested)),
    sequence: num(row.sequence),
    createdAt: num(row.created_at),
    updatedAt: num(row.updated_at),
    startedAt: numOrNull(row.started_at),
    finishedAt: numOrNull(row.finished_at),
    concurrencyKey: (row.concurrency_key as string | null) ?? null,
    exclusiveGroup: (row.exclusive_group as string | null) ?? null,
    runAt: num(row.run_at),
    queueDeadline: numOrNull(row.queue_deadline),
    retryPolicy: parse(row.retry_policy) as JobRecord["retryPolicy"],
    attempts: parse(row.attempts) as JobRecord["attempts"],
    scheduleId: (row.schedule_id as string | null) ?? null,
    retryOf: (row.retry_of as string | null) ?? null,
    team: row.team === null || row.team === undefined ? null : (parse(row.team) as JobRecord["team"]),
    criteriaType: (row.criteria_type as string | null) ?? null,
  };
}

export function rowToEvent(row: Row): JobEventRecord {
  return {
    jobId: row.job_id as string,
    sequence: num(row.sequence),
    state: row.state as JobStateName,
    reason: row.reason as string,
    message: row.message as string,
    attempt: num(row.attempt),
    at: num(row.at),
  };
}

export function insertJobSql(d: SqlDialect): string {
  const placeholders = JOB_COLUMNS.map((_, i) => d.param(i + 1)).join(", ");
  return `INSERT INTO jobs (${JOB_COLUMNS.join(", ")}) VALUES (${placeholders})`;
}

export const INSERT_EVENT_COLUMNS = "job_id, sequence, state, reason, message, attempt, at";

export function insertEventSql(d: SqlDialect): string {
  return `INSERT INTO job_events (${INSERT_EVENT_COLUMNS}) VALUES (${[1, 2, 3, 4, 5, 6, 7].map(d.param).join(", ")})`;
}

export function eventValues(e: JobEventRecord): unknown[] {
  return [e.jobId, e.sequence, e.state, e.reason, e.message, e.attempt, e.at];
}

const MUTABLE_COLUMNS = [
  "state", "reason", "message", "attempt", "result", "placement", "output_tail",
  "cancel_requested", "sequence", "updated_at", "started_at", "finished_at", "run_at", "queue_deadline",
  "attempts",
] as const;

/** Writes every column a job's life can change; the last parameter is the id. */
export function updateJobSql(d: SqlDialect): string {
  const sets = MUTABLE_COLUMNS.map((column, i) => `${column} = ${d.param(i + 1)}`).join(", ");
  return `UPDATE jobs SET ${sets} WHERE id = ${d.param(MUTABLE_COLUMNS.length + 1)}`;
}

export function updateJobValues(job: JobRecord, json: Json): unknown[] {
  return [
    job.state, job.reason, job.message, job.attempt, job.result === null ? null : json(job.result),
    job.placement === null ? null : json(job.placement), job.outputTail, job.cancelRequested ? 1 : 0,
    job.sequence, job.updatedAt, job.startedAt, job.finishedAt, job.runAt, job.queueDeadline, json(job.attempts), job.id,
  ];
}

export function listJobsSql(query: JobQuery, d: SqlDialect): { sql: string; values: unknown[] } {
  const where: string[] = [];
  const values: unknown[] = [];
  const next = (value: unknown) => {
    values.push(value);
    return d.param(values.length);
  };
  if (query.type) where.push(`type = ${next(query.type)}`);
  if (query.scheduleId) where.push(`schedule_id = ${next(query.scheduleId)}`);
  // The second term lets the planner use jobs_reason, which holds only jobs with a reason.
  if (query.reason) where.push(`reason = ${next(query.reason)} AND reason <> ''`);
  if (query.states?.length) where.push(`state IN (${query.states.map(next).join(", ")})`);
  if (query.createdAfter !== undefined) where.push(`created_at > ${next(query.createdAfter)}`);
  if (query.createdBefore !== undefined) where.push(`created_at < ${next(query.createdBefore)}`);
  for (const req of query.labels ?? []) {
    const key = next(d.labelKeyArg(req.key));
    const value = d.labelValue(key);
    switch (req.op) {
      case "=":
        where.push(`${value} = ${next(req.values[0])}`);
        break;
      // These name the label twice; positional placeholders ("?") need the key bound for each use.
      case "!=":
        where.push(`(${value} IS NULL OR ${d.labelValue(next(d.labelKeyArg(req.key)))} <> ${next(req.values[0])})`);
        break;
      case "in":
        where.push(`${value} IN (${req.values.map(next).join(", ")})`);
        break;
      case "notin":
        where.push(`(${value} IS NULL OR ${d.labelValue(next(d.labelKeyArg(req.key)))} NOT IN (${req.values.map(next).join(", ")}))`);
        break;
      case "exists":
        where.push(d.labelExists(key));
        break;
      case "!exists":
        where.push(`NOT ${d.labelExists(key)}`);
        break;
    }
  }
  if (query.after) {
    const c = next(query.after.createdAt);
    const c2 = next(query.after.createdAt);
    where.push(`(created_at < ${c} OR (created_at = ${c2} AND id < ${next(query.after.id)}))`);
  }
  const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id DESC LIMIT ${next(query.limit)}`;
  return { sql, values };
}
