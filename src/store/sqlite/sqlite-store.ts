import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { JobEventRecord, JobRecord, JobStateName } from "../../jobs/job.js";
import * as admission from "../admission-queries.js";
import type { AuthStore } from "../auth-store.js";
import type { ScheduleStore } from "../schedule-store.js";
import { SharedQueries } from "../shared-queries.js";
import { pendingMigrations } from "../migrations.js";
import {
  COUNTS_SQL, countDeltaSql, eventValues, insertDeltas, insertEventSql, insertJobSql, insertLabelsSql, jobRowValues, listJobsSql,
  rowToEvent, rowToJob, transitionDeltas, updateJobSql, updateJobValues, type CountDelta, type SqlDialect,
} from "../sql.js";
import type { JobPatch, JobQuery, JobStore, JobTransition, StateCount, TransitionResult } from "../store.js";
import { applyPatch, applyTransition, firstEvent } from "../transition.js";
import { SQLITE_CACHE_KIB, SqliteWorker } from "./sqlite-worker.js";
import { JobCache, rowCost } from "./job-cache.js";
import { sqliteMigrations } from "./migrations.js";
import { SqliteOutbox } from "./sqlite-outbox.js";
import { lockSqliteInstance, type InstanceLock } from "./instance-lock.js";

export const sqliteDialect: SqlDialect = {
  param: () => "?",
  labelValue: (keySql) => `json_extract(jobs.labels, ${keySql})`,
  labelExists: (keySql) => `(json_type(jobs.labels, ${keySql}) IS NOT NULL)`,
  labelKeyArg: (key) => `$."${key}"`,
  jsonEachText: (paramSql) => `json_each(${paramSql})`,
  jsonText: (column, path) => `json_extract(${column}, '$.${path.join(".")}')`,
};
const dialect = sqliteDialect;

type Row = Record<string, unknown>;
/** Runs `work` in one IMMEDIATE transaction and returns what it returns. */
type Transaction = { <T>(work: () => T): T; immediate<T>(work: () => T): T };
const parse = (value: unknown) => JSON.parse(value as string);
const json = (value: unknown) => JSON.stringify(value);
/**
 * Bytes of parsed rows kept for getJob: ~5000 queued jobs of a few labels (more than the jobs
 * clients poll at any one time), fewer finished ones with output tails and results.
 */
const JOB_CACHE_BYTES = 12 * 2 ** 20;

export class SqliteStore extends SharedQueries implements JobStore, ScheduleStore, AuthStore {
  protected readonly dialect = dialect;
  protected readonly parseJson = parse;
  readonly kind = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly inTransaction: Transaction;
  /** Checkpoints and ListJobs reads, off the event loop (absent for ":memory:", which no other connection can open). */
  private worker?: SqliteWorker;
  private readonly statements;
  private readonly cache = new JobCache(JOB_CACHE_BYTES);
  readonly outbox: SqliteOutbox;
  private readonly instanceLock?: InstanceLock;

  /** `exclusive`: take the file's instance lock first (the service does; tests that reopen a file do not). */
  constructor(readonly path: string, options: { exclusive?: boolean } = {}) {
    super();
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    if (options.exclusive && path !== ":memory:") this.instanceLock = lockSqliteInstance(path);
    try {
      this.db = new Database(path);
    } catch (error) {
      this.instanceLock?.release();
      throw error;
    }
    // Built once: better-sqlite3 makes a new wrapper per db.transaction() call.
    this.inTransaction = this.db.transaction((work: () => unknown) => work()) as Transaction;
    this.db.pragma("journal_mode = WAL");
    // WAL + NORMAL survives a process crash (the case that matters for jobs);
    // only an OS crash can lose the last commits.
    this.db.pragma("synchronous = NORMAL");
    // Checkpoints (which fsync) run every second in a worker thread on its own connection
    // instead of inside whichever commit crosses the WAL size threshold, so no request waits
    // for them: on a big store one takes tens of milliseconds.
    this.db.pragma("wal_autocheckpoint = 0");
    if (path !== ":memory:") this.worker = new SqliteWorker(path, 1000);
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
    this.db.pragma("foreign_keys = ON");
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    this.statements = {
      applied: this.db.prepare("SELECT version FROM schema_migrations"),
    };
    this.outbox = new SqliteOutbox(this.db, dialect);
  }

