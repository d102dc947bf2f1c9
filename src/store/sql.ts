// SQL shared by the SQLite and PostgreSQL stores. Each store supplies a dialect
// for the few places where the two differ (placeholders, JSON access).
import type { JobEventRecord, JobRecord, JobStateName } from "../jobs/job.js";
import type { LabelRequirement } from "./label-selector.js";
import type { JobQuery } from "./store.js";

export interface SqlDialect {
  /** Placeholder for the n-th parameter (1-based). */
  param(n: number): string;
  /** SQL for "the value of label <key param>", and the bound value that names the key. */
  labelValue(paramSql: string): string;
  labelExists(paramSql: string): string;
  labelKeyArg(key: string): string;
  /** A table of (key, value) text pairs from the JSON object bound at `paramSql`. */
  jsonEachText(paramSql: string): string;
  /** The text at `path` inside the JSON column `column`; NULL when absent. */
  jsonText(column: string, path: readonly string[]): string;
}

export const JOB_COLUMNS = [
  "id", "name", "type", "state", "reason", "message", "attempt", "max_attempts", "priority",
  "idempotency_key", "request_hash", "labels", "resources", "timeout_ms", "params", "result",
  "placement", "output_tail", "cancel_requested", "sequence", "created_at", "updated_at",
  "started_at", "finished_at", "concurrency_key", "exclusive_group", "run_at", "queue_deadline",
  "retry_policy", "attempts", "schedule_id", "retry_of", "team", "criteria_type", "submitted_by", "team_slug",
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
    job.retryOf, job.team === null ? null : json(job.team), job.criteriaType, job.submittedBy ?? null, job.team?.slug ?? null,
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

/** Adds one label row per label of a job inserted with it; parameters: created_at, id, labels JSON. */
export function insertLabelsSql(d: SqlDialect): string {
  return `INSERT INTO job_labels (key, value, created_at, job_id) SELECT key, value, CAST(${d.param(1)} AS BIGINT), CAST(${d.param(2)} AS TEXT) FROM ${d.jsonEachText(d.param(3))}`;
}

/** Adds a delta to the count of jobs of one type in one state (parameters: type, state, shard, delta). */
export function countDeltaSql(d: SqlDialect): string {
  return `INSERT INTO job_counts (type, state, shard, n) VALUES (${[1, 2, 3, 4].map(d.param).join(", ")})
    ON CONFLICT (type, state, shard) DO UPDATE SET n = job_counts.n + excluded.n`;
}

export interface CountDelta {
  type: string;
  state: JobStateName;
  delta: number;
}

/**
 * The count changes of a transition (none when the state stays), in state order: every writer
 * takes the counter rows' locks in the same order, so two transitions cannot deadlock on them.
 */
export function transitionDeltas(from: JobRecord, to: JobRecord): CountDelta[] {
  if (from.state === to.state) return [];
  const deltas: CountDelta[] = [
    { type: from.type, state: from.state, delta: -1 },
    { type: to.type, state: to.state, delta: 1 },
  ];
  return deltas.sort((a, b) => (a.state < b.state ? -1 : 1));
}

/** The count changes of a batch of inserted jobs, one per (type, state), in a stable order. */
export function insertDeltas(jobs: readonly JobRecord[]): CountDelta[] {
  const byKey = new Map<string, CountDelta>();
  for (const job of jobs) {
    const key = `${job.type}\u0000${job.state}`;
    const known = byKey.get(key);
    if (known) known.delta++;
    else byKey.set(key, { type: job.type, state: job.state, delta: 1 });
  }
  return [...byKey.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : a.state < b.state ? -1 : 1));
}

export const COUNTS_SQL = "SELECT type, state, SUM(n) AS count FROM job_counts GROUP BY type, state HAVING SUM(n) <> 0";

type LabelDriver = { key: string; values: string[] };

/**
 * The part of a query that decides the order of the rows read: one label requirement (= or in)
 * is read from job_labels in list order; several states, or several values of that label, are
 * read as one ordered walk each, merged (UNION ALL) and cut to the page. Each filter alone is
 * then an index range read in list order, so a page costs about its own rows however many jobs
 * the store holds, and a filter that matches nothing costs nothing. Combined filters walk one of
 * those indexes and test the others on its rows, which can read far more than a page when they
 * rarely match together: SQLite runs ListJobs off the event loop for that reason.
 */
