// The SQLite store's cache of parsed job rows (src/store/sqlite/job-cache.ts): getJob must
// answer exactly what a read of the file would, after every kind of write.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import type { JobRecord } from "../src/jobs/job.js";
import { JobCache, rowCost } from "../src/store/sqlite/job-cache.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { makeJob } from "./support/job-fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "jobscheduler-job-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let path: string;
let store: SqliteStore;
let opened = 0;
beforeEach(async () => {
  path = join(dir, `cache-${++opened}.db`);
  store = new SqliteStore(path);
  await store.migrate();
});
afterEach(() => store.close());

/** What the file holds, read by a store that has cached nothing. */
async function storedJob(id: string): Promise<JobRecord | null> {
  const fresh = new SqliteStore(path);
  try {
    await fresh.migrate();
    return await fresh.getJob(id);
  } finally {
    await fresh.close();
  }
}

async function expectCachedMatchesFile(id: string): Promise<JobRecord> {
  const cached = await store.getJob(id);
  expect(cached).toStrictEqual(await storedJob(id));
  return cached!;
}

describe("SQLite job cache", () => {
  it("answers repeated reads with one read-only record", async () => {
    const job = makeJob({ labels: { team: "a" }, params: { nested: { list: [1, 2] } } });
    await store.createJob(job);
    const first = await store.getJob(job.id);
    const second = await store.getJob(job.id);
    expect(second).toBe(first);
    expect(first).toStrictEqual(job);
    expect(() => {
      (first as { state: string }).state = "RUNNING";
    }).toThrow(TypeError);
    expect(() => {
      (first!.params.nested as { list: number[] }).list.push(3);
    }).toThrow(TypeError);
    expect(() => {
      first!.labels.team = "b";
    }).toThrow(TypeError);
    expect(await expectCachedMatchesFile(job.id)).toStrictEqual(job);
  });

  it("shows a transition at once, with the record as stored", async () => {
    const job = makeJob();
    await store.createJob(job);
    await store.getJob(job.id);
    const result = { elapsedMs: 12, skipped: undefined, list: [{ a: 1 }] };
    const placement = { runtime: "local" as const, location: "host:1", host: "host", pid: 1 };
    const attempts = [{ attempt: 1, state: "FAILED" as const, reason: "EXIT_CODE", message: "", startedAt: 1, finishedAt: 2 }];
    const outcome = await store.transition(job.id, { from: ["QUEUED"], to: "RUNNING", patch: { result, placement, attempts, startedAt: 5 }, at: 10 });
    expect(outcome?.job.state).toBe("RUNNING");
    const seen = await expectCachedMatchesFile(job.id);
    expect(seen).toMatchObject({ state: "RUNNING", sequence: 2, startedAt: 5, updatedAt: 10, result: { elapsedMs: 12, list: [{ a: 1 }] } });
    expect("skipped" in (seen.result as object)).toBe(false);
    // The caller's objects stay the caller's: changing them later changes nothing stored.
    result.list.push({ a: 2 });
    placement.pid = 2;
    attempts.length = 0;
    expect(await expectCachedMatchesFile(job.id)).toStrictEqual(seen);
  });

  it("keeps the cached record when a compare-and-set transition does not apply", async () => {
    const job = makeJob();
    await store.createJob(job);
    const before = await store.getJob(job.id);
    expect(await store.transition(job.id, { from: ["RUNNING"], to: "SUCCEEDED", at: 10 })).toBeNull();
    expect(await store.getJob(job.id)).toBe(before);
    await expectCachedMatchesFile(job.id);
  });

  it("keeps the stored state when a transition's transaction fails", async () => {
    const job = makeJob();
    await store.createJob(job);
    await store.getJob(job.id);
    // The outbox row cannot be encoded, so the whole transaction (job update included) rolls back.
    const outbox = {
      sourceKey: `job:${job.id}`, teamSlug: "t", hackathonId: "h", criteriaType: "BUDGET", status: "PASSED", score: 1,
      metrics: { count: 1n }, jobId: job.id, createdAt: 10,
    };
    await expect(store.transition(job.id, { from: ["QUEUED"], to: "SUCCEEDED", outbox: [outbox], at: 10 })).rejects.toThrow(/BigInt/);
    expect((await expectCachedMatchesFile(job.id)).state).toBe("QUEUED");
  });

  it("shows a patch (cancel requested, placement) at once", async () => {
    const job = makeJob();
    await store.createJob(job);
    await store.transition(job.id, { from: ["QUEUED"], to: "RUNNING", at: 5 });
    await store.getJob(job.id);
    await store.patchJob(job.id, { cancelRequested: true, placement: { runtime: "local", location: "h:2" } }, 20);
    expect(await expectCachedMatchesFile(job.id)).toMatchObject({ cancelRequested: true, placement: { location: "h:2" }, updatedAt: 20 });
  });

  it("follows every step of a job's life, each seen by the next read", async () => {
    const job = makeJob({ maxAttempts: 2 });
    await store.createJob(job);
    const steps: [JobRecord["state"], JobRecord["state"]][] = [["QUEUED", "STARTING"], ["STARTING", "RUNNING"], ["RUNNING", "QUEUED"], ["QUEUED", "STARTING"], ["STARTING", "RUNNING"], ["RUNNING", "SUCCEEDED"]];
    let sequence = 1;
    for (const [from, to] of steps) {
      expect((await store.getJob(job.id))?.state).toBe(from);
      await store.transition(job.id, { from: [from], to, at: 100 + sequence });
      sequence++;
      expect(await expectCachedMatchesFile(job.id)).toMatchObject({ state: to, sequence });
    }
  });

  it("returns the job a repeated idempotency key names, and caches nothing for unknown ids", async () => {
    const job = makeJob({ idempotencyKey: "key-1" });
    await store.createJob(job);
    await store.transition(job.id, { from: ["QUEUED"], to: "CANCELLED", at: 50 });
    const repeat = await store.createJob(makeJob({ idempotencyKey: "key-1" }));
    expect(repeat.created).toBe(false);
    expect(repeat.job).toStrictEqual(await store.getJob(job.id));
    const unknown = makeJob();
    expect(await store.getJob(unknown.id)).toBeNull();
    await store.createJob(unknown);
    expect(await store.getJob(unknown.id)).toStrictEqual(unknown);
  });
});

