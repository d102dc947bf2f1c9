// The outbox on SQLite: better-sqlite3 is synchronous, so each operation is one immediate
// transaction, and `insertSync` runs inside the store's own transition transaction.
import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import {
  dueSql, insertOutboxSql, insertOutboxValues, leaseSql, listOutboxSql, outboxCountsSql, nextDueSql,
  resendSql, rowToOutbox, settleSql, settleValues, supersedeSql,
  type OutboxCount, type OutboxInsert, type OutboxKind, type OutboxItemRecord, type OutboxQuery, type OutboxState, type OutboxStore, type OutboxUpdate,
} from "../outbox-queries.js";
import type { SqlDialect } from "../sql.js";

type Row = Record<string, unknown>;
const parse = (value: unknown) => JSON.parse(value as string);
const json = (value: unknown) => JSON.stringify(value);

export class SqliteOutbox implements OutboxStore {
  private prepared?: ReturnType<SqliteOutbox["prepare"]>;

  constructor(
    private readonly db: Database.Database,
    private readonly dialect: SqlDialect,
  ) {}

  /** Statements are prepared on first use: the table exists only once migrations ran. */
  private get s() {
    this.prepared ??= this.prepare();
    return this.prepared;
  }

  private prepare() {
    return {
      insert: this.db.prepare(insertOutboxSql(this.dialect)),
      supersede: this.db.prepare(supersedeSql(this.dialect)),
      due: this.db.prepare(dueSql(this.dialect)),
      settle: this.db.prepare(settleSql(this.dialect)),
      byId: this.db.prepare("SELECT * FROM outbox WHERE id = ?"),
      counts: this.db.prepare(outboxCountsSql(this.dialect)),
      nextDue: this.db.prepare(nextDueSql(this.dialect)),
    };
  }

  /** Inserts within the caller's transaction; false when the source key already exists. */
  insertSync(item: OutboxInsert): boolean {
    return this.s.insert.run(...insertOutboxValues(randomUUID(), item, json)).changes === 1;
  }

  async enqueue(items: OutboxInsert[]): Promise<number> {
    return this.db.transaction(() => items.reduce((n, item) => n + (this.insertSync(item) ? 1 : 0), 0)).immediate();
  }

  async claimDue(now: number, limit: number, leaseUntil: number, kind: OutboxKind = "criteria"): Promise<OutboxItemRecord[]> {
    return this.db.transaction(() => {
      this.s.supersede.run(now);
      const rows = (this.s.due.all(now, kind, limit) as Row[]).map((row) => rowToOutbox(row, parse));
      if (rows.length) this.db.prepare(leaseSql(this.dialect, rows.length)).run(leaseUntil, now, ...rows.map((r) => r.id));
      return rows.map((r) => ({ ...r, nextAttemptAt: leaseUntil }));
    }).immediate();
  }

  async settle(updates: OutboxUpdate[], at: number): Promise<void> {
    this.db.transaction(() => {
      for (const update of updates) this.s.settle.run(...settleValues(update, at));
    }).immediate();
  }

  async list(query: OutboxQuery): Promise<OutboxItemRecord[]> {
    const { sql, values } = listOutboxSql(query, this.dialect);
    return (this.db.prepare(sql).all(...values) as Row[]).map((row) => rowToOutbox(row, parse));
  }

  async get(id: string): Promise<OutboxItemRecord | null> {
    const row = this.s.byId.get(id) as Row | undefined;
    return row ? rowToOutbox(row, parse) : null;
  }

  async resend(ids: readonly string[] | null, now: number): Promise<number> {
    if (ids && ids.length === 0) return 0;
    return this.db.prepare(resendSql(this.dialect, ids)).run(now, now, ...(ids ?? [])).changes;
  }

  async counts(kind: OutboxKind = "criteria"): Promise<OutboxCount[]> {
    return (this.s.counts.all(kind) as Row[]).map((r) => ({ state: r.state as OutboxState, count: Number(r.n) }));
  }

  async nextDue(kind: OutboxKind = "criteria"): Promise<number | null> {
    const row = this.s.nextDue.get(kind) as Row | undefined;
    return row?.next_due === null || row?.next_due === undefined ? null : Number(row.next_due);
  }
}
