// The criteria outbox in both stores (SQLite and PostgreSQL at 127.0.0.1:5432, or
// TEST_POSTGRES_URL): written with the job's end in one transaction, latest value per
// (team, hackathon, criteria), leases, settle, list, resend.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import type { OutboxInsert } from "../src/store/outbox-queries.js";
import { PostgresStore } from "../src/store/postgres/postgres-store.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import type { JobStore } from "../src/store/store.js";
import { makeJob } from "./support/job-fixtures.js";

const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const T = 1_700_000_000_000;

interface Backend {
  name: string;
  open(): Promise<{ store: JobStore; reopen(): JobStore }>;
  cleanup(): Promise<void>;
}

function sqlite(): Backend {
  let dir: string | undefined;
  let n = 0;
  return {
    name: "sqlite",
    async open() {
      dir ??= await mkdtemp(join(tmpdir(), "outbox-store-"));
      const path = join(dir, `s${++n}.db`);
      return { store: new SqliteStore(path), reopen: () => new SqliteStore(path) };
    },
    async cleanup() {
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

function postgres(): Backend {
  const prefix = `outbox_test_${process.pid}_${Date.now().toString(36)}`;
  const schemas: string[] = [];
  return {
    name: "postgres",
    async open() {
      const schema = `${prefix}_${schemas.length + 1}`;
      schemas.push(schema);
      return { store: new PostgresStore(POSTGRES_URL, { schema }), reopen: () => new PostgresStore(POSTGRES_URL, { schema }) };
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

function item(overrides: Partial<OutboxInsert> = {}): OutboxInsert {
  return {
    sourceKey: `k-${Math.random()}`, teamSlug: "Team_A", hackathonId: "h1", criteriaType: "CODE_REPO", status: "PASSED",
    score: 10, metrics: { commitsCount: 3 }, jobId: null, createdAt: T, ...overrides,
  };
}

const backends = [sqlite(), postgres()];
afterAll(async () => {
  for (const b of backends) await b.cleanup();
});

describe.each(backends)("$name outbox", (backend) => {
  async function opened() {
    const { store, reopen } = await backend.open();
    await store.migrate();
    return { store, reopen };
  }

  it("writes the report in the transaction that ends the job, and only when the transition happens", async () => {
    const { store } = await opened();
    try {
      const job = makeJob({ state: "RUNNING", team: { slug: "Team_A", hackathonId: "h1" }, criteriaType: "CODE_REPO", createdAt: T });
      await store.createJob(job);
      const report = item({ sourceKey: `job:${job.id}`, jobId: job.id });
      // Expects QUEUED: the compare-and-set fails, nothing is written.
      expect(await store.transition(job.id, { from: ["QUEUED"], to: "SUCCEEDED", outbox: [report], at: T + 1 })).toBeNull();
      expect(await store.outbox.list({ limit: 10 })).toEqual([]);
      const done = await store.transition(job.id, { from: ["RUNNING"], to: "SUCCEEDED", outbox: [report], at: T + 2 });
      expect(done?.job.state).toBe("SUCCEEDED");
      const [row] = await store.outbox.list({ limit: 10 });
      expect(row).toMatchObject({ jobId: job.id, state: "PENDING", teamSlug: "Team_A", score: 10, metrics: { commitsCount: 3 }, attempts: 0, nextAttemptAt: T });
      expect(await store.outbox.enqueue([report])).toBe(0);
    } finally {
      await store.close();
    }
  });

  it("keeps completion callbacks apart: each job's own row, never superseded, claimed only by their kind, with URL and body", async () => {
    const { store } = await opened();
    try {
      const callback = (jobId: string): OutboxInsert => ({
        kind: "callback", sourceKey: `callback:${jobId}`, targetUrl: `http://127.0.0.1:1/${jobId}`, metrics: { jobId },
        teamSlug: "", hackathonId: "", criteriaType: "", status: "", score: 0, jobId, createdAt: T,
      });
      await store.outbox.enqueue([callback("j1"), callback("j2"), item({ sourceKey: "a1" })]);
      expect(await store.outbox.enqueue([callback("j1")])).toBe(0);
      expect(await store.outbox.nextDue("callback")).toBe(T);
      const criteria = await store.outbox.claimDue(T + 10, 100, T + 10_000);
      expect(criteria.map((c) => c.sourceKey)).toEqual(["a1"]);
      const callbacks = await store.outbox.claimDue(T + 10, 100, T + 10_000, "callback");
      expect(callbacks.map((c) => [c.sourceKey, c.kind, c.targetUrl, c.metrics])).toEqual([
        ["callback:j1", "callback", "http://127.0.0.1:1/j1", { jobId: "j1" }],
        ["callback:j2", "callback", "http://127.0.0.1:1/j2", { jobId: "j2" }],
      ]);
      expect((await store.outbox.list({ kinds: ["callback"], limit: 10 })).map((c) => c.state)).toEqual(["PENDING", "PENDING"]);
    } finally {
      await store.close();
    }
  });

  it("claims the latest pending value per (team, hackathon, criteria); older ones become SUPERSEDED", async () => {
    const { store } = await opened();
    try {
      await store.outbox.enqueue([
        item({ sourceKey: "a1", score: 1 }),
        item({ sourceKey: "b1", criteriaType: "JUDGE_SCORE", score: 5 }),
        item({ sourceKey: "a2", score: 2 }),
        item({ sourceKey: "c1", hackathonId: "h2", score: 7 }),
        item({ sourceKey: "a3", score: 3 }),
      ]);
      const claimed = await store.outbox.claimDue(T + 10, 100, T + 10_000);
      expect(claimed.map((c) => c.sourceKey).sort()).toEqual(["a3", "b1", "c1"]);
      expect(claimed.every((c) => c.nextAttemptAt === T + 10_000)).toBe(true);
      const superseded = await store.outbox.list({ states: ["SUPERSEDED"], limit: 10 });
      expect(superseded.map((s) => s.sourceKey)).toEqual(["a2", "a1"]);
      // Leased: not due again until the lease ends.
      expect(await store.outbox.claimDue(T + 20, 100, T + 20_000)).toEqual([]);
      expect(await store.outbox.nextDue()).toBe(T + 10_000);
      expect((await store.outbox.claimDue(T + 10_000, 100, T + 30_000)).length).toBe(3);
    } finally {
      await store.close();
    }
  });

  it("a pending value older than a delivered one is never sent", async () => {
    const { store } = await opened();
    try {
      await store.outbox.enqueue([item({ sourceKey: "old", score: 1 }), item({ sourceKey: "new", score: 2 })]);
      const [latest] = await store.outbox.claimDue(T, 10, T + 1000);
      await store.outbox.settle([{ id: latest.id, state: "DELIVERED", attempts: 1, rejections: 0, lastError: "", nextAttemptAt: T, deliveredAt: T + 5 }], T + 5);
      expect(await store.outbox.claimDue(T + 2000, 10, T + 3000)).toEqual([]);
      const counts = Object.fromEntries((await store.outbox.counts()).map((c) => [c.state, c.count]));
      expect(counts).toEqual({ DELIVERED: 1, SUPERSEDED: 1 });
    } finally {
      await store.close();
    }
  });

  it("settles, lists newest first with filters and a cursor, resends parked items, and survives a reopen", async () => {
    const { store, reopen } = await opened();
    let again: JobStore | undefined;
    try {
      await store.outbox.enqueue([item({ sourceKey: "x", teamSlug: "A" }), item({ sourceKey: "y", teamSlug: "B" }), item({ sourceKey: "z", teamSlug: "C" })]);
      const claimed = await store.outbox.claimDue(T, 10, T + 1000);
      const byTeam = Object.fromEntries(claimed.map((c) => [c.teamSlug, c]));
      await store.outbox.settle([
        { id: byTeam.A.id, state: "PARKED", attempts: 1, rejections: 0, lastError: "the Hub refused this item: Team not found", nextAttemptAt: T, deliveredAt: null },
        { id: byTeam.B.id, state: "DELIVERED", attempts: 1, rejections: 0, lastError: "", nextAttemptAt: T, deliveredAt: T + 1 },
        { id: byTeam.C.id, state: "PENDING", attempts: 1, rejections: 1, lastError: "HTTP 500", nextAttemptAt: T + 500, deliveredAt: null },
      ], T + 1);
      const page1 = await store.outbox.list({ limit: 2 });
      expect(page1.map((r) => r.teamSlug)).toEqual(["C", "B"]);
      const page2 = await store.outbox.list({ limit: 2, beforeSeq: page1[1].seq });
      expect(page2.map((r) => r.teamSlug)).toEqual(["A"]);
      expect((await store.outbox.list({ states: ["PARKED"], limit: 10 }))[0]).toMatchObject({ teamSlug: "A", lastError: "the Hub refused this item: Team not found" });
      expect((await store.outbox.list({ teamSlug: "B", limit: 10 })).map((r) => r.state)).toEqual(["DELIVERED"]);
      await store.close();

      again = reopen();
      await again.migrate();
      expect(await again.outbox.resend([byTeam.B.id], T + 2)).toBe(0);
      expect(await again.outbox.resend(null, T + 2)).toBe(1);
      expect(await again.outbox.get(byTeam.A.id)).toMatchObject({ state: "PENDING", rejections: 0, nextAttemptAt: T + 2, attempts: 1 });
      expect((await again.outbox.claimDue(T + 2, 10, T + 100)).map((r) => r.teamSlug)).toEqual(["A"]);
      expect(await again.outbox.nextDue()).toBe(T + 100);
    } finally {
      await (again ?? store).close();
    }
  });
});
