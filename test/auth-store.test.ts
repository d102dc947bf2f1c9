// The store side of src/auth/ on both backends (SQLite file, PostgreSQL at 127.0.0.1:5432):
// API keys (hashes only), the team column ListJobs filters a team-scoped key's jobs by, and
// the team filter of schedules.
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { ScheduleSpec } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import type { ApiKeyRecord, AuditEventRecord } from "../src/store/auth-store.js";
import { PostgresStore } from "../src/store/postgres/postgres-store.js";
import type { ScheduleRecord } from "../src/store/schedule-store.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { makeJob } from "./support/job-fixtures.js";
import { cleanup, tempDir } from "./support/service.js";

const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const BASE = Date.parse("2026-01-01T00:00:00Z");
const dirs: string[] = [];
const schemas: string[] = [];

afterAll(async () => {
  dirs.forEach(cleanup);
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await client.end();
});

type Store = SqliteStore | PostgresStore;

const backends: [string, () => Store][] = [
  ["sqlite", () => {
    const dir = tempDir();
    dirs.push(dir);
    return new SqliteStore(join(dir, "jobscheduler.db"));
  }],
  ["postgres", () => {
    const schema = `auth_store_${process.pid}_${schemas.length}`;
    schemas.push(schema);
    return new PostgresStore(POSTGRES_URL, { schema, poolSize: 2 });
  }],
];

