// The outbox on PostgreSQL. `insertWith` runs on the client of the store's transition
// transaction; claims lock the rows they take (SKIP LOCKED), so replicas never take the same.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import {
  dueSql, insertOutboxSql, insertOutboxValues, leaseSql, listOutboxSql, outboxCountsSql, nextDueSql,
  resendSql, rowToOutbox, settleSql, settleValues, supersedeSql,
  type OutboxCount, type OutboxInsert, type OutboxKind, type OutboxItemRecord, type OutboxQuery, type OutboxState, type OutboxStore, type OutboxUpdate,
} from "../outbox-queries.js";
import type { SqlDialect } from "../sql.js";
import { checkEpoch } from "../fencing.js";

type Row = Record<string, unknown>;
const parse = (value: unknown) => value;
const json = (value: unknown) => JSON.stringify(value);

export class PostgresOutbox implements OutboxStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly dialect: SqlDialect,
    private readonly inTransaction: <T>(work: (client: pg.PoolClient) => Promise<T>) => Promise<T>,
  ) {}

  /** Inserts on the caller's transaction client; false when the source key already exists. */
  async insertWith(client: pg.PoolClient, item: OutboxInsert): Promise<boolean> {
    const inserted = await client.query(insertOutboxSql(this.dialect), insertOutboxValues(randomUUID(), item, json));
    return inserted.rowCount === 1;
  }

  enqueue(items: OutboxInsert[]): Promise<number> {
    return this.inTransaction(async (client) => {
      let n = 0;
      for (const item of items) if (await this.insertWith(client, item)) n++;
      return n;
    });
  }

  claimDue(now: number, limit: number, leaseUntil: number, kind: OutboxKind = "criteria", epoch?: number): Promise<OutboxItemRecord[]> {
    return this.inTransaction(async (client) => {
      if (epoch !== undefined) await checkEpoch(client, epoch);
      await client.query(supersedeSql(this.dialect), [now]);
      const { rows } = await client.query(dueSql(this.dialect, " FOR UPDATE SKIP LOCKED"), [now, kind, limit]);
      const items = rows.map((row: Row) => rowToOutbox(row, parse));
      if (items.length) await client.query(leaseSql(this.dialect, items.length), [leaseUntil, now, ...items.map((i) => i.id)]);
      return items.map((i) => ({ ...i, nextAttemptAt: leaseUntil }));
    });
  }

  settle(updates: OutboxUpdate[], at: number, epoch?: number): Promise<void> {
    return this.inTransaction(async (client) => {
      if (epoch !== undefined) await checkEpoch(client, epoch);
      for (const update of updates) await client.query(settleSql(this.dialect), settleValues(update, at));
    });
  }

  async list(query: OutboxQuery): Promise<OutboxItemRecord[]> {
    const { sql, values } = listOutboxSql(query, this.dialect);
    const { rows } = await this.pool.query(sql, values);
    return rows.map((row: Row) => rowToOutbox(row, parse));
  }

  async get(id: string): Promise<OutboxItemRecord | null> {
    const { rows } = await this.pool.query("SELECT * FROM outbox WHERE id = $1", [id]);
    return rows[0] ? rowToOutbox(rows[0], parse) : null;
  }

  async resend(ids: readonly string[] | null, now: number): Promise<number> {
    if (ids && ids.length === 0) return 0;
    const result = await this.pool.query(resendSql(this.dialect, ids), [now, now, ...(ids ?? [])]);
    return result.rowCount ?? 0;
  }

  async counts(kind: OutboxKind = "criteria"): Promise<OutboxCount[]> {
    const { rows } = await this.pool.query(outboxCountsSql(this.dialect), [kind]);
    return rows.map((r: Row) => ({ state: r.state as OutboxState, count: Number(r.n) }));
  }

  async nextDue(kind: OutboxKind = "criteria"): Promise<number | null> {
    const { rows } = await this.pool.query(nextDueSql(this.dialect), [kind]);
    return rows[0]?.next_due === null || rows[0]?.next_due === undefined ? null : Number(rows[0].next_due);
  }
}