function pickDriver(query: JobQuery): { label?: LabelDriver; labelIndex: number } {
  const labelIndex = (query.labels ?? []).findIndex((r) => r.op === "=" || r.op === "in");
  if (labelIndex < 0) return { labelIndex };
  const req = query.labels![labelIndex];
  return { label: { key: req.key, values: [...new Set(req.values)] }, labelIndex };
}

export function listJobsSql(query: JobQuery, d: SqlDialect): { sql: string; values: unknown[] } {
  const values: unknown[] = [];
  const next = (value: unknown) => {
    values.push(value);
    return d.param(values.length);
  };
  const { label, labelIndex } = pickDriver(query);
  // Each branch of the merge is one value of the driving dimension; a query without a driver has one branch.
  const branches: ({ state?: JobStateName; labelValue?: string })[] = label
    ? label.values.map((labelValue) => ({ labelValue }))
    : query.states && query.states.length > 1
      ? [...new Set(query.states)].map((state) => ({ state }))
      : [{}];
  const branchSql = (branch: { state?: JobStateName; labelValue?: string }): string => {
    const where: string[] = [];
    // Order and creation-time bounds on the driving table's columns, so they bound its index range.
    const created = label ? "l.created_at" : "jobs.created_at";
    const id = label ? "l.job_id" : "jobs.id";
    let from = "jobs";
    if (label) {
      // CROSS JOIN makes SQLite read job_labels first (PostgreSQL plans it as any join).
      from = "job_labels l CROSS JOIN jobs";
      where.push(`l.key = ${next(label.key)}`, `l.value = ${next(branch.labelValue)}`, "jobs.id = l.job_id");
    }
    if (query.type) where.push(`jobs.type = ${next(query.type)}`);
    if (query.scheduleId) where.push(`jobs.schedule_id = ${next(query.scheduleId)}`);
    if (query.team) where.push(`jobs.team_slug = ${next(query.team)}`);
    // The second term lets the planner use jobs_reason, which holds only jobs with a reason.
    if (query.reason) where.push(`jobs.reason = ${next(query.reason)} AND jobs.reason <> ''`);
    if (branch.state) where.push(`jobs.state = ${next(branch.state)}`);
    else if (query.states?.length) where.push(`jobs.state IN (${[...new Set(query.states)].map(next).join(", ")})`);
    if (query.createdAfter !== undefined) where.push(`${created} > ${next(query.createdAfter)}`);
    if (query.createdBefore !== undefined) where.push(`${created} < ${next(query.createdBefore)}`);
    (query.labels ?? []).forEach((req, i) => {
      if (i !== labelIndex) where.push(labelCondition(req, d, next));
    });
    if (query.after) {
      // The first term bounds the index range; the second skips the rows up to the cursor within its millisecond.
      where.push(`${created} <= ${next(query.after.createdAt)}`);
      where.push(`(${created} < ${next(query.after.createdAt)} OR ${id} < ${next(query.after.id)})`);
    }
    return `SELECT jobs.* FROM ${from} ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY ${created} DESC, ${id} DESC LIMIT ${next(query.limit)}`;
  };
  if (branches.length === 1) return { sql: branchSql(branches[0]), values };
  const merged = branches.map((branch, i) => `SELECT * FROM (${branchSql(branch)}) AS b${i}`).join(" UNION ALL ");
  return { sql: `${merged} ORDER BY created_at DESC, id DESC LIMIT ${next(query.limit)}`, values };
}

function labelCondition(req: LabelRequirement, d: SqlDialect, next: (value: unknown) => string): string {
  const key = next(d.labelKeyArg(req.key));
  const value = d.labelValue(key);
  switch (req.op) {
    case "=":
      return `${value} = ${next(req.values[0])}`;
    // These name the label twice; positional placeholders ("?") need the key bound for each use.
    case "!=":
      return `(${value} IS NULL OR ${d.labelValue(next(d.labelKeyArg(req.key)))} <> ${next(req.values[0])})`;
    case "in":
      return `${value} IN (${req.values.map(next).join(", ")})`;
    case "notin":
      return `(${value} IS NULL OR ${d.labelValue(next(d.labelKeyArg(req.key)))} NOT IN (${req.values.map(next).join(", ")}))`;
    case "exists":
      return d.labelExists(key);
    case "!exists":
      return `NOT ${d.labelExists(key)}`;
  }
}
