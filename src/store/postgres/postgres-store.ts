import { randomUUID } from "node:crypto";
import pg from "pg";
import type { JobEventRecord, JobRecord, JobStateName } from "../../jobs/job.js";
import * as admission from "../admission-queries.js";
import { insertAuditEvents } from "../auth-queries.js";
import type { AuditEventRecord, AuthStore } from "../auth-store.js";
import type { ScheduleChange, ScheduleProgress, ScheduleRecord, ScheduleStore } from "../schedule-store.js";
import * as schedules from "../schedule-queries.js";
import { SharedQueries } from "../shared-queries.js";
import { pendingMigrations } from "../migrations.js";
import {
  COUNTS_SQL, countDeltaSql, eventValues, insertDeltas, insertEventSql, insertJobSql, insertLabelsSql, jobRowValues, listJobsSql,
  rowToEvent, rowToJob, transitionDeltas, updateJobSql, updateJobValues, type CountDelta, type SqlDialect,
} from "../sql.js";
import type { JobPatch, JobQuery, JobStore, JobTransition, StateCount, TransitionResult } from "../store.js";
import { applyPatch, applyTransition, firstEvent } from "../transition.js";
import { postgresMigrations } from "./migrations.js";
import { PostgresOutbox } from "./postgres-outbox.js";
import { checkEpoch } from "../fencing.js";
import { schemaChannel } from "./channels.js";
import { JobFeed, noticePayload, type JobFeedHandlers, type JobNotice } from "./job-feed.js";

export const postgresDialect: SqlDialect = {
  param: (n) => `$${n}`,
  labelValue: (keySql) => `(jobs.labels ->> ${keySql})`,
  labelExists: (keySql) => `(jobs.labels ? ${keySql})`,
  labelKeyArg: (key) => key,
  jsonEachText: (paramSql) => `jsonb_each_text(${paramSql}::jsonb)`,
  jsonText: (column, path) => `(${column} #>> '{${path.join(",")}}')`,
};
const dialect = postgresDialect;
/** Rows per (type, state) in job_counts that concurrent transactions spread their changes over. */
const COUNT_SHARDS = 8;

type Row = Record<string, unknown>;
// The driver already parses JSONB; it is written as JSON text so that arrays
// are not turned into PostgreSQL array literals.
const parse = (value: unknown) => value;
const json = (value: unknown) => JSON.stringify(value);

const INT8_OID = 20;
/** Serialises migrations of concurrently starting replicas (any fixed number works). */
const MIGRATION_LOCK_KEY = 7_210_431_907;
// Lower case only: search_path folds unquoted names to lower case.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]*$/;

export interface PostgresStoreOptions {
  /** Maximum connections in the pool. */
  poolSize?: number;
  /** Schema every connection works in (created by migrate() when missing). */
  schema?: string;
}

export class PostgresStore extends SharedQueries implements JobStore, ScheduleStore, AuthStore {
  protected readonly dialect = dialect;
  protected readonly parseJson = parse;
  readonly kind = "postgres" as const;
  private readonly pool: pg.Pool;
  private readonly schema?: string;
  readonly outbox: PostgresOutbox;
  private closing?: Promise<void>;
  /** Tells this store's own notices from other replicas' (job-feed.ts). */
  private readonly origin = randomUUID().slice(0, 8);
  /** The NOTIFY channel of job changes; set by migrate(), before which nothing is announced. */
  private jobsChannel?: string;
  private readonly feeds = new Set<JobFeed>();

