// The criteria outbox (migration 5): every criterion report waiting for, delivered to, or
// refused by the Hub. Shared by both stores: SQL text with each store's placeholders, and
// the row mapping. A row is written in the same transaction as the job end it reports
// (JobTransition.outbox), or directly for a team that lacks the input (NO_DATA).
import type { SqlDialect } from "./sql.js";

export const OUTBOX_STATES = ["PENDING", "DELIVERED", "PARKED", "SUPERSEDED"] as const;
/** What a row carries: a criterion report for the Hub, or a job's completion callback (migration 8). */
export const OUTBOX_KINDS = ["criteria", "callback"] as const;
export type OutboxKind = (typeof OUTBOX_KINDS)[number];
export type OutboxState = (typeof OUTBOX_STATES)[number];

/** A new outbox row. */
export interface OutboxInsert {
  /** Unique per report: "job:<job id>" for a job's end, "<schedule>/<fire>/<team>/<criteria>" for a direct NO_DATA. */
  sourceKey: string;
  teamSlug: string;
  hackathonId: string;
  criteriaType: string;
  status: string;
  score: number;
  metrics: Record<string, unknown>;
  jobId: string | null;
  createdAt: number;
  /** "criteria" when absent. A callback has empty criteria fields, its body in `metrics` and its URL in `targetUrl`. */
  kind?: OutboxKind;
  targetUrl?: string | null;
}

export interface OutboxItemRecord extends Omit<OutboxInsert, "kind" | "targetUrl"> {
  kind: OutboxKind;
  targetUrl: string | null;
  /** Insertion order: for one (team, hackathon, criteria), the highest seq is the latest value. */
  seq: number;
  id: string;
  state: OutboxState;
  /** POSTs that carried this item and did not settle it (outages included). */
  attempts: number;
  /** Of those, the ones the Hub answered with an error status (500 is its answer to an invalid body). */
  rejections: number;
  lastError: string;
  /** Not sent before this time (rejection back-off, or the lease of a POST in flight). */
  nextAttemptAt: number;
  deliveredAt: number | null;
  updatedAt: number;
}

/** What one delivery attempt decided for one item. */
export interface OutboxUpdate {
  id: string;
  state: OutboxState;
  attempts: number;
  rejections: number;
  lastError: string;
  nextAttemptAt: number;
  deliveredAt: number | null;
}

export interface OutboxQuery {
  states?: OutboxState[];
  teamSlug?: string;
  kinds?: OutboxKind[];
  /** Continue with items older than this seq (newest-first order). */
  beforeSeq?: number;
  limit: number;
}

export interface OutboxCount {
  state: OutboxState;
  count: number;
}

/** The outbox half of a JobStore. */
export interface OutboxStore {
  /** Inserts items; one whose source key is already present is ignored. Returns how many were inserted. */
  enqueue(items: OutboxInsert[]): Promise<number>;
  /**
   * One delivery batch: first marks SUPERSEDED every pending item that has a newer item for the
   * same (team, hackathon, criteria); then takes up to `limit` due pending items (fewest
   * rejections, then oldest first) and leases them until `leaseUntil` so no other worker sends them.
   */
  claimDue(now: number, limit: number, leaseUntil: number, kind?: OutboxKind, epoch?: number): Promise<OutboxItemRecord[]>;
  /** `epoch` (claims too): the leader's term; refused with FencedError once a newer term began (store/fencing.ts). */
  settle(updates: OutboxUpdate[], at: number, epoch?: number): Promise<void>;
  list(query: OutboxQuery): Promise<OutboxItemRecord[]>;
  get(id: string): Promise<OutboxItemRecord | null>;
  /** PARKED items (all, or those named) back to PENDING, due now, with their rejections reset. */
  resend(ids: readonly string[] | null, now: number): Promise<number>;
  /** Items of one kind by state (criteria reports unless told). */
  counts(kind?: OutboxKind): Promise<OutboxCount[]>;
  /** When the earliest pending item becomes due, or null when none is pending. */
  nextDue(kind?: OutboxKind): Promise<number | null>;
}

export const OUTBOX_COLUMNS = [
  "id", "source_key", "team_slug", "hackathon_id", "criteria_type", "status", "score", "metrics", "job_id",
  "state", "attempts", "rejections", "last_error", "created_at", "next_attempt_at", "delivered_at", "updated_at",
  "kind", "target_url",
] as const;

type Row = Record<string, unknown>;

export function insertOutboxSql(d: SqlDialect): string {
  const placeholders = OUTBOX_COLUMNS.map((_, i) => d.param(i + 1)).join(", ");
  return `INSERT INTO outbox (${OUTBOX_COLUMNS.join(", ")}) VALUES (${placeholders}) ON CONFLICT (source_key) DO NOTHING`;
}

