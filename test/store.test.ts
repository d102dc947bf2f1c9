// Conformance suite: every JobStore implementation must pass the same tests.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import type { JobRecord, JobStateName } from "../src/jobs/job.js";
import { matchesLabels, parseLabelSelector } from "../src/store/label-selector.js";
import type { Migration } from "../src/store/migrations.js";
import { postgresMigrations } from "../src/store/postgres/migrations.js";
import { PostgresStore, postgresDialect } from "../src/store/postgres/postgres-store.js";
import { eventValues, insertEventSql, JOB_COLUMNS, jobRowValues, listJobsSql, type SqlDialect } from "../src/store/sql.js";
import { sqliteMigrations } from "../src/store/sqlite/migrations.js";
import { SqliteStore, sqliteDialect } from "../src/store/sqlite/sqlite-store.js";
import { firstEvent } from "../src/store/transition.js";
import type { JobCursor, JobQuery, JobStore } from "../src/store/store.js";
import { makeJob } from "./support/job-fixtures.js";
import { waitFor } from "./support/service.js";

const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

interface OpenedStore {
  store: JobStore;
  /** Another store on the same storage (the same file, or a new pool on the same schema). */
  reopen(): JobStore;
  /** A plain connection to the same storage, bypassing the store (closed by the backend's cleanup). */
  raw(): Promise<RawDb>;
}

