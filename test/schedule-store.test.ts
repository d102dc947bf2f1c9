// ScheduleStore conformance: SQLite and PostgreSQL run the same tests.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { CatchupPolicy, OverlapPolicy, ScheduleSpec } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { newJobId } from "../src/jobs/ids.js";
import { PostgresStore } from "../src/store/postgres/postgres-store.js";
import type { ScheduleRecord, ScheduleStore, StoredScheduleSpec } from "../src/store/schedule-store.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import type { JobStore } from "../src/store/store.js";
import { makeJob } from "./support/job-fixtures.js";

const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const BASE = Date.parse("2025-01-01T00:00:00Z");

type Store = JobStore & ScheduleStore;

interface Backend {
  name: string;
  open(): Promise<Store>;
  cleanup(): Promise<void>;
}

function sqlite(): Backend {
  let dir: string | undefined;
  let n = 0;
  return {
    name: "sqlite",
    async open() {
      dir ??= await mkdtemp(join(tmpdir(), "jobscheduler-schedule-store-"));
      return new SqliteStore(join(dir, `s${++n}.db`));
    },
    async cleanup() {
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

function postgres(): Backend {
  const prefix = `jobscheduler_sched_test_${process.pid}_${Date.now().toString(36)}`;
  const schemas: string[] = [];
  return {
    name: "postgres",
    async open() {
      const schema = `${prefix}_${schemas.length + 1}`;
      schemas.push(schema);
      return new PostgresStore(POSTGRES_URL, { schema });
    },
    async cleanup() {
      if (!schemas.length) return;
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

/** A spec as the scheduler stores it: the proto JSON of a ScheduleSpec (src/api/schedule-wire.ts). */
function spec(name: string, overrides: Partial<ScheduleSpec> = {}): StoredScheduleSpec {
  return ScheduleSpec.toJSON(ScheduleSpec.fromPartial({
    name,
    cron: "0 * * * *",
    timeZone: "Europe/Berlin",
    overlapPolicy: OverlapPolicy.OVERLAP_POLICY_BUFFER_ONE,
    catchupPolicy: CatchupPolicy.CATCHUP_POLICY_ONE,
    catchupWindow: { seconds: 3600, nanos: 0 },
    jitter: { seconds: 0, nanos: 250_000_000 },
    startTime: new Date(BASE),
    forEachTeam: { hackathonId: "h1", teamStatus: "" },
    jobTemplate: {
      name: "tick", labels: { team: "a" }, priority: 3,
      spec: { $case: "timer", value: { duration: { seconds: 5, nanos: 0 }, timerName: "tick", completionCallbackUrl: "" } },
    },
    ...overrides,
  })) as StoredScheduleSpec;
}

function record(name: string, overrides: Partial<ScheduleRecord> = {}): ScheduleRecord {
  return {
    id: newJobId(BASE), name, spec: spec(name), paused: false, pausedReason: "", nextFireAt: BASE + 3_600_000, lastFireAt: null,
    fires: 0, misses: 0, skips: 0, source: "api", createdAt: BASE, updatedAt: BASE, ...overrides,
  };
}

describe.each([sqlite(), postgres()])("$name schedule store", (backend) => {
  let store: Store;
  beforeEach(async () => {
    store = await backend.open();
    await store.migrate();
  });
  afterEach(() => store.close());
  afterAll(() => backend.cleanup());

  it("round-trips a schedule, spec included, by id and by name", async () => {
    const s = record("hourly", { lastFireAt: BASE, source: "config" });
    expect(await store.insertSchedule(s)).toBe(true);
    expect(await store.getSchedule(s.id)).toStrictEqual(s);
    expect(await store.getScheduleByName("hourly")).toStrictEqual(s);
    expect(await store.getSchedule(newJobId())).toBeNull();
  });

  it("refuses a second schedule with the same name", async () => {
    expect(await store.insertSchedule(record("dup"))).toBe(true);
    expect(await store.insertSchedule(record("dup"))).toBe(false);
  });

  it("updates only the given fields, and records progress by adding to the counters", async () => {
    const s = record("u");
    await store.insertSchedule(s);
    const paused = await store.updateSchedule(s.id, { paused: true, pausedReason: "maintenance" }, BASE + 5);
    expect(paused).toStrictEqual({ ...s, paused: true, pausedReason: "maintenance", updatedAt: BASE + 5 });
    const respec = spec("u", { cron: "*/5 * * * *" });
    const updated = await store.updateSchedule(s.id, { spec: respec, nextFireAt: null }, BASE + 6);
    expect(updated).toMatchObject({ spec: respec, nextFireAt: null, paused: true, updatedAt: BASE + 6 });
    await store.recordScheduleProgress(s.id, { lastFireAt: BASE + 10, nextFireAt: BASE + 20, fires: 2, misses: 3, skips: 1 }, BASE + 11);
    const after = await store.recordScheduleProgress(s.id, { lastFireAt: BASE + 20, nextFireAt: BASE + 30, fires: 1, misses: 0, skips: 4 }, BASE + 21);
    expect(after).toMatchObject({ lastFireAt: BASE + 20, nextFireAt: BASE + 30, fires: 3, misses: 3, skips: 5, updatedAt: BASE + 21 });
    expect(await store.updateSchedule(newJobId(), { paused: false }, BASE)).toBeNull();
  });

  it("lists by name in pages", async () => {
    for (const name of ["c", "a", "e", "b", "d"]) await store.insertSchedule(record(name));
    const first = await store.listSchedules({ limit: 2 });
    expect(first.map((s) => s.name)).toEqual(["a", "b"]);
    const second = await store.listSchedules({ afterName: "b", limit: 10 });
    expect(second.map((s) => s.name)).toEqual(["c", "d", "e"]);
  });

  it("finds due unpaused schedules, earliest first, and the next fire time", async () => {
    await store.insertSchedule(record("later", { nextFireAt: BASE + 300 }));
    await store.insertSchedule(record("sooner", { nextFireAt: BASE + 100 }));
    await store.insertSchedule(record("paused", { nextFireAt: BASE + 50, paused: true }));
    await store.insertSchedule(record("ended", { nextFireAt: null }));
    expect((await store.dueSchedules(BASE + 200, 10)).map((s) => s.name)).toEqual(["sooner"]);
    expect((await store.dueSchedules(BASE + 300, 10)).map((s) => s.name)).toEqual(["sooner", "later"]);
    expect(await store.nextScheduleFireAt()).toBe(BASE + 100);
  });

  it("deletes", async () => {
    const s = record("gone");
    await store.insertSchedule(s);
    expect(await store.deleteSchedule(s.id)).toBe(true);
    expect(await store.deleteSchedule(s.id)).toBe(false);
    expect(await store.getSchedule(s.id)).toBeNull();
  });

  it("lists a schedule's queued, starting and running jobs", async () => {
    const id = newJobId();
    const jobs = [
      makeJob({ name: "q", scheduleId: id, createdAt: BASE + 1 }),
      makeJob({ name: "r", scheduleId: id, createdAt: BASE + 2 }),
      makeJob({ name: "done", scheduleId: id, createdAt: BASE + 3 }),
      makeJob({ name: "other", scheduleId: newJobId(), createdAt: BASE + 4 }),
    ];
    for (const job of jobs) await store.createJob(job);
    await store.transition(jobs[1].id, { from: ["QUEUED"], to: "STARTING", at: BASE + 5 });
    await store.transition(jobs[2].id, { from: ["QUEUED"], to: "CANCELLED", at: BASE + 5 });
    expect((await store.activeScheduleJobs(id)).map((j) => `${j.name}:${j.state}`)).toEqual(["q:QUEUED", "r:STARTING"]);
  });

  it("lists how long a schedule's finished runs took, newest first, leaving out jobs that never started", async () => {
    const id = newJobId();
    const finished = (name: string, createdAt: number, startedAt: number | null, finishedAt: number) =>
      makeJob({ name, scheduleId: id, idempotencyKey: `key-${name}`, state: "SUCCEEDED", createdAt, startedAt, finishedAt });
    const jobs = [
      finished("old", BASE + 1, BASE + 10, BASE + 110),
      finished("new", BASE + 2, BASE + 20, BASE + 10_020),
      finished("never-started", BASE + 3, null, BASE + 30),
      makeJob({ name: "running", scheduleId: id, state: "RUNNING", createdAt: BASE + 4, startedAt: BASE + 40 }),
      makeJob({ name: "other", scheduleId: newJobId(), state: "SUCCEEDED", createdAt: BASE + 5, startedAt: BASE + 50, finishedAt: BASE + 60 }),
    ];
    for (const job of jobs) await store.createJob(job);
    expect(await store.recentScheduleRuns(id, 10)).toEqual([
      { idempotencyKey: "key-new", durationMs: 10_000 },
      { idempotencyKey: "key-old", durationMs: 100 },
    ]);
    expect(await store.recentScheduleRuns(id, 1)).toEqual([{ idempotencyKey: "key-new", durationMs: 10_000 }]);
  });
});