describe("JobCache", () => {
  const record = (id: string) => makeJob({ id });

  it("drops the least recently used records beyond its capacity in bytes", () => {
    const cache = new JobCache(800);
    for (const id of "abcdefg") cache.remember(record(id), 100);
    cache.remember(record("h"), 50);
    cache.get("a");
    cache.remember(record("i"), 100);
    expect(cache.size).toBe(750);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")?.id).toBe("a");
    expect(cache.get("i")?.id).toBe("i");
    cache.remember(record("j"), 100);
    expect(cache.count).toBe(8);
    expect(cache.get("c")).toBeUndefined();
    expect(cache.get("a")?.id).toBe("a");
  });

  it("hands out a record too big to keep frozen, without caching it", () => {
    const cache = new JobCache(8000);
    const big = cache.remember(record("big"), 1001);
    expect(Object.isFrozen(big)).toBe(true);
    expect(cache.get("big")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("forgets a record on request, and its bytes with it", () => {
    const cache = new JobCache(2000);
    cache.remember(record("a"), 100);
    cache.remember(record("a"), 200);
    expect(cache.size).toBe(200);
    cache.forget("a");
    expect(cache.get("a")).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("weighs a row by its text: a finished job with an 8 KiB output tail costs over ten queued ones", () => {
    expect(rowCost(8192 + 700)).toBeGreaterThan(10 * rowCost(700) - 1536 * 10 + 1536);
    expect(rowCost(700)).toBeLessThan(4096);
  });
});