export function insertOutboxValues(id: string, item: OutboxInsert, json: (value: unknown) => unknown): unknown[] {
  return [
    id, item.sourceKey, item.teamSlug, item.hackathonId, item.criteriaType, item.status, Math.round(item.score),
    json(item.metrics), item.jobId, "PENDING", 0, 0, "", item.createdAt, item.createdAt, null, item.createdAt,
    item.kind ?? "criteria", item.targetUrl ?? null,
  ];
}

/** Pending items that a newer item of the same (team, hackathon, criteria) makes stale. */
export function supersedeSql(d: SqlDialect): string {
  return `UPDATE outbox SET state = 'SUPERSEDED', updated_at = ${d.param(1)}
    WHERE state = 'PENDING' AND kind = 'criteria' AND EXISTS (
      SELECT 1 FROM outbox newer
       WHERE newer.kind = 'criteria' AND newer.team_slug = outbox.team_slug AND newer.hackathon_id = outbox.hackathon_id
         AND newer.criteria_type = outbox.criteria_type AND newer.seq > outbox.seq)`;
}

export function dueSql(d: SqlDialect, lock = ""): string {
  return `SELECT * FROM outbox WHERE state = 'PENDING' AND next_attempt_at <= ${d.param(1)} AND kind = ${d.param(2)}
    ORDER BY rejections, seq LIMIT ${d.param(3)}${lock}`;
}

export function leaseSql(d: SqlDialect, count: number): string {
  const ids = Array.from({ length: count }, (_, i) => d.param(i + 3)).join(", ");
  return `UPDATE outbox SET next_attempt_at = ${d.param(1)}, updated_at = ${d.param(2)} WHERE state = 'PENDING' AND id IN (${ids})`;
}

export function settleSql(d: SqlDialect): string {
  const sets = ["state", "attempts", "rejections", "last_error", "next_attempt_at", "delivered_at", "updated_at"]
    .map((column, i) => `${column} = ${d.param(i + 1)}`)
    .join(", ");
  return `UPDATE outbox SET ${sets} WHERE id = ${d.param(8)}`;
}

export function settleValues(update: OutboxUpdate, at: number): unknown[] {
  return [update.state, update.attempts, update.rejections, update.lastError.slice(0, 2000), update.nextAttemptAt, update.deliveredAt, at, update.id];
}

export function listOutboxSql(query: OutboxQuery, d: SqlDialect): { sql: string; values: unknown[] } {
  const where: string[] = [];
  const values: unknown[] = [];
  const next = (value: unknown) => {
    values.push(value);
    return d.param(values.length);
  };
  if (query.states?.length) where.push(`state IN (${query.states.map(next).join(", ")})`);
  if (query.teamSlug) where.push(`team_slug = ${next(query.teamSlug)}`);
  if (query.kinds?.length) where.push(`kind IN (${query.kinds.map(next).join(", ")})`);
  if (query.beforeSeq !== undefined) where.push(`seq < ${next(query.beforeSeq)}`);
  const sql = `SELECT * FROM outbox ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ${next(query.limit)}`;
  return { sql, values };
}

export function resendSql(d: SqlDialect, ids: readonly string[] | null): string {
  const filter = ids ? ` AND id IN (${ids.map((_, i) => d.param(i + 3)).join(", ")})` : "";
  return `UPDATE outbox SET state = 'PENDING', rejections = 0, next_attempt_at = ${d.param(1)}, updated_at = ${d.param(2)} WHERE state = 'PARKED'${filter}`;
}

/** Criteria reports only: the Hub's gauges (callbacks are listed through ListOutbox). */
export function outboxCountsSql(d: SqlDialect): string {
  return `SELECT state, COUNT(*) AS n FROM outbox WHERE kind = ${d.param(1)} GROUP BY state`;
}
export function nextDueSql(d: SqlDialect): string {
  return `SELECT MIN(next_attempt_at) AS next_due FROM outbox WHERE kind = ${d.param(1)} AND state = 'PENDING'`;
}

const num = (value: unknown) => Number(value);

export function rowToOutbox(row: Row, parse: (value: unknown) => unknown): OutboxItemRecord {
  return {
    seq: num(row.seq),
    id: row.id as string,
    sourceKey: row.source_key as string,
    teamSlug: row.team_slug as string,
    hackathonId: row.hackathon_id as string,
    criteriaType: row.criteria_type as string,
    status: row.status as string,
    score: num(row.score),
    metrics: parse(row.metrics) as Record<string, unknown>,
    jobId: (row.job_id as string | null) ?? null,
    state: row.state as OutboxState,
    attempts: num(row.attempts),
    rejections: num(row.rejections),
    lastError: row.last_error as string,
    createdAt: num(row.created_at),
    nextAttemptAt: num(row.next_attempt_at),
    deliveredAt: row.delivered_at === null || row.delivered_at === undefined ? null : num(row.delivered_at),
    updatedAt: num(row.updated_at),
    kind: ((row.kind as string | undefined) ?? "criteria") as OutboxKind,
    targetUrl: (row.target_url as string | null | undefined) ?? null,
  };
}