  async migrate(): Promise<number> {
    const applied = new Set((this.statements.applied.all() as Row[]).map((r) => Number(r.version)));
    const pending = pendingMigrations(sqliteMigrations, applied);
    const record = this.db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
    for (const migration of pending) {
      this.inTransaction.immediate(() => {
        this.db.exec(migration.sql);
        record.run(migration.version, migration.name, Date.now());
      });
    }
    this.prepareJobStatements();
    return pending.length;
  }

  private jobStatements?: ReturnType<SqliteStore["buildJobStatements"]>;

  private prepareJobStatements() {
    this.jobStatements = this.buildJobStatements();
  }

  private buildJobStatements() {
    return {
      insertJob: this.db.prepare(insertJobSql(dialect)),
      insertEvent: this.db.prepare(insertEventSql(dialect)),
      insertLabels: this.db.prepare(insertLabelsSql(dialect)),
      countDelta: this.db.prepare(countDeltaSql(dialect)),
      updateJob: this.db.prepare(updateJobSql(dialect)),
      byId: this.db.prepare("SELECT * FROM jobs WHERE id = ?"),
      byKey: this.db.prepare("SELECT * FROM jobs WHERE idempotency_key = ?"),
      deleteJob: this.db.prepare("DELETE FROM jobs WHERE id = ?"),
      events: this.db.prepare("SELECT * FROM job_events WHERE job_id = ? AND sequence > ? ORDER BY sequence"),
      counts: this.db.prepare(COUNTS_SQL),
      getSetting: this.db.prepare("SELECT value FROM settings WHERE key = ?"),
      setSetting: this.db.prepare("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
      deleteSetting: this.db.prepare("DELETE FROM settings WHERE key = ?"),
    };
  }

  private get s() {
    if (!this.jobStatements) throw new Error("SqliteStore used before migrate()");
    return this.jobStatements;
  }

  private readJob(id: string): JobRecord | null {
    const row = this.s.byId.get(id) as Row | undefined;
    return row ? rowToJob(row, parse) : null;
  }

  /**
   * Group commit: inserts that arrive in the same turn of the event loop share one
   * transaction (one WAL commit); one insert's failure fails only its caller (see insertJob).
   * Every caller is answered after the commit, so durability is unchanged.
   */
  createJob(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    return new Promise((resolve, reject) => {
      this.pendingCreates.push({ job, resolve, reject });
      if (this.pendingCreates.length === 1) setImmediate(() => this.flushCreates());
    });
  }

  private pendingCreates: { job: JobRecord; resolve: (r: { job: JobRecord; created: boolean }) => void; reject: (e: unknown) => void }[] = [];

  private flushCreates(): void {
    const batch = this.pendingCreates;
    this.pendingCreates = [];
    const outcomes: ({ ok: true; value: { job: JobRecord; created: boolean } } | { ok: false; error: unknown })[] = [];
    try {
      this.inTransaction.immediate(() => {
        const inserted: JobRecord[] = [];
        for (const { job } of batch) {
          try {
            const outcome = this.insertJob(job);
            outcomes.push({ ok: true, value: outcome });
            if (outcome.created) inserted.push(job);
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
        this.addCounts(insertDeltas(inserted));
      });
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, i) => {
      const outcome = outcomes[i];
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.error);
    });
  }

  private insertJob(job: JobRecord): { job: JobRecord; created: boolean } {
    if (job.idempotencyKey !== null) {
      const existing = this.s.byKey.get(job.idempotencyKey) as Row | undefined;
      if (existing) return { job: rowToJob(existing, parse), created: false };
    }
    // A failed statement undoes only itself and leaves the transaction open, so a failed job
    // insert wrote nothing, and a failed event or label insert is undone by hand (the job's
    // events go with it): cheaper than a savepoint around every job.
    this.s.insertJob.run(...jobRowValues(job, json));
    try {
      this.s.insertEvent.run(...eventValues(firstEvent(job)));
      if (hasLabels(job)) this.s.insertLabels.run(job.createdAt, job.id, json(job.labels));
    } catch (error) {
      this.s.deleteJob.run(job.id);
      throw error;
    }
    return { job, created: true };
  }

  /** Applies count changes inside the caller's transaction (one shard: SQLite has one writer). */
  private addCounts(deltas: readonly CountDelta[]): void {
    for (const { type, state, delta } of deltas) this.s.countDelta.run(type, state, 0, delta);
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const row = this.s.byId.get(id) as Row | undefined;
    return row ? this.cache.remember(rowToJob(row, parse), rowCost(textLength(row))) : null;
  }

  /** Read in the worker thread: a filter no index orders by can read much of the table, and must not hold the event loop. */
  async listJobs(query: JobQuery): Promise<JobRecord[]> {
    const { sql, values } = listJobsSql(query, dialect);
    const rows = this.worker ? await this.worker.all(sql, values) : (this.statement(sql).all(...values) as Row[]);
    return rows.map((row) => rowToJob(row, parse));
  }

  async transition(id: string, change: JobTransition): Promise<TransitionResult | null> {
    const outcome = this.inTransaction.immediate(() => {
      const current = this.cache.get(id) ?? this.readJob(id);
      const outcome = current && applyTransition(current, change);
      if (!outcome) return null;
      this.s.updateJob.run(...updateJobValues(outcome.job, json));
      this.s.insertEvent.run(...eventValues(outcome.event));
      for (const item of change.outbox ?? []) this.outbox.insertSync(item);
      this.addCounts(transitionDeltas(current, outcome.job));
      return outcome;
    });
    // After the commit: the next read takes the row as stored.
    if (outcome) this.cache.forget(id);
    return outcome;
  }

  async patchJob(id: string, patch: Pick<JobPatch, "placement" | "outputTail" | "cancelRequested">, at: number): Promise<JobRecord | null> {
    const next = this.inTransaction.immediate(() => {
      const current = this.cache.get(id) ?? this.readJob(id);
      if (!current) return null;
      const next = applyPatch(current, patch, at);
      this.s.updateJob.run(...updateJobValues(next, json));
      return next;
    });
    if (next) this.cache.forget(id);
    return next;
  }

  async listEvents(jobId: string, afterSequence: number): Promise<JobEventRecord[]> {
    return (this.s.events.all(jobId, afterSequence) as Row[]).map(rowToEvent);
  }

  async jobsInDispatchOrder(states: readonly JobStateName[], limit: number): Promise<JobRecord[]> {
    const sql = `SELECT * FROM jobs WHERE state IN (${states.map(() => "?").join(", ")}) ORDER BY priority DESC, created_at, id LIMIT ?`;
    return (this.statement(sql).all(...states, limit) as Row[]).map((row) => rowToJob(row, parse));
  }

  async countByTypeAndState(): Promise<StateCount[]> {
    return (this.s.counts.all() as Row[]).map((r) => ({ type: r.type as string, state: r.state as JobStateName, count: Number(r.count) }));
  }

  async getSetting(key: string): Promise<string | null> {
    const row = this.s.getSetting.get(key) as Row | undefined;
    return row ? (row.value as string) : null;
  }

  async setSetting(key: string, value: string | null): Promise<void> {
    if (value === null) this.s.deleteSetting.run(key);
    else this.s.setSetting.run(key, value);
  }

  private readonly prepared = new Map<string, Database.Statement>();

  /** Statements are compiled once per SQL text: the dispatcher runs the same few queries constantly. */
  private statement(sql: string): Database.Statement {
    let statement = this.prepared.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.prepared.set(sql, statement);
    }
    return statement;
  }

  protected readonly all: admission.QueryAll = async (sql, values) => this.statement(sql).all(...values) as admission.Row[];
  protected readonly allOffLoop: admission.QueryAll = (sql, values) => (this.worker ? this.worker.all(sql, values) : this.all(sql, values));

  async threadHeaps(): Promise<{ thread: string; used: number; total: number; external: number }[]> {
    return this.worker ? [{ thread: "sqlite", ...(await this.worker.heap()) }] : [];
  }

  async ping(): Promise<void> {
    this.db.prepare("SELECT 1").get();
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.close();
    if (this.pendingCreates.length) this.flushCreates();
    if (this.db.open) {
      this.db.pragma("wal_checkpoint(TRUNCATE)");
      this.db.close();
    }
    this.instanceLock?.release();
  }
}

/** Characters of a row's text columns. */
function textLength(row: Row): number {
  let length = 0;
  for (const key in row) {
    const value = row[key];
    if (typeof value === "string") length += value.length;
  }
  return length;
}

function hasLabels(job: JobRecord): boolean {
  for (const _ in job.labels) return true;
  return false;
}
