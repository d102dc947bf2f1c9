// Queries behind AuthStore, shared by both stores (each passes its way of running a query and
// its placeholder dialect, as schedule-queries.ts does).
import type { QueryAll, Row } from "./admission-queries.js";
import type { ApiKeyQuery, ApiKeyRecord, AuditEventRecord, AuditQuery, QuotaSubject } from "./auth-store.js";
import type { SqlDialect } from "./sql.js";

export interface AuthDb {
  all: QueryAll;
  dialect: SqlDialect;
  /** Turns a JSON column as the driver returns it into a value. */
  parse: (value: unknown) => unknown;
}

const KEY_COLUMNS = [
  "id", "name", "role", "team", "allow_inline_scripts", "key_hash", "source", "created_by",
  "created_at", "expires_at", "last_used_at", "revoked_at",
] as const;

const numOrNull = (value: unknown) => (value === null || value === undefined ? null : Number(value));

function rowToKey(row: Row): ApiKeyRecord {
  return {
    id: row.id as string,
    name: row.name as string,
    role: row.role as string,
    team: (row.team as string | null) ?? null,
    allowInlineScripts: Number(row.allow_inline_scripts) === 1,
    keyHash: row.key_hash as string,
    source: row.source as ApiKeyRecord["source"],
    createdBy: (row.created_by as string | null) ?? null,
    createdAt: Number(row.created_at),
    expiresAt: numOrNull(row.expires_at),
    lastUsedAt: numOrNull(row.last_used_at),
    revokedAt: numOrNull(row.revoked_at),
  };
}

export async function insertApiKey(db: AuthDb, k: ApiKeyRecord): Promise<boolean> {
  const values = [
    k.id, k.name, k.role, k.team, k.allowInlineScripts ? 1 : 0, k.keyHash, k.source, k.createdBy,
    k.createdAt, k.expiresAt, k.lastUsedAt, k.revokedAt,
  ];
  const placeholders = KEY_COLUMNS.map((_, i) => db.dialect.param(i + 1)).join(", ");
  const rows = await db.all(`INSERT INTO api_keys (${KEY_COLUMNS.join(", ")}) VALUES (${placeholders}) ON CONFLICT (id) DO NOTHING RETURNING id`, values);
  return rows.length === 1;
}

export async function getApiKey(db: AuthDb, id: string): Promise<ApiKeyRecord | null> {
  const [row] = await db.all(`SELECT * FROM api_keys WHERE id = ${db.dialect.param(1)}`, [id]);
  return row ? rowToKey(row) : null;
}

export async function listApiKeys(db: AuthDb, query: ApiKeyQuery): Promise<ApiKeyRecord[]> {
  const values: unknown[] = [];
  const next = (value: unknown) => {
    values.push(value);
    return db.dialect.param(values.length);
  };
  const where: string[] = [];
  if (query.team !== undefined) where.push(`team = ${next(query.team)}`);
  if (!query.includeRevoked) where.push("revoked_at IS NULL");
  if (query.after) {
    where.push(`created_at <= ${next(query.after.createdAt)}`);
    where.push(`(created_at < ${next(query.after.createdAt)} OR id < ${next(query.after.id)})`);
  }
  const rows = await db.all(
    `SELECT * FROM api_keys ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, id DESC LIMIT ${next(query.limit)}`,
    values,
  );
  return rows.map(rowToKey);
}

export async function revokeApiKey(db: AuthDb, id: string, at: number): Promise<ApiKeyRecord | null> {
  const p = db.dialect.param;
  await db.all(`UPDATE api_keys SET revoked_at = ${p(1)} WHERE id = ${p(2)} AND revoked_at IS NULL RETURNING id`, [at, id]);
  return getApiKey(db, id);
}

export async function touchApiKeys(db: AuthDb, uses: readonly { id: string; at: number }[]): Promise<void> {
  const p = db.dialect.param;
  // One statement per key: a handful of keys every few seconds.
  for (const { id, at } of uses) {
    await db.all(`UPDATE api_keys SET last_used_at = ${p(1)} WHERE id = ${p(2)} AND (last_used_at IS NULL OR last_used_at < ${p(3)}) RETURNING id`, [at, id, at]);
  }
}

export async function countApiKeys(db: AuthDb): Promise<number> {
  const [row] = await db.all("SELECT COUNT(*) AS n FROM api_keys", []);
  return Number(row?.n ?? 0);
}