/** Direct SQL on a store's storage: to set up old schemas and to read query plans. */
interface RawDb {
  run(sql: string, values?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Several statements, no parameters. */
  exec(sql: string): Promise<void>;
  /** The plan of a query as one line of text, with the planner told to avoid sorts and full scans where it can. */
  plan(sql: string, values: unknown[]): Promise<string>;
}

interface Backend {
  name: "sqlite" | "postgres";
  dialect: SqlDialect;
  migrations: readonly Migration[];
  /** JSON column values as this backend's driver takes them. */
  json(value: unknown): unknown;
  migrationCount: number;
  /** A store on empty storage of its own, not yet migrated. */
  open(): Promise<OpenedStore>;
  /** Removes all storage the backend created. */
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  let dir: string | undefined;
  let opened = 0;
  const raws: Database.Database[] = [];
  return {
    name: "sqlite",
    dialect: sqliteDialect,
    migrations: sqliteMigrations,
    json: (value) => JSON.stringify(value),
    migrationCount: sqliteMigrations.length,
    async open() {
      dir ??= await mkdtemp(join(tmpdir(), "jobscheduler-store-test-"));
      const path = join(dir, `store-${++opened}.db`);
      return {
        store: new SqliteStore(path),
        reopen: () => new SqliteStore(path),
        async raw() {
          const db = new Database(path);
          raws.push(db);
          db.pragma("busy_timeout = 5000");
          return {
            async run(sql, values = []) {
              const statement = db.prepare(sql);
              if (statement.reader) return statement.all(...values) as Record<string, unknown>[];
              statement.run(...values);
              return [];
            },
            async exec(sql) {
              db.exec(sql);
            },
            async plan(sql, values) {
              return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...values) as { detail: string }[]).map((r) => r.detail).join(" | ");
            },
          };
        },
      };
    },
    async cleanup() {
      for (const db of raws.splice(0)) db.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

function postgresBackend(): Backend {
  // One schema per test, all named after this run, so concurrent runs and tests never meet.
  const runPrefix = `jobscheduler_test_${process.pid}_${Date.now().toString(36)}`;
  const schemas: string[] = [];
  let reachable: Promise<void> | undefined;
  const raws: pg.Client[] = [];
  return {
    name: "postgres",
    dialect: postgresDialect,
    migrations: postgresMigrations,
    json: (value) => JSON.stringify(value),
    migrationCount: postgresMigrations.length,
    async open() {
      await (reachable ??= assertPostgresReachable());
      const schema = `${runPrefix}_${schemas.length + 1}`;
      schemas.push(schema);
      return {
        store: new PostgresStore(POSTGRES_URL, { schema }),
        reopen: () => new PostgresStore(POSTGRES_URL, { schema }),
        async raw() {
          const client = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` });
          raws.push(client);
          await client.connect();
          await client.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
          return {
            async run(sql, values = []) {
              return (await client.query(sql, values)).rows;
            },
            async exec(sql) {
              await client.query(sql);
            },
            async plan(sql, values) {
              // A test store is tiny, so the planner would rightly read it whole; these make it show
              // the plan it takes for a big one, where the indexes pay.
              await client.query("SET enable_seqscan = off; SET enable_sort = off; SET enable_bitmapscan = off");
              const { rows } = await client.query(`EXPLAIN ${sql}`, values);
              return rows.map((r: Record<string, string>) => r["QUERY PLAN"].trim()).join(" | ");
            },
          };
        },
      };
    },
    async cleanup() {
      await Promise.all(raws.splice(0).map((c) => c.end().catch(() => {})));
      if (schemas.length === 0) return;
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      try {
        for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
      } finally {
        await client.end();
      }
    },
  };
}

async function assertPostgresReachable(): Promise<void> {
  const url = new URL(POSTGRES_URL);
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (error) {
    throw new Error(
      `PostgreSQL at ${url.hostname}:${url.port || 5432} is not reachable: ${describeError(error)} ` +
        "(the PostgreSQL conformance tests need it; set TEST_POSTGRES_URL to use another server)",
    );
  } finally {
    await client.end().catch(() => {});
  }
}

function describeError(error: unknown): string {
  // Node reports a failed multi-address connect as an AggregateError with an empty message.
  if (error instanceof AggregateError) return error.errors.map(describeError).join("; ");
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}

const names = (jobs: JobRecord[]) => jobs.map((j) => j.name);
const BASE_TIME = 1_700_000_000_000;

describe.each([sqliteBackend(), postgresBackend()])("$name store", (backend) => {
  let opened: OpenedStore;
  let store: JobStore;
  let firstMigrateCount: number;
  const openStores: JobStore[] = [];
  const keep = (s: JobStore) => (openStores.push(s), s);

  beforeEach(async () => {
    opened = await backend.open();
    store = keep(opened.store);
    firstMigrateCount = await store.migrate();
  });
  afterEach(async () => {
    await Promise.all(openStores.splice(0).map((s) => s.close()));
  });
  afterAll(() => backend.cleanup());

  it("reports its kind", () => {
    expect(store.kind).toBe(backend.name);
  });

  describe("migrate", () => {
    it("applies every migration once; a second call applies none", async () => {
      expect(firstMigrateCount).toBe(backend.migrationCount);
      expect(await store.migrate()).toBe(0);
    });

    it("keeps data and applies nothing when the same storage is reopened", async () => {
      const job = makeJob();
      await store.createJob(job);
      await store.close();
      const reopened = keep(opened.reopen());
      expect(await reopened.migrate()).toBe(0);
      expect(await reopened.getJob(job.id)).toStrictEqual(job);
    });

    it("applies each migration exactly once when two stores migrate at the same time", async () => {
      const fresh = await backend.open();
      const first = keep(fresh.store);
      const second = keep(fresh.reopen());
      const counts = await Promise.all([first.migrate(), second.migrate()]);
      expect(counts[0] + counts[1]).toBe(backend.migrationCount);
    });
  });

  describe("createJob and getJob", () => {
    it("round-trips every field exactly", async () => {
      const now = Date.now();
      const job = makeJob({
        name: "round trip ✓ \"quoted\" 'single'",
        type: "http-load",
        state: "RUNNING",
        reason: "SOME_REASON",
        message: "line one\nline two",
        attempt: 2,
        maxAttempts: 5,
        priority: -7,
        idempotencyKey: "idem-round-trip",
        requestHash: "sha256:abcdef",
        labels: { "app.kubernetes.io/name": "web", team: "core", empty: "" },
        resources: { cpuRequest: "250m", cpuLimit: "2", memoryRequest: "256Mi", memoryLimit: "1Gi" },
        timeoutMs: 30 * 86_400_000,
        params: { nested: { list: [1, "two", null, true, { deep: [] }], fraction: 1.5, negative: -3 }, big: now, flag: false, text: "ü" },
        result: { ok: true, metrics: [{ p99: 12.25 }], none: null },
        placement: { runtime: "kubernetes", location: "jobs/run-1", namespace: "jobs", kubernetesJobName: "run-1" },
        outputTail: "last\noutput\tlines",
        cancelRequested: true,
        sequence: 1,
        createdAt: now,
        updatedAt: now + 1,
        startedAt: now + 2,
        finishedAt: now + 3,
      });
      expect(await store.createJob(job)).toStrictEqual({ job, created: true });
      expect(await store.getJob(job.id)).toStrictEqual(job);
    });

    it("round-trips nulls, false and empty values", async () => {
      const job = makeJob({ idempotencyKey: null, result: null, placement: null, startedAt: null, finishedAt: null, cancelRequested: false, labels: {}, params: {} });
      await store.createJob(job);
      expect(await store.getJob(job.id)).toStrictEqual(job);
    });

    it("round-trips a local placement", async () => {
      const job = makeJob({ placement: { runtime: "local", location: "host-1:4242", host: "host-1", pid: 4242 } });
      await store.createJob(job);
      expect(await store.getJob(job.id)).toStrictEqual(job);
    });

    it("fails only the insert that fails when several arrive together", async () => {
      const first = makeJob({ name: "first" });
      const clash = makeJob({ id: first.id, name: "same id" });
      const other = makeJob({ name: "other" });
      const results = await Promise.allSettled([store.createJob(first), store.createJob(clash), store.createJob(other)]);
      expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
      expect(await store.getJob(first.id)).toStrictEqual(first);
      expect(await store.getJob(other.id)).toStrictEqual(other);
      expect(await store.listEvents(first.id, 0)).toHaveLength(1);
    });

    it("writes the first event with the job", async () => {
      const job = makeJob({ message: "queued by test" });
      await store.createJob(job);
      expect(await store.listEvents(job.id, 0)).toStrictEqual([
        { jobId: job.id, sequence: 1, state: "QUEUED", reason: "", message: "queued by test", attempt: 1, at: job.createdAt },
      ]);
    });

    it("returns null for an unknown job", async () => {
      expect(await store.getJob("no-such-job")).toBeNull();
    });
  });

  describe("idempotency", () => {
    it("returns the first job, unchanged and with created=false, for a repeated key", async () => {
      const first = makeJob({ idempotencyKey: "same-key", name: "first" });
      const repeat = makeJob({ idempotencyKey: "same-key", name: "repeat" });
      expect(await store.createJob(first)).toStrictEqual({ job: first, created: true });
      expect(await store.createJob(repeat)).toStrictEqual({ job: first, created: false });
      expect(await store.getJob(repeat.id)).toBeNull();
      expect(await store.listEvents(repeat.id, 0)).toEqual([]);
      expect(await store.listEvents(first.id, 0)).toHaveLength(1);
    });

    it("creates every job that has no key", async () => {
      const results = [await store.createJob(makeJob()), await store.createJob(makeJob())];
      expect(results.map((r) => r.created)).toEqual([true, true]);
      expect(await store.listJobs({ limit: 10 })).toHaveLength(2);
    });

    it("creates exactly one job when 20 requests with one key race", async () => {
      const attempts = Array.from({ length: 20 }, (_, i) => makeJob({ idempotencyKey: "raced-key", name: `attempt ${i}` }));
      const results = await Promise.all(attempts.map((job) => store.createJob(job)));
      const winners = results.filter((r) => r.created);
      expect(winners).toHaveLength(1);
      const winnerId = winners[0].job.id;
      expect(results.every((r) => r.job.id === winnerId)).toBe(true);
      expect((await store.listJobs({ limit: 100 })).map((j) => j.id)).toEqual([winnerId]);
      expect(await store.listEvents(winnerId, 0)).toHaveLength(1);
    });
  });

  describe("transition", () => {
    it("does nothing and returns null when the job is not in a `from` state", async () => {
      const job = makeJob();
      await store.createJob(job);
      const outcome = await store.transition(job.id, { from: ["RUNNING", "STARTING"], to: "SUCCEEDED", at: job.createdAt + 10 });
      expect(outcome).toBeNull();
      expect(await store.getJob(job.id)).toStrictEqual(job);
      expect(await store.listEvents(job.id, 0)).toHaveLength(1);
    });

    it("returns null for an unknown job", async () => {
      expect(await store.transition("no-such-job", { from: ["QUEUED"], to: "STARTING", at: 1 })).toBeNull();
    });

    it("writes the job and an event with the next sequence", async () => {
      const job = makeJob({ reason: "OLD_REASON" });
      await store.createJob(job);
      const at = job.createdAt + 100;
      const placement = { runtime: "local" as const, location: "host-1:77", host: "host-1", pid: 77 };
      const outcome = await store.transition(job.id, {
        from: ["QUEUED"],
        to: "STARTING",
        message: "launching",
        patch: { attempt: 2, placement, startedAt: at, outputTail: undefined },
        at,
      });
      const expected: JobRecord = { ...job, state: "STARTING", reason: "", message: "launching", attempt: 2, placement, startedAt: at, sequence: 2, updatedAt: at };
      expect(outcome).toStrictEqual({
        job: expected,
        event: { jobId: job.id, sequence: 2, state: "STARTING", reason: "", message: "launching", attempt: 2, at },
      });
      expect(await store.getJob(job.id)).toStrictEqual(expected);
    });

    it("records a job's whole life as ordered events, listed after a sequence", async () => {
      const job = makeJob();
      await store.createJob(job);
      const t = job.createdAt;
      await store.transition(job.id, { from: ["QUEUED"], to: "STARTING", at: t + 1 });
      await store.transition(job.id, { from: ["STARTING"], to: "RUNNING", at: t + 2 });
      const done = await store.transition(job.id, {
        from: ["RUNNING"],
        to: "FAILED",
        reason: "EXIT_CODE",
        message: "exited with 3",
        patch: { result: { exitCode: 3 }, finishedAt: t + 3, placement: null },
        at: t + 3,
      });
      expect(done?.job).toMatchObject({ state: "FAILED", reason: "EXIT_CODE", sequence: 4, result: { exitCode: 3 }, finishedAt: t + 3, placement: null });
      expect(await store.getJob(job.id)).toStrictEqual(done?.job);

      const all = await store.listEvents(job.id, 0);
      expect(all.map((e) => [e.sequence, e.state, e.at])).toEqual([
        [1, "QUEUED", t],
        [2, "STARTING", t + 1],
        [3, "RUNNING", t + 2],
        [4, "FAILED", t + 3],
      ]);
      expect((await store.listEvents(job.id, 2)).map((e) => e.sequence)).toEqual([3, 4]);
      expect(await store.listEvents(job.id, 4)).toEqual([]);
    });

    it("lets exactly one of several concurrent compare-and-set transitions win", async () => {
      const job = makeJob();
      await store.createJob(job);
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, (_, i) => store.transition(job.id, { from: ["QUEUED"], to: "STARTING", message: `racer ${i}`, at: job.createdAt + i })),
      );
      expect(outcomes.filter((o) => o !== null)).toHaveLength(1);
      expect((await store.getJob(job.id))?.sequence).toBe(2);
      expect(await store.listEvents(job.id, 0)).toHaveLength(2);
    });
  });

  describe("patchJob", () => {
    it("updates the given fields and updatedAt without an event", async () => {
      const job = makeJob({ placement: { runtime: "local", location: "here" } });
      await store.createJob(job);
      const at = job.createdAt + 50;
      const patched = await store.patchJob(job.id, { cancelRequested: true, outputTail: "tail" }, at);
      const expected = { ...job, cancelRequested: true, outputTail: "tail", updatedAt: at };
      expect(patched).toStrictEqual(expected);
      expect(await store.getJob(job.id)).toStrictEqual(expected);
      expect(await store.listEvents(job.id, 0)).toHaveLength(1);
    });

    it("clears the placement when given null", async () => {
      const job = makeJob({ placement: { runtime: "local", location: "here" } });
      await store.createJob(job);
      await store.patchJob(job.id, { placement: null }, job.createdAt + 1);
      expect((await store.getJob(job.id))?.placement).toBeNull();
    });

    it("returns null for an unknown job", async () => {
      expect(await store.patchJob("no-such-job", { outputTail: "x" }, 1)).toBeNull();
    });
  });

  describe("listJobs filters", () => {
    beforeEach(async () => {
      const jobs = [
        makeJob({ name: "j1", type: "timer", state: "QUEUED", labels: { app: "web", tier: "frontend" }, createdAt: BASE_TIME + 1 }),
        makeJob({ name: "j2", type: "timer", state: "RUNNING", labels: { app: "api", tier: "backend" }, createdAt: BASE_TIME + 2 }),
        makeJob({ name: "j3", type: "http", state: "SUCCEEDED", labels: { app: "web" }, createdAt: BASE_TIME + 3 }),
        makeJob({ name: "j4", type: "http", state: "FAILED", labels: { "example.com/team": "core", app: "" }, createdAt: BASE_TIME + 4 }),
        makeJob({ name: "j5", type: "timer", state: "CANCELLED", labels: {}, createdAt: BASE_TIME + 5 }),
      ];
      for (const job of jobs) await store.createJob(job);
    });

    const list = async (query: Partial<JobQuery>) => names(await store.listJobs({ limit: 100, ...query }));

    it("lists every job newest first", async () => {
      expect(await list({})).toEqual(["j5", "j4", "j3", "j2", "j1"]);
    });

    it("limits the count", async () => {
      expect(await list({ limit: 2 })).toEqual(["j5", "j4"]);
    });

    it("filters by type and by states", async () => {
      expect(await list({ type: "http" })).toEqual(["j4", "j3"]);
      expect(await list({ type: "nothing" })).toEqual([]);
      expect(await list({ states: ["QUEUED", "RUNNING"] })).toEqual(["j2", "j1"]);
      expect(await list({ type: "timer", states: ["CANCELLED", "QUEUED"] })).toEqual(["j5", "j1"]);
    });

    it("filters by creation time, bounds excluded", async () => {
      expect(await list({ createdAfter: BASE_TIME + 2 })).toEqual(["j5", "j4", "j3"]);
      expect(await list({ createdBefore: BASE_TIME + 4 })).toEqual(["j3", "j2", "j1"]);
      expect(await list({ createdAfter: BASE_TIME + 1, createdBefore: BASE_TIME + 4 })).toEqual(["j3", "j2"]);
    });

    it.each([
      ["app=web", ["j3", "j1"]],
      ["app==web", ["j3", "j1"]],
      ["app = web", ["j3", "j1"]],
      ["app=", ["j4"]],
      ["app!=web", ["j5", "j4", "j2"]],
      ["app in (web, api)", ["j3", "j2", "j1"]],
      ["app in (nothing)", []],
      ["app notin (web)", ["j5", "j4", "j2"]],
      ["tier", ["j2", "j1"]],
      ["!tier", ["j5", "j4", "j3"]],
      ["example.com/team=core", ["j4"]],
      ["example.com/team", ["j4"]],
      ["app=web,tier=frontend", ["j1"]],
      ["app=web, !tier", ["j3"]],
      ["app notin (web,api), !example.com/team", ["j5"]],
    ])("selects labels with %j", async (selector, expected) => {
      const labels = parseLabelSelector(selector);
      const selected = await store.listJobs({ limit: 100, labels });
      expect(names(selected)).toEqual(expected);
      // The SQL must agree with the in-memory matcher the rest of the service uses.
      const everyJob = await store.listJobs({ limit: 100 });
      expect(names(selected)).toEqual(names(everyJob.filter((j) => matchesLabels(j.labels, labels))));
    });

    it("combines label, type and state filters", async () => {
      expect(await list({ type: "timer", states: ["QUEUED", "RUNNING"], labels: parseLabelSelector("app=api") })).toEqual(["j2"]);
    });
  });

  describe("listJobs pagination", () => {
    // 26 jobs, four per millisecond, inserted in scrambled order; ids sort the same in any collation.
    const jobs = Array.from({ length: 26 }, (_, i) =>
      makeJob({ id: `job-${String(i).padStart(2, "0")}`, name: `job-${String(i).padStart(2, "0")}`, type: i % 2 ? "odd" : "even", createdAt: BASE_TIME + Math.floor(i / 4) }),
    );
    const newestFirst = (list: JobRecord[]) =>
      [...list].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));

    beforeEach(async () => {
      const scrambled = jobs.map((job, i) => ({ job, key: (i * 7) % jobs.length })).sort((a, b) => a.key - b.key);
      for (const { job } of scrambled) await store.createJob(job);
    });

    async function readAllPages(query: Omit<JobQuery, "after">): Promise<{ pages: string[][]; all: string[] }> {
      const pages: string[][] = [];
      let after: JobCursor | undefined;
      for (;;) {
        const page = await store.listJobs({ ...query, after });
        if (page.length > 0) pages.push(names(page));
        if (page.length < query.limit) break;
        const last = page[page.length - 1];
        after = { createdAt: last.createdAt, id: last.id };
        if (pages.length > jobs.length) throw new Error("pagination does not end");
      }
      return { pages, all: pages.flat() };
    }

    it.each([1, 3, 4, 5, 26, 100])("walks every job once, newest first, with pages of %i", async (limit) => {
      const { pages, all } = await readAllPages({ limit });
      expect(all).toEqual(names(newestFirst(jobs)));
      expect(pages.slice(0, -1).every((page) => page.length === limit)).toBe(true);
    });

    it("pages through a filtered list", async () => {
      const { all } = await readAllPages({ limit: 3, type: "odd" });
      expect(all).toEqual(names(newestFirst(jobs.filter((j) => j.type === "odd"))));
    });

    it("continues after a cursor inside a group of equal creation times", async () => {
      const page = await store.listJobs({ limit: 3, after: { createdAt: BASE_TIME + 5, id: "job-22" } });
      expect(names(page)).toEqual(["job-21", "job-20", "job-19"]);
    });
  });

  describe("jobsInDispatchOrder", () => {
    beforeEach(async () => {
      const jobs = [
        makeJob({ id: "a-low-old", name: "low-old", priority: 0, createdAt: BASE_TIME + 1 }),
        makeJob({ id: "b-high-new", name: "high-new", priority: 10, createdAt: BASE_TIME + 3 }),
        makeJob({ id: "c-high-old", name: "high-old", priority: 10, createdAt: BASE_TIME + 2 }),
        makeJob({ id: "d-mid-oldest", name: "mid-oldest", priority: 5, createdAt: BASE_TIME }),
        makeJob({ id: "e-tie-2", name: "tie-2", priority: 1, createdAt: BASE_TIME + 4 }),
        makeJob({ id: "e-tie-1", name: "tie-1", priority: 1, createdAt: BASE_TIME + 4 }),
        makeJob({ id: "f-running", name: "running", state: "RUNNING", priority: 100, createdAt: BASE_TIME }),
        makeJob({ id: "g-done", name: "done", state: "SUCCEEDED", priority: 100, createdAt: BASE_TIME }),
      ];
      for (const job of jobs) await store.createJob(job);
    });

    it("orders by priority, highest first, then oldest first", async () => {
      expect(names(await store.jobsInDispatchOrder(["QUEUED"], 100))).toEqual(["high-old", "high-new", "mid-oldest", "tie-1", "tie-2", "low-old"]);
    });

    it("limits the count and takes several states", async () => {
      expect(names(await store.jobsInDispatchOrder(["QUEUED", "RUNNING"], 3))).toEqual(["running", "high-old", "high-new"]);
    });

    it("returns nothing for no states", async () => {
      expect(await store.jobsInDispatchOrder([], 10)).toEqual([]);
    });
  });

  describe("countByTypeAndState", () => {
    it("is empty for an empty store", async () => {
      expect(await store.countByTypeAndState()).toEqual([]);
    });

    it("counts jobs per type and state", async () => {
      const specs: [string, JobStateName][] = [
        ["timer", "QUEUED"], ["timer", "QUEUED"], ["timer", "RUNNING"], ["http", "QUEUED"], ["http", "FAILED"], ["http", "FAILED"], ["http", "FAILED"],
      ];
      for (const [type, state] of specs) await store.createJob(makeJob({ type, state }));
      const byKey = (a: { type: string; state: string }, b: { type: string; state: string }) =>
        `${a.type}/${a.state}`.localeCompare(`${b.type}/${b.state}`);
      expect((await store.countByTypeAndState()).sort(byKey)).toStrictEqual(
        [
          { type: "http", state: "FAILED", count: 3 },
          { type: "http", state: "QUEUED", count: 1 },
          { type: "timer", state: "QUEUED", count: 2 },
          { type: "timer", state: "RUNNING", count: 1 },
        ].sort(byKey),
      );
    });
  });

  describe("listJobs agrees with an in-memory filter", () => {
    // A seeded mix of states, types, labels and creation times (several jobs per millisecond).
    const STATES: JobStateName[] = ["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"];
    let seed = 7;
    const random = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648), seed % n);
    const jobs = Array.from({ length: 120 }, (_, i) => {
      const labels: Record<string, string> = {};
      if (random(4)) labels.team = `t${random(4)}`;
      if (random(3) === 0) labels.app = ["web", "api", ""][random(3)];
      return makeJob({
        id: `job-${String(i).padStart(3, "0")}`,
        name: `job-${String(i).padStart(3, "0")}`,
        type: ["timer", "http"][random(2)],
        state: STATES[random(STATES.length)],
        labels,
        createdAt: BASE_TIME + random(40),
      });
    });
    const newestFirst = (list: JobRecord[]) =>
      [...list].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));

    function expected(query: Omit<JobQuery, "limit" | "after">): string[] {
      return names(newestFirst(jobs.filter((j) =>
        (!query.type || j.type === query.type) &&
        (!query.states?.length || query.states.includes(j.state)) &&
        (query.createdAfter === undefined || j.createdAt > query.createdAfter) &&
        (query.createdBefore === undefined || j.createdAt < query.createdBefore) &&
        matchesLabels(j.labels, query.labels ?? []),
      )));
    }

    beforeEach(async () => {
      await Promise.all(jobs.map((job) => store.createJob(job)));
    });

    it.each([
      ["no filter", {}],
      ["one state", { states: ["QUEUED"] }],
      ["several states", { states: ["QUEUED", "FAILED", "SUCCEEDED"] }],
      ["a type and several states", { type: "http", states: ["RUNNING", "CANCELLED"] }],
      ["several states in a creation window", { states: ["QUEUED", "RUNNING"], createdAfter: BASE_TIME + 5, createdBefore: BASE_TIME + 30 }],
      ["a label", { labels: parseLabelSelector("team=t1") }],
      ["an empty label value", { labels: parseLabelSelector("app=") }],
      ["a label in a set", { labels: parseLabelSelector("team in (t1, t3, t1)") }],
      ["a label in a set and several states", { labels: parseLabelSelector("team in (t0,t2)"), states: ["QUEUED", "FAILED"] }],
      ["a label and a negative one", { labels: parseLabelSelector("team=t2,app!=web") }],
      ["a label in a creation window", { labels: parseLabelSelector("team=t0"), createdAfter: BASE_TIME + 10, createdBefore: BASE_TIME + 35 }],
      ["a label, a type and a state", { labels: parseLabelSelector("team=t3"), type: "timer", states: ["SUCCEEDED"] }],
      ["negative labels only", { labels: parseLabelSelector("!team,app notin (api)") }],
      ["an existing label and states", { labels: parseLabelSelector("app"), states: ["QUEUED", "RUNNING", "FAILED"] }],
      ["a label no job has", { labels: parseLabelSelector("team=nobody") }],
    ] as [string, Omit<JobQuery, "limit">][])("with %s, page after page", async (_, query) => {
      for (const limit of [7, 1000]) {
        const seen: string[] = [];
        let after: JobCursor | undefined;
        for (let pages = 0; ; pages++) {
          if (pages > jobs.length) throw new Error("pagination does not end");
          const page = await store.listJobs({ ...query, limit, after });
          seen.push(...names(page));
          if (page.length < limit) break;
          const last = page[page.length - 1];
          after = { createdAt: last.createdAt, id: last.id };
        }
        expect(seen).toEqual(expected(query));
      }
    });
  });

  describe("query plans: a page reads about its own rows, whatever the store holds", () => {
    let raw: RawDb;
    beforeEach(async () => {
      raw = await opened.raw();
    });

    const plan = (query: Partial<JobQuery>) => {
      const { sql, values } = listJobsSql({ limit: 50, ...query }, backend.dialect);
      return raw.plan(sql, values);
    };
    const fullScan = /\bSCAN (jobs|l)\b|Seq Scan/;
    const sorts = /TEMP B-TREE|Sort/;

    it("lists one state from the state index, in its order", async () => {
      const text = await plan({ states: ["QUEUED"], after: { createdAt: BASE_TIME, id: "x" } });
      expect(text).toMatch(/jobs_state_created/);
      expect(text).not.toMatch(fullScan);
      expect(text).not.toMatch(sorts);
    });

    it("lists several states as one ordered read of the state index each", async () => {
      const text = await plan({ states: ["QUEUED", "RUNNING", "FAILED"] });
      expect(text.match(/jobs_state_created/g)).toHaveLength(3);
      expect(text).not.toMatch(fullScan);
    });

    it.each(["team=nobody", "team in (a, b)", "team=a, app!=web", "team=a, !app"])("selects %j from the label index", async (selector) => {
      const text = await plan({ labels: parseLabelSelector(selector), states: ["QUEUED"] });
      expect(text).toMatch(backend.name === "sqlite" ? /SEARCH l USING PRIMARY KEY \(key=\? AND value=\?/ : /job_labels_pkey/);
      expect(text).not.toMatch(fullScan);
      if (!selector.includes(" in ")) expect(text).not.toMatch(sorts);
    });

    it("counts a queue position from the dispatch index alone", async () => {
      // The store's bounded counts, as the planner sees them: ranges of the dispatch index, nothing read from the rows.
      const d = backend.dialect;
      const higher = `SELECT COUNT(*) AS n FROM (SELECT 1 FROM jobs WHERE state = 'QUEUED' AND priority > ${d.param(1)} AND +run_at <= ${d.param(2)} LIMIT ${d.param(3)}) AS ahead`;
      const text = await raw.plan(higher, [0, BASE_TIME, 10]);
      // SQLite plans without statistics: the plan must be right by its shape. PostgreSQL picks the
      // index by its statistics; what must hold there is that the count stops at the bound.
      if (backend.name === "sqlite") expect(text).toMatch(/COVERING INDEX jobs_state_dispatch \(state=\? AND priority>\?\)/);
      else expect(text).toMatch(/^Aggregate .*-> +Limit .*Index/);
      expect(text).not.toMatch(fullScan);
    });
  });

  describe("job counts", () => {
    const sorted = (counts: { type: string; state: string; count: number }[]) =>
      [...counts].sort((a, b) => `${a.type}/${a.state}`.localeCompare(`${b.type}/${b.state}`));

    it("follow every state change, and only the changes that happen", async () => {
      const a = makeJob({ type: "timer", idempotencyKey: "counted-once" });
      const b = makeJob({ type: "timer" });
      const c = makeJob({ type: "http" });
      await Promise.all([store.createJob(a), store.createJob(b), store.createJob(c)]);
      // A repeated key and a failed insert (same id) count nothing.
      await store.createJob({ ...makeJob({ type: "timer" }), idempotencyKey: "counted-once" });
      await expect(store.createJob({ ...makeJob({ type: "timer" }), id: b.id })).rejects.toThrow();
      await store.transition(a.id, { from: ["QUEUED"], to: "STARTING", at: BASE_TIME });
      await store.transition(a.id, { from: ["STARTING"], to: "RUNNING", at: BASE_TIME });
      await store.transition(a.id, { from: ["QUEUED"], to: "CANCELLED", at: BASE_TIME }); // not QUEUED: no change
      await store.transition(a.id, { from: ["RUNNING"], to: "SUCCEEDED", at: BASE_TIME });
      await store.transition(c.id, { from: ["QUEUED"], to: "FAILED", at: BASE_TIME });
      await store.transition(b.id, { from: ["QUEUED"], to: "QUEUED", reason: "SAME_STATE", at: BASE_TIME });
      expect(sorted(await store.countByTypeAndState())).toStrictEqual(sorted([
        { type: "timer", state: "SUCCEEDED", count: 1 },
        { type: "timer", state: "QUEUED", count: 1 },
        { type: "http", state: "FAILED", count: 1 },
      ]));
    });

    it("split the queue into due, delayed and backing off, per type", async () => {
      const now = BASE_TIME + 1_000;
      await Promise.all([
        store.createJob(makeJob({ type: "timer", createdAt: BASE_TIME, runAt: BASE_TIME })),
        store.createJob(makeJob({ type: "timer", createdAt: BASE_TIME, runAt: now })),
        store.createJob(makeJob({ type: "timer", createdAt: BASE_TIME, runAt: now + 1 })),
        store.createJob(makeJob({ type: "timer", createdAt: BASE_TIME, runAt: now + 5, attempt: 2 })),
        store.createJob(makeJob({ type: "http", createdAt: BASE_TIME, runAt: now + 5 })),
        store.createJob(makeJob({ type: "http", state: "RUNNING", createdAt: BASE_TIME, runAt: BASE_TIME })),
      ]);
      const counts = await store.queuedCounts(now);
      expect([...counts].sort((a, b) => `${a.type}/${a.wait}`.localeCompare(`${b.type}/${b.wait}`))).toStrictEqual([
        { type: "http", wait: "DELAYED", count: 1 },
        { type: "timer", wait: "DELAYED", count: 1 },
        { type: "timer", wait: "DUE", count: 2 },
        { type: "timer", wait: "RETRY_BACKOFF", count: 1 },
      ]);
    });
  });

  describe("queuePosition", () => {
    const now = BASE_TIME + 1_000;
    // Dispatch order: p10 first, then the priority-0 jobs oldest first (ties by id); "later" is not due.
    const queue = [
      makeJob({ id: "a-high", name: "high", priority: 10, createdAt: BASE_TIME + 9, runAt: BASE_TIME }),
      makeJob({ id: "b-old", name: "old", createdAt: BASE_TIME + 1, runAt: BASE_TIME }),
      makeJob({ id: "c-tie-1", name: "tie-1", createdAt: BASE_TIME + 2, runAt: BASE_TIME }),
      makeJob({ id: "d-tie-2", name: "tie-2", createdAt: BASE_TIME + 2, runAt: BASE_TIME }),
      makeJob({ id: "e-later", name: "later", createdAt: BASE_TIME + 2, runAt: now + 1 }),
      makeJob({ id: "f-new", name: "new", createdAt: BASE_TIME + 3, runAt: BASE_TIME }),
      makeJob({ id: "g-newest", name: "newest", createdAt: BASE_TIME + 4, runAt: BASE_TIME }),
    ];
    const byName = (name: string) => queue.find((j) => j.name === name)!;
    beforeEach(async () => {
      await Promise.all([...queue, makeJob({ state: "RUNNING", priority: 20, createdAt: BASE_TIME })].map((job) => store.createJob(job)));
    });

    it("is exact up to the bound, counting only due queued jobs ahead", async () => {
      const positions = await Promise.all(["high", "old", "tie-1", "tie-2", "new", "newest"].map((n) => store.queuePosition(byName(n), now, 100)));
      expect(positions).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it("finds the n-th due job in dispatch order, or none past the end", async () => {
      const key = (job: JobRecord) => ({ priority: job.priority, createdAt: job.createdAt, id: job.id });
      expect(await store.nthDueQueued(now, 1)).toStrictEqual(key(byName("high")));
      expect(await store.nthDueQueued(now, 4)).toStrictEqual(key(byName("tie-2")));
      expect(await store.nthDueQueued(now, 6)).toStrictEqual(key(byName("newest")));
      expect(await store.nthDueQueued(now, 7)).toBeNull();
    });

    it("is bound + 1 for a job with more than `bound` jobs ahead, however they split by priority", async () => {
      expect(await store.queuePosition(byName("tie-2"), now, 3)).toBe(4);
      expect(await store.queuePosition(byName("newest"), now, 3)).toBe(4);
      expect(await store.queuePosition(byName("newest"), now, 1)).toBe(2);
      expect(await store.queuePosition(byName("old"), now, 1)).toBe(2);
      expect(await store.queuePosition(byName("high"), now, 1)).toBe(1);
    });
  });

  describe("migration 7 on a store that already holds jobs", () => {
    it("fills the label index and the job counts from the existing rows", async () => {
      const old = await backend.open();
      const raw = await old.raw();
      await raw.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)");
      for (const migration of backend.migrations.filter((m) => m.version < 7)) {
        await raw.exec(migration.sql);
        await raw.run(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${[1, 2, 3].map(backend.dialect.param).join(", ")})`, [migration.version, migration.name, 0]);
      }
      const jobs = [
        makeJob({ name: "web-1", labels: { app: "web", team: "core" }, createdAt: BASE_TIME + 1 }),
        makeJob({ name: "web-2", type: "http", state: "FAILED", labels: { app: "web" }, createdAt: BASE_TIME + 2 }),
        makeJob({ name: "api", labels: { app: "api" }, createdAt: BASE_TIME + 3 }),
        makeJob({ name: "bare", labels: {}, createdAt: BASE_TIME + 4 }),
      ];
      // The columns a store at version 6 has (later migrations add the ones after them).
      const columns = JOB_COLUMNS.slice(0, JOB_COLUMNS.indexOf("submitted_by"));
      const insertV6 = `INSERT INTO jobs (${columns.join(", ")}) VALUES (${columns.map((_, i) => backend.dialect.param(i + 1)).join(", ")})`;
      for (const job of jobs) {
        await raw.run(insertV6, jobRowValues(job, backend.json).slice(0, columns.length));
        await raw.run(insertEventSql(backend.dialect), eventValues(firstEvent(job)));
      }

      const migrated = keep(old.store);
      expect(await migrated.migrate()).toBe(backend.migrationCount - 6);
      expect(names(await migrated.listJobs({ limit: 10, labels: parseLabelSelector("app=web") }))).toEqual(["web-2", "web-1"]);
      expect(names(await migrated.listJobs({ limit: 10, labels: parseLabelSelector("team in (core)") }))).toEqual(["web-1"]);
      const count = (type: string, state: string) =>
        migrated.countByTypeAndState().then((all) => all.find((c) => c.type === type && c.state === state)?.count ?? 0);
      expect(await count("timer", "QUEUED")).toBe(3);
      expect(await count("http", "FAILED")).toBe(1);
      // The backfilled counts go on from there.
      await migrated.transition(jobs[0].id, { from: ["QUEUED"], to: "CANCELLED", at: BASE_TIME + 10 });
      expect(await count("timer", "QUEUED")).toBe(2);
      expect(await count("timer", "CANCELLED")).toBe(1);
    });
  });

