// The SQLite store's worker thread (src/store/sqlite/sqlite-worker.ts): WAL checkpoints and
// ListJobs run there, so they go on while the event loop is busy, and never stall it.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { parseLabelSelector } from "../src/store/label-selector.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { makeJob } from "./support/job-fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "jobscheduler-checkpoint-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("copies the WAL into the database file while the event loop is blocked", async () => {
  const path = join(dir, "checkpoint.db");
  const store = new SqliteStore(path);
  try {
    await store.migrate();
    await Promise.all(Array.from({ length: 2000 }, (_, i) => store.createJob(makeJob({ labels: { n: String(i) } }))));
    const before = statSync(path).size;
    // The event loop gets no turn for 2.5 s: a checkpoint on a timer of this thread cannot run.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
    expect(statSync(path).size).toBeGreaterThan(before);
  } finally {
    await store.close();
  }
});

it("closes its worker with the store, leaving no WAL behind", async () => {
  const path = join(dir, "closed.db");
  const store = new SqliteStore(path);
  await store.migrate();
  await store.createJob(makeJob());
  await store.close();
  expect(statSync(`${path}-wal`, { throwIfNoEntry: false })?.size ?? 0).toBe(0);
});

it("reads ListJobs in the worker: the event loop turns while the query runs, and the answer is current", async () => {
  const path = join(dir, "list.db");
  const store = new SqliteStore(path);
  try {
    await store.migrate();
    await Promise.all(Array.from({ length: 500 }, (_, i) => store.createJob(makeJob({ labels: { n: String(i % 7) } }))));
    let turns = 0;
    let done = false;
    const spin = () => {
      turns++;
      if (!done) setImmediate(spin);
    };
    setImmediate(spin);
    // A negative selector: no index orders it, the query reads every row.
    const page = await store.listJobs({ limit: 1000, labels: parseLabelSelector("n!=3") });
    done = true;
    expect(turns).toBeGreaterThan(0);
    expect(page.every((job) => job.labels.n !== "3")).toBe(true);
    expect(page).toHaveLength(500 - Array.from({ length: 500 }, (_, i) => i % 7).filter((n) => n === 3).length);
    // A job written just before the read is in it (the worker's read starts after the commit).
    const fresh = makeJob({ labels: { n: "fresh" } });
    await store.createJob(fresh);
    expect((await store.listJobs({ limit: 1, labels: parseLabelSelector("n=fresh") })).map((j) => j.id)).toEqual([fresh.id]);
  } finally {
    await store.close();
  }
});

it("reports its thread's V8 heap (for /metrics: jobscheduler_thread_heap_bytes)", async () => {
  const path = join(dir, "heap.db");
  const store = new SqliteStore(path);
  try {
    await store.migrate();
    const [heap] = await store.threadHeaps();
    expect(heap.thread).toBe("sqlite");
    expect(heap.used).toBeGreaterThan(0);
    expect(heap.total).toBeGreaterThanOrEqual(heap.used);
    expect(heap.external).toBeGreaterThanOrEqual(0);
  } finally {
    await store.close();
  }
});