const AUDIT_COLUMNS = [
  "at", "principal_id", "principal_name", "principal_kind", "team", "method", "target_id", "request_id",
  "code", "reason", "denied", "client_address",
] as const;

export async function insertAuditEvents(db: AuthDb, events: readonly AuditEventRecord[]): Promise<void> {
  // At most 500 rows × 12 values per statement: within both drivers' parameter limits.
  for (let start = 0; start < events.length; start += 500) {
    const chunk = events.slice(start, start + 500);
    const values: unknown[] = [];
    const rows = chunk.map((e) => {
      const first = values.length;
      values.push(e.at, e.principalId, e.principalName, e.principalKind, e.team, e.method, e.targetId, e.requestId, e.code, e.reason, e.denied ? 1 : 0, e.clientAddress);
      return `(${AUDIT_COLUMNS.map((_, i) => db.dialect.param(first + i + 1)).join(", ")})`;
    });
    await db.all(`INSERT INTO audit_events (${AUDIT_COLUMNS.join(", ")}) VALUES ${rows.join(", ")} RETURNING seq`, values);
  }
}

function rowToAudit(row: Row): AuditEventRecord {
  return {
    seq: Number(row.seq),
    at: Number(row.at),
    principalId: row.principal_id as string,
    principalName: row.principal_name as string,
    principalKind: row.principal_kind as string,
    team: (row.team as string | null) ?? null,
    method: row.method as string,
    targetId: (row.target_id as string | null) ?? null,
    requestId: row.request_id as string,
    code: row.code as string,
    reason: row.reason as string,
    denied: Number(row.denied) === 1,
    clientAddress: row.client_address as string,
  };
}

export async function listAuditEvents(db: AuthDb, query: AuditQuery): Promise<AuditEventRecord[]> {
  const values: unknown[] = [];
  const next = (value: unknown) => {
    values.push(value);
    return db.dialect.param(values.length);
  };
  const where: string[] = [];
  if (query.principalId !== undefined) where.push(`principal_id = ${next(query.principalId)}`);
  if (query.method !== undefined) where.push(`method = ${next(query.method)}`);
  if (query.code !== undefined) where.push(`code = ${next(query.code)}`);
  if (query.targetId !== undefined) where.push(`target_id = ${next(query.targetId)}`);
  if (query.team !== undefined) where.push(`team = ${next(query.team)}`);
  if (query.since !== undefined) where.push(`at >= ${next(query.since)}`);
  if (query.until !== undefined) where.push(`at < ${next(query.until)}`);
  if (query.deniedOnly) where.push("denied = 1");
  if (query.beforeSeq !== undefined) where.push(`seq < ${next(query.beforeSeq)}`);
  const rows = await db.all(`SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ${next(query.limit)}`, values);
  return rows.map(rowToAudit);
}

export async function deleteAuditEventsBefore(db: AuthDb, at: number): Promise<number> {
  const rows = await db.all(`DELETE FROM audit_events WHERE at < ${db.dialect.param(1)} RETURNING seq`, [at]);
  return rows.length;
}

// Each query's WHERE implies its partial index's predicate (migration 11): jobs submitted
// through the API, QUEUED ones or k6 ones.
const SUBJECT_COLUMN = { key: "submitted_by", team: "team_slug" } as const;

export async function countQueuedJobs(db: AuthDb, subject: QuotaSubject, limit: number): Promise<number> {
  const p = db.dialect.param;
  const [row] = await db.all(
    `SELECT COUNT(*) AS n FROM (SELECT 1 FROM jobs WHERE ${SUBJECT_COLUMN[subject.by]} = ${p(1)} AND state = 'QUEUED' AND submitted_by IS NOT NULL LIMIT ${p(2)}) AS q`,
    [subject.value, limit],
  );
  return Number(row?.n ?? 0);
}

export async function recentK6Jobs(db: AuthDb, subject: QuotaSubject, since: number): Promise<{ createdAt: number; params: Record<string, unknown>; timeoutMs: number }[]> {
  const p = db.dialect.param;
  const rows = await db.all(
    `SELECT created_at, params, timeout_ms FROM jobs WHERE ${SUBJECT_COLUMN[subject.by]} = ${p(1)} AND type = 'k6' AND submitted_by IS NOT NULL AND created_at > ${p(2)}`,
    [subject.value, since],
  );
  return rows.map((row) => ({ createdAt: Number(row.created_at), params: db.parse(row.params) as Record<string, unknown>, timeoutMs: Number(row.timeout_ms) }));
}
