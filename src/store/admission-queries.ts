// Queries the dispatcher runs to admit jobs. Shared by both stores: each passes
// its own way of running a query and its placeholder dialect.
import type { JobRecord } from "../jobs/job.js";
import type { SqlDialect } from "./sql.js";

/** Jobs STARTING or RUNNING, counted the ways the limits need. */
export interface ActiveCounts {
  total: number;
  byType: Map<string, number>;
  byKey: Map<string, number>;
  byGroup: Map<string, number>;
}

export function emptyCounts(): ActiveCounts {
  return { total: 0, byType: new Map(), byKey: new Map(), byGroup: new Map() };
}

export type Row = Record<string, unknown>;
export type QueryAll = (sql: string, values: unknown[]) => Promise<Row[]>;

/** The position of a queued job in dispatch order (priority desc, then oldest first). */
export interface DispatchCursor {
  priority: number;
  createdAt: number;
  id: string;
}

export interface QueuedCount {
  type: string;
  /** DUE, DELAYED or RETRY_BACKOFF. */
  wait: string;
  count: number;
}

export async function activeCounts(all: QueryAll): Promise<ActiveCounts> {
  const rows = await all(
    "SELECT type, concurrency_key, exclusive_group, COUNT(*) AS n FROM jobs WHERE state IN ('STARTING', 'RUNNING') GROUP BY type, concurrency_key, exclusive_group",
    [],
  );
  const counts = emptyCounts();
  for (const row of rows) {
    const n = Number(row.n);
    counts.total += n;
    counts.byType.set(row.type as string, (counts.byType.get(row.type as string) ?? 0) + n);
    if (row.concurrency_key !== null) counts.byKey.set(row.concurrency_key as string, (counts.byKey.get(row.concurrency_key as string) ?? 0) + n);
    if (row.exclusive_group !== null) counts.byGroup.set(row.exclusive_group as string, (counts.byGroup.get(row.exclusive_group as string) ?? 0) + n);
  }
  return counts;
}

function afterCursorSql(d: SqlDialect, first: number): string {
  const [p1, p2, c1, c2, i] = [0, 1, 2, 3, 4].map((k) => d.param(first + k));
  return `(priority < ${p1} OR (priority = ${p2} AND (created_at > ${c1} OR (created_at = ${c2} AND id > ${i}))))`;
}

/** Due queued jobs in dispatch order, after `after` when paging through the backlog. */
export async function dueQueuedJobs(all: QueryAll, d: SqlDialect, now: number, limit: number, after?: DispatchCursor): Promise<Row[]> {
  const values: unknown[] = [now];
  let cursor = "";
  if (after) {
    cursor = ` AND ${afterCursorSql(d, 2)}`;
    values.push(after.priority, after.priority, after.createdAt, after.createdAt, after.id);
  }
  values.push(limit);
  // "+run_at" keeps SQLite's planner on the dispatch-order index (a range on run_at would
  // make it sort the whole queue); the unary plus is a no-op for PostgreSQL.
  return all(
    `SELECT * FROM jobs WHERE state = 'QUEUED' AND +run_at <= ${d.param(1)}${cursor} ORDER BY priority DESC, created_at, id LIMIT ${d.param(values.length)}`,
    values,
  );
}

/**
 * The dispatch-order key of the n-th (1-based) due queued job, or null when fewer are due: the
 * line beyond which queue positions are not counted. Read from the dispatch index alone, one
 * row materialised.
 */
export async function nthDueQueued(all: QueryAll, d: SqlDialect, now: number, n: number): Promise<DispatchCursor | null> {
  const [row] = await all(
    `SELECT priority, created_at, id FROM jobs WHERE state = 'QUEUED' AND +run_at <= ${d.param(1)} ORDER BY priority DESC, created_at, id LIMIT 1 OFFSET ${d.param(2)}`,
    [now, n - 1],
  );
  return row ? { priority: Number(row.priority), createdAt: Number(row.created_at), id: row.id as string } : null;
}