  constructor(private readonly connectionString: string, options: PostgresStoreOptions = {}) {
    super();
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new Error(`invalid schema name "${options.schema}" (lower-case letters, digits and "_" only)`);
    }
    this.schema = options.schema;
    this.pool = new pg.Pool({
      connectionString,
      max: options.poolSize ?? 10,
      // A replica paused (SIGSTOP) or cut off inside a transaction holds its row locks and the
      // fencing lock: the server ends such a session, so the next leader is not held up by it.
      idle_in_transaction_session_timeout: 5000,
      // Per pool rather than the global pg.types, so other pg users in the process are unaffected.
      // Epoch milliseconds and counts are far below 2^53.
      types: {
        getTypeParser: (oid, format) => (oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)),
      },
      ...(this.schema ? { options: `-c search_path=${this.schema}` } : {}),
    });
    // An idle client that loses its connection emits here; the pool has already dropped it
    // and the next query reports the outage, so there is nothing to do but not crash.
    this.pool.on("error", () => {});
    this.outbox = new PostgresOutbox(this.pool, dialect, (work) => this.inTransaction(work));
  }

  async migrate(): Promise<number> {
    const appliedBefore = await this.inTransaction(async (client) => {
      await lockMigrations(client);
      if (this.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(this.schema)}`);
      await client.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
      );
      return appliedVersions(client);
    });
    let appliedNow = 0;
    for (const migration of pendingMigrations(postgresMigrations, appliedBefore)) {
      const applied = await this.inTransaction(async (client) => {
        await lockMigrations(client);
        // Another replica may have applied it since the list was read.
        if ((await appliedVersions(client)).has(migration.version)) return false;
        await client.query(migration.sql);
        await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [
          migration.version, migration.name, Date.now(),
        ]);
        return true;
      });
      if (applied) appliedNow++;
    }
    this.jobsChannel = await schemaChannel(this.pool, "jobs");
    return appliedNow;
  }

  async createJob(job: JobRecord): Promise<{ job: JobRecord; created: boolean }> {
    return this.inTransaction(async (client) => {
      // ON CONFLICT waits for a concurrent insert of the same key to finish, so
      // exactly one of several simultaneous requests creates the job.
      const inserted = await client.query(
        `${insertJobSql(dialect)} ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
        jobRowValues(job, json),
      );
      if (inserted.rowCount === 1) {
        await client.query(insertEventSql(dialect), eventValues(firstEvent(job)));
        if (Object.keys(job.labels).length) await client.query(insertLabelsSql(dialect), [job.createdAt, job.id, json(job.labels)]);
        await addCounts(client, insertDeltas([job]));
        await this.announce(client, "transition", job.id, job.sequence);
        return { job, created: true };
      }
      const existing = await client.query("SELECT * FROM jobs WHERE idempotency_key = $1", [job.idempotencyKey]);
      if (!existing.rows[0]) throw new Error(`job with idempotency key "${job.idempotencyKey}" conflicted but is gone`);
      return { job: rowToJob(existing.rows[0], parse), created: false };
    });
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const { rows } = await this.pool.query("SELECT * FROM jobs WHERE id = $1", [id]);
    return rows[0] ? rowToJob(rows[0], parse) : null;
  }

  async listJobs(query: JobQuery): Promise<JobRecord[]> {
    const { sql, values } = listJobsSql(query, dialect);
    const { rows } = await this.pool.query(sql, values);
    return rows.map((row: Row) => rowToJob(row, parse));
  }

  async transition(id: string, change: JobTransition): Promise<TransitionResult | null> {
    return this.inTransaction(async (client) => {
      if (change.epoch !== undefined) await checkEpoch(client, change.epoch);
      const current = await lockJob(client, id);
      const outcome = current && applyTransition(current, change);
      if (!outcome) return null;
      await client.query(updateJobSql(dialect), updateJobValues(outcome.job, json));
      await client.query(insertEventSql(dialect), eventValues(outcome.event));
      for (const item of change.outbox ?? []) await this.outbox.insertWith(client, item);
      // Last, so the counter row's lock is held only until the commit.
      await addCounts(client, transitionDeltas(current, outcome.job));
      await this.announce(client, "transition", id, outcome.job.sequence);
      return outcome;
    });
  }

  async patchJob(id: string, patch: Pick<JobPatch, "placement" | "outputTail" | "cancelRequested">, at: number): Promise<JobRecord | null> {
    return this.inTransaction(async (client) => {
      const current = await lockJob(client, id);
      if (!current) return null;
      const next = applyPatch(current, patch, at);
      await client.query(updateJobSql(dialect), updateJobValues(next, json));
      if (patch.cancelRequested) await this.announce(client, "cancel", id, next.sequence);
      return next;
    });
  }

  async listEvents(jobId: string, afterSequence: number): Promise<JobEventRecord[]> {
    const { rows } = await this.pool.query(
      "SELECT * FROM job_events WHERE job_id = $1 AND sequence > $2 ORDER BY sequence",
      [jobId, afterSequence],
    );
    return rows.map(rowToEvent);
  }

  async jobsInDispatchOrder(states: readonly JobStateName[], limit: number): Promise<JobRecord[]> {
    const { rows } = await this.pool.query(
      "SELECT * FROM jobs WHERE state = ANY($1::text[]) ORDER BY priority DESC, created_at, id LIMIT $2",
      [states, limit],
    );
    return rows.map((row: Row) => rowToJob(row, parse));
  }

  async countByTypeAndState(): Promise<StateCount[]> {
    const { rows } = await this.pool.query(COUNTS_SQL);
    return rows.map((r: Row) => ({ type: r.type as string, state: r.state as JobStateName, count: Number(r.count) }));
  }

  async getSetting(key: string): Promise<string | null> {
    const { rows } = await this.pool.query("SELECT value FROM settings WHERE key = $1", [key]);
    return rows[0] ? (rows[0].value as string) : null;
  }

  /**
   * One statement, its own transaction: the write and, only when it changed the value, the
   * notice to the other replicas. Writing the value already stored (a pause while paused with
   * the same reason) touches no row, so it takes no transaction id and waits for no WAL flush.
   */
  async setSetting(key: string, value: string | null): Promise<void> {
    const write = value === null
      ? "DELETE FROM settings WHERE key = $1 RETURNING key"
      : `INSERT INTO settings (key, value)
           SELECT $1::text, $2::text WHERE NOT EXISTS (SELECT 1 FROM settings WHERE key = $1 AND value = $2)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value RETURNING key`;
    const values: unknown[] = value === null ? [key] : [key, value];
    if (!this.jobsChannel) {
      await this.pool.query(write, values);
      return;
    }
    const n = values.length;
    await this.pool.query(`WITH changed AS (${write}) SELECT pg_notify($${n + 1}, $${n + 2}) FROM changed`, [
      ...values, this.jobsChannel, noticePayload("settings", this.origin, key, 0),
    ]);
  }

  protected readonly all: admission.QueryAll = async (sql, values) => (await this.pool.query(sql, values)).rows;
  protected readonly allOffLoop = this.all;

  /** Listens to the job changes other replicas (stores) commit; resolves once listening. */
  async listen(handlers: JobFeedHandlers): Promise<{ close(): Promise<void> }> {
    if (!this.jobsChannel) throw new Error("listen() needs migrate() first");
    const feed = new JobFeed(this.connectionString, this.jobsChannel, this.origin, handlers);
    this.feeds.add(feed);
    await feed.start();
    return {
      close: async () => {
        this.feeds.delete(feed);
        await feed.close();
      },
    };
  }

  /**
   * Audit rows are written after the answers they record, batched (auth/audit.ts), so their
   * commit does not wait for the WAL flush: a batch flushing every 100 ms would otherwise hold
   * up the commits answers do wait for (a pause, a new job) queued behind it. A row can then be
   * lost only if the database server itself crashes within a fraction of a second, as a row
   * still batched in memory is when the service crashes.
   */
  override async insertAuditEvents(events: readonly AuditEventRecord[]): Promise<void> {
    if (events.length === 0) return;
    await this.inTransaction(async (client) => {
      await client.query("SET LOCAL synchronous_commit = off");
      await insertAuditEvents({ all: async (sql, values) => (await client.query(sql, values)).rows, dialect, parse }, events);
    });
  }

  // Schedule changes wake the leader's schedule firer (the rows are written by shared-queries.ts).
  override async insertSchedule(schedule: ScheduleRecord): Promise<boolean> {
    const inserted = await super.insertSchedule(schedule);
    if (inserted) await this.announceNow("schedules", schedule.id);
    return inserted;
  }

  override async updateSchedule(id: string, change: ScheduleChange, at: number): Promise<ScheduleRecord | null> {
    const updated = await super.updateSchedule(id, change, at);
    if (updated) await this.announceNow("schedules", id);
    return updated;
  }

  override async recordScheduleProgress(id: string, progress: ScheduleProgress, at: number, epoch?: number): Promise<ScheduleRecord | null> {
    if (epoch === undefined) return super.recordScheduleProgress(id, progress, at);
    return this.inTransaction(async (client) => {
      await checkEpoch(client, epoch);
      const db = { all: async (sql: string, values: unknown[]) => (await client.query(sql, values)).rows, dialect, parse };
      return schedules.recordScheduleProgress(db, id, progress, at);
    });
  }

  private async announceNow(kind: JobNotice["kind"], id: string): Promise<void> {
    if (this.jobsChannel) await this.pool.query("SELECT pg_notify($1, $2)", [this.jobsChannel, noticePayload(kind, this.origin, id, 0)]);
  }

  /** Announced at commit (NOTIFY is transactional), in commit order. */
  private async announce(client: pg.PoolClient, kind: JobNotice["kind"], jobId: string, sequence: number): Promise<void> {
    if (this.jobsChannel) await client.query("SELECT pg_notify($1, $2)", [this.jobsChannel, noticePayload(kind, this.origin, jobId, sequence)]);
  }

  async ping(): Promise<void> {
    await this.pool.query("SELECT 1");
  }

  async close(): Promise<void> {
    this.closing ??= Promise.all([...this.feeds].map((feed) => feed.close())).then(() => this.pool.end());
    return this.closing;
  }

  private async inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await work(client);
      await client.query("COMMIT");
      client.release();
      return result;
    } catch (error) {
      try {
        await client.query("ROLLBACK");
        client.release();
      } catch (rollbackError) {
        // The connection is unusable; destroy it instead of returning it to the pool.
        client.release(rollbackError as Error);
      }
      throw error;
    }
  }
}

async function lockMigrations(client: pg.PoolClient): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
}

async function appliedVersions(client: pg.PoolClient): Promise<Set<number>> {
  const { rows } = await client.query("SELECT version FROM schema_migrations");
  return new Set(rows.map((r: Row) => Number(r.version)));
}

async function lockJob(client: pg.PoolClient, id: string): Promise<JobRecord | null> {
  const { rows } = await client.query("SELECT * FROM jobs WHERE id = $1 FOR UPDATE", [id]);
  return rows[0] ? rowToJob(rows[0], parse) : null;
}

async function addCounts(client: pg.PoolClient, deltas: readonly CountDelta[]): Promise<void> {
  if (deltas.length === 0) return;
  const shard = Math.floor(Math.random() * COUNT_SHARDS);
  for (const { type, state, delta } of deltas) await client.query(countDeltaSql(dialect), [type, state, shard, delta]);
}
