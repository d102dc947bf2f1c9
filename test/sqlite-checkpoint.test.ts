// The SQLite store's WAL checkpoints run in a worker thread (src/store/sqlite/checkpointer.ts):
// they go on while the event loop is busy, and never stall it.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
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