export async function expiredQueuedJobs(all: QueryAll, d: SqlDialect, now: number, limit: number): Promise<Row[]> {
  return all(
    `SELECT * FROM jobs WHERE state = 'QUEUED' AND queue_deadline IS NOT NULL AND queue_deadline <= ${d.param(1)} ORDER BY queue_deadline LIMIT ${d.param(2)}`,
    [now, limit],
  );
}

/** The next moment something changes in the queue by itself: a delay ending or a deadline passing. */
export async function nextQueueChange(all: QueryAll, d: SqlDialect, now: number): Promise<number | null> {
  const [row] = await all(
    `SELECT MIN(run_at) AS next_due, (SELECT MIN(queue_deadline) FROM jobs WHERE state = 'QUEUED' AND queue_deadline > ${d.param(1)}) AS next_deadline
       FROM jobs WHERE state = 'QUEUED' AND run_at > ${d.param(2)}`,
    [now, now],
  );
  const times = [row?.next_due, row?.next_deadline].filter((t) => t !== null && t !== undefined).map(Number);
  return times.length ? Math.min(...times) : null;
}

/**
 * 1-based position among due queued jobs, counted up to `bound` jobs ahead: a job further back
 * gets `bound + 1`. Two index ranges of the dispatch index (higher priority; same priority and
 * earlier; "+run_at" keeps SQLite on it), read together for at most `bound` entries, so the cost
 * does not grow with the queue; one statement, so one round trip.
 */
export async function queuePosition(all: QueryAll, d: SqlDialect, job: JobRecord, now: number, bound: number): Promise<number> {
  const p = (n: number) => d.param(n);
  const [row] = await all(
    `WITH higher AS (SELECT COUNT(*) AS n FROM (SELECT 1 FROM jobs WHERE state = 'QUEUED' AND priority > ${p(1)} AND +run_at <= ${p(2)} LIMIT ${p(3)}) AS ahead)
     SELECT higher.n AS higher, (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE state = 'QUEUED' AND priority = ${p(4)} AND created_at <= ${p(5)}
       AND (created_at < ${p(6)} OR id < ${p(7)}) AND +run_at <= ${p(8)} LIMIT (SELECT ${p(9)} - n FROM higher)) AS ahead) AS same FROM higher`,
    [job.priority, now, bound, job.priority, job.createdAt, job.createdAt, job.id, now, bound],
  );
  const before = Number(row.higher) + Number(row.same);
  return before >= bound ? bound + 1 : before + 1;
}

/**
 * Queued jobs by type and what they wait for. The totals come from job_counts; the delayed and
 * backing-off ones are counted from jobs_state_run_at (which covers type and attempt), so the cost grows with the jobs not yet due, never with the due backlog.
 */
export async function queuedCounts(all: QueryAll, allOffLoop: QueryAll, d: SqlDialect, now: number): Promise<QueuedCount[]> {
  const totals = await all("SELECT type, SUM(n) AS n FROM job_counts WHERE state = 'QUEUED' GROUP BY type", []);
  const waiting = await allOffLoop(
    `SELECT type, CASE WHEN attempt > 1 THEN 'RETRY_BACKOFF' ELSE 'DELAYED' END AS wait, COUNT(*) AS n
       FROM jobs WHERE state = 'QUEUED' AND run_at > ${d.param(1)} GROUP BY type, wait`,
    [now],
  );
  const counts: QueuedCount[] = [];
  const notDue = new Map<string, number>();
  for (const row of waiting) {
    const type = row.type as string;
    counts.push({ type, wait: row.wait as string, count: Number(row.n) });
    notDue.set(type, (notDue.get(type) ?? 0) + Number(row.n));
  }
  for (const row of totals) {
    const type = row.type as string;
    const due = Number(row.n) - (notDue.get(type) ?? 0);
    if (due > 0) counts.push({ type, wait: "DUE", count: due });
  }
  return counts;
}