const key = (id: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord => ({
  id, name: `key ${id}`, role: "viewer", team: null, allowInlineScripts: false, keyHash: "ab".repeat(32), source: "api",
  createdBy: "testadmin", createdAt: BASE, expiresAt: null, lastUsedAt: null, revokedAt: null, ...overrides,
});

const audit = (at: number, overrides: Partial<AuditEventRecord> = {}): AuditEventRecord => ({
  at, principalId: "aaaaaa1", principalName: "key", principalKind: "api-key", team: null, method: "ScheduleJob", targetId: null,
  requestId: `r-${at}`, code: "OK", reason: "", denied: false, clientAddress: "127.0.0.1:5000", ...overrides,
});

const schedule = (id: string, name: string, spec: Partial<ScheduleSpec>): ScheduleRecord => ({
  id, name, spec: ScheduleSpec.toJSON(ScheduleSpec.fromPartial({ name, cron: "0 0 1 1 *", ...spec })) as Record<string, unknown>, paused: false, pausedReason: "",
  nextFireAt: null, lastFireAt: null, fires: 0, misses: 0, skips: 0, source: "api", createdAt: BASE, updatedAt: BASE,
});

describe.each(backends)("%s store", (_name, open) => {
  let store: Store;
  beforeEach(async () => {
    store = open();
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
  });

  it("keeps API keys: inserted once, listed newest first and by team, revoked once, last use only forward", async () => {
    expect(await store.countApiKeys()).toBe(0);
    expect(await store.insertApiKey(key("aaaaaa1", { createdAt: BASE + 1 }))).toBe(true);
    expect(await store.insertApiKey(key("aaaaaa1"))).toBe(false);
    await store.insertApiKey(key("bbbbbb2", { createdAt: BASE + 2, team: "team-a", role: "operator", allowInlineScripts: true }));
    await store.insertApiKey(key("cccccc3", { createdAt: BASE + 3, expiresAt: BASE + 100 }));
    expect(await store.countApiKeys()).toBe(3);
    expect(await store.getApiKey("bbbbbb2")).toEqual(key("bbbbbb2", { createdAt: BASE + 2, team: "team-a", role: "operator", allowInlineScripts: true }));
    expect(await store.getApiKey("nosuch1")).toBeNull();
    expect((await store.listApiKeys({ includeRevoked: false, limit: 10 })).map((k) => k.id)).toEqual(["cccccc3", "bbbbbb2", "aaaaaa1"]);
    expect((await store.listApiKeys({ includeRevoked: false, team: "team-a", limit: 10 })).map((k) => k.id)).toEqual(["bbbbbb2"]);
    expect((await store.listApiKeys({ includeRevoked: false, after: { createdAt: BASE + 3, id: "cccccc3" }, limit: 1 })).map((k) => k.id)).toEqual(["bbbbbb2"]);

    expect((await store.revokeApiKey("aaaaaa1", BASE + 50))?.revokedAt).toBe(BASE + 50);
    expect((await store.revokeApiKey("aaaaaa1", BASE + 60))?.revokedAt).toBe(BASE + 50);
    expect(await store.revokeApiKey("nosuch1", BASE)).toBeNull();
    expect((await store.listApiKeys({ includeRevoked: false, limit: 10 })).map((k) => k.id)).toEqual(["cccccc3", "bbbbbb2"]);
    expect((await store.listApiKeys({ includeRevoked: true, limit: 10 })).map((k) => k.id)).toEqual(["cccccc3", "bbbbbb2", "aaaaaa1"]);

    await store.touchApiKeys([{ id: "bbbbbb2", at: BASE + 200 }]);
    await store.touchApiKeys([{ id: "bbbbbb2", at: BASE + 100 }]);
    expect((await store.getApiKey("bbbbbb2"))?.lastUsedAt).toBe(BASE + 200);
  });

  it("lists one team's jobs (team_slug), and stores who submitted a job", async () => {
    const a = makeJob({ name: "a", team: { slug: "team-a", hackathonId: "h" }, createdAt: BASE + 1, submittedBy: "aaaaaa1" });
    const b = makeJob({ name: "b", team: { slug: "team-b", hackathonId: "h" }, createdAt: BASE + 2 });
    const none = makeJob({ name: "none", createdAt: BASE + 3 });
    for (const job of [a, b, none]) await store.createJob(job);
    expect((await store.listJobs({ team: "team-a", limit: 10 })).map((j) => j.name)).toEqual(["a"]);
    expect((await store.listJobs({ team: "team-a", states: ["QUEUED", "FAILED"], limit: 10 })).map((j) => j.name)).toEqual(["a"]);
    expect((await store.listJobs({ limit: 10 })).map((j) => j.name)).toEqual(["none", "b", "a"]);
  });

  it("lists one team's schedules: those whose template is bound to it, never a for_each_team one", async () => {
    const template = (slug: string) => ({ jobTemplate: { name: "", idempotencyKey: "", labels: {}, priority: 0, concurrencyKey: "", criteriaType: 0, team: { slug, hackathonId: "h" } } });
    await store.insertSchedule(schedule("11111111-1111-4111-8111-111111111111", "a-one", template("team-a")));
    await store.insertSchedule(schedule("22222222-2222-4222-8222-222222222222", "a-two", template("team-a")));
    await store.insertSchedule(schedule("33333333-3333-4333-8333-333333333333", "b-one", template("team-b")));
    await store.insertSchedule(schedule("44444444-4444-4444-8444-444444444444", "rounds", { ...template("team-a"), forEachTeam: { hackathonId: "h", teamStatus: "" } }));
    expect((await store.listSchedules({ team: "team-a", limit: 10 })).map((s) => s.name)).toEqual(["a-one", "a-two"]);
    expect((await store.listSchedules({ team: "team-a", afterName: "a-one", limit: 10 })).map((s) => s.name)).toEqual(["a-two"]);
    expect((await store.listSchedules({ team: "team-a", limit: 1 })).map((s) => s.name)).toEqual(["a-one"]);
    expect((await store.listSchedules({ limit: 10 })).map((s) => s.name)).toEqual(["a-one", "a-two", "b-one", "rounds"]);
  });

  it("keeps audit events: a batch in one statement, newest first, filtered, paged by seq, deleted past a time", async () => {
    await store.insertAuditEvents([
      audit(BASE + 1, { targetId: "job-1" }),
      audit(BASE + 2, { method: "PauseDispatching", code: "PERMISSION_DENIED", denied: true, principalId: "bbbbbb2", team: "team-a", reason: "PERMISSION_DENIED" }),
      audit(BASE + 3, { method: "ListJobTypes", code: "UNAUTHENTICATED", denied: true, principalId: "", principalKind: "unauthenticated", reason: "MISSING" }),
    ]);
    await store.insertAuditEvents(Array.from({ length: 1200 }, (_, i) => audit(BASE + 10 + i, { method: "CancelJob" })));
    await store.insertAuditEvents([]);
    const all = await store.listAuditEvents({ limit: 2000 });
    expect(all).toHaveLength(1203);
    expect(all[0].at).toBe(BASE + 1209);
    expect(all.at(-1)).toEqual({ ...audit(BASE + 1, { targetId: "job-1" }), seq: all.at(-1)!.seq });
    expect((await store.listAuditEvents({ deniedOnly: true, limit: 10 })).map((e) => e.method)).toEqual(["ListJobTypes", "PauseDispatching"]);
    expect((await store.listAuditEvents({ team: "team-a", limit: 10 })).map((e) => e.principalId)).toEqual(["bbbbbb2"]);
    expect((await store.listAuditEvents({ code: "UNAUTHENTICATED", limit: 10 })).map((e) => e.reason)).toEqual(["MISSING"]);
    expect((await store.listAuditEvents({ targetId: "job-1", limit: 10 })).map((e) => e.at)).toEqual([BASE + 1]);
    expect((await store.listAuditEvents({ method: "ScheduleJob", principalId: "aaaaaa1", since: BASE, until: BASE + 2, limit: 10 })).map((e) => e.at)).toEqual([BASE + 1]);
    const page = await store.listAuditEvents({ beforeSeq: all[1].seq, limit: 2 });
    expect(page.map((e) => e.seq)).toEqual([all[2].seq, all[3].seq]);
    expect(await store.deleteAuditEventsBefore(BASE + 10)).toBe(3);
    expect(await store.listAuditEvents({ method: "PauseDispatching", limit: 10 })).toEqual([]);
  });

  it("counts a key's and a team's queued jobs (up to a bound) and lists their recent k6 jobs", async () => {
    const team = { slug: "team-a", hackathonId: "h" };
    const jobs = [
      makeJob({ name: "q1", submittedBy: "aaaaaa1", team, createdAt: BASE + 1 }),
      makeJob({ name: "q2", submittedBy: "aaaaaa1", createdAt: BASE + 2 }),
      makeJob({ name: "q3", submittedBy: "bbbbbb2", team, createdAt: BASE + 3 }),
      makeJob({ name: "done", submittedBy: "aaaaaa1", team, state: "SUCCEEDED", createdAt: BASE + 4 }),
      // A schedule's fire: bound to the team, submitted by nobody: not the team's submissions.
      makeJob({ name: "fired", team, createdAt: BASE + 5 }),
      makeJob({ name: "load", type: "k6", submittedBy: "aaaaaa1", team, params: { vus: 5, durationMs: 60_000, stages: [], scenario: null }, timeoutMs: 600_000, createdAt: BASE + 6 }),
      makeJob({ name: "old-load", type: "k6", submittedBy: "aaaaaa1", team, createdAt: BASE - 3_600_000 }),
    ];
    for (const job of jobs) await store.createJob(job);
    // q1, q2 and both k6 jobs (queued too); not "done".
    expect(await store.countQueuedJobs({ by: "key", value: "aaaaaa1" }, 100)).toBe(4);
    expect(await store.countQueuedJobs({ by: "key", value: "aaaaaa1" }, 2)).toBe(2);
    // q1, q3 and both k6 jobs; not "fired".
    expect(await store.countQueuedJobs({ by: "team", value: "team-a" }, 100)).toBe(4);
    expect(await store.countQueuedJobs({ by: "key", value: "nobody1" }, 100)).toBe(0);
    const recent = await store.recentK6Jobs({ by: "key", value: "aaaaaa1" }, BASE);
    expect(recent).toEqual([{ createdAt: BASE + 6, params: { vus: 5, durationMs: 60_000, stages: [], scenario: null }, timeoutMs: 600_000 }]);
    expect(await store.recentK6Jobs({ by: "team", value: "team-a" }, BASE - 4_000_000)).toHaveLength(2);
  });
});