  describe("settings", () => {
    it("stores, overwrites and deletes a value", async () => {
      expect(await store.getSetting("paused")).toBeNull();
      await store.setSetting("paused", "true");
      expect(await store.getSetting("paused")).toBe("true");
      await store.setSetting("paused", "false");
      expect(await store.getSetting("paused")).toBe("false");
      await store.setSetting("paused", null);
      expect(await store.getSetting("paused")).toBeNull();
      await store.setSetting("paused", null);
      expect(await store.getSetting("paused")).toBeNull();
    });

    it("keeps an empty string apart from a missing value", async () => {
      await store.setSetting("empty", "");
      expect(await store.getSetting("empty")).toBe("");
    });

    it("tells the other replicas of every change, and of no write that changes nothing", async () => {
      if (backend.name !== "postgres") return; // SQLite has one instance and no feed
      const other = keep(opened.reopen());
      await other.migrate();
      const heard: string[] = [];
      const feed = await other.listen!({ notice: (n) => n.kind === "settings" && heard.push(n.jobId), resync: () => {} });
      try {
        await store.setSetting("paused", "maintenance");
        await store.setSetting("paused", "maintenance");
        await store.setSetting("limits", "{}");
        await store.setSetting("paused", "other reason");
        await store.setSetting("paused", null);
        await store.setSetting("paused", null);
        await store.setSetting("limits", "{}");
        // A last change, so that every notice sent before it has arrived once it has.
        await store.setSetting("done", "1");
        await waitFor(async () => heard.includes("done"));
        expect(heard).toEqual(["paused", "limits", "paused", "paused", "done"]);
        expect(await store.getSetting("paused")).toBeNull();
        expect(await other.getSetting("limits")).toBe("{}");
      } finally {
        await feed.close();
      }
    });
  });

  describe("lifecycle", () => {
    it("answers ping and can be closed twice", async () => {
      await expect(store.ping()).resolves.toBeUndefined();
      await store.close();
      await expect(store.close()).resolves.toBeUndefined();
    });
  });
});
