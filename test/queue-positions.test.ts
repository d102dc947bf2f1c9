// Queue positions shown by GetJobStatus (src/dispatch/queue-positions.ts): exact up to the
// bound, bound + 1 beyond it, a job behind the bound-th answered from memory.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { QueuePositions } from "../src/dispatch/queue-positions.js";
import type { JobRecord } from "../src/jobs/job.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { makeJob } from "./support/job-fixtures.js";
import { ManualClock } from "./support/manual-clock.js";

const dir = mkdtempSync(join(tmpdir(), "jobscheduler-queue-positions-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const START = Date.parse("2026-01-01T00:00:00Z");
const BOUND = 3;
let store: SqliteStore;
let clock: ManualClock;
let opened = 0;
/** Counts the store reads the positions make (the store itself is real). */
let reads: number;

beforeEach(async () => {
  store = new SqliteStore(join(dir, `positions-${++opened}.db`));
  await store.migrate();
  clock = new ManualClock(START);
  reads = 0;
  for (const method of ["nthDueQueued", "queuePosition", "getJob"] as const) {
    const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
    (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      reads++;
      return original(...args);
    };
  }
});
afterEach(() => store.close());

/** `count` due jobs, oldest first, one millisecond apart. */
async function queue(count: number, overrides: Partial<JobRecord> = {}): Promise<JobRecord[]> {
  const jobs = Array.from({ length: count }, (_, i) => makeJob({ createdAt: START - 1000 + i, runAt: START - 1000, ...overrides }));
  await Promise.all(jobs.map((job) => store.createJob(job)));
  return jobs;
}

describe("QueuePositions", () => {
  it("is exact for the first `bound` due jobs and bound + 1 for the ones behind", async () => {
    const jobs = await queue(6);
    const positions = new QueuePositions(store, clock, 250, BOUND);
    const answers: number[] = [];
    for (const job of jobs) answers.push(await positions.positionOf(job));
    expect(answers).toEqual([1, 2, 3, 4, 4, 4]);
  });

  it("answers a job behind the bound-th due job from memory, with no count per request", async () => {
    const jobs = await queue(8);
    const positions = new QueuePositions(store, clock, 250, BOUND);
    expect(await positions.positionOf(jobs[0])).toBe(1);
    const afterSnapshot = reads;
    for (const job of jobs.slice(3)) expect(positions.cachedPositionOf(job)).toBe(BOUND + 1);
    expect(reads).toBe(afterSnapshot);
  });

  it("gives a job that arrived ahead of the bound-th due job its exact place", async () => {
    const jobs = await queue(5);
    const positions = new QueuePositions(store, clock, 250, BOUND);
    expect(await positions.positionOf(jobs[4])).toBe(BOUND + 1);
    const urgent = makeJob({ priority: 5, createdAt: START, runAt: START });
    await store.createJob(urgent);
    expect(positions.cachedPositionOf(urgent)).toBeUndefined();
    expect(await positions.positionOf(urgent)).toBe(1);
    expect(await positions.positionOf(jobs[2])).toBe(BOUND + 1);
  });

  it("gives a job that is not due yet no place in the line", async () => {
    await queue(2);
    const [later] = await queue(1, { runAt: START + 60_000 });
    const positions = new QueuePositions(store, clock, 250, BOUND);
    expect(await positions.positionOf(later)).toBe(0);
    expect(reads).toBe(0);
  });

  it("reads the line again in the background before it is too old, so no request waits for it", async () => {
    const jobs = await queue(6);
    const positions = new QueuePositions(store, clock, 250, BOUND);
    expect(await positions.positionOf(jobs[0])).toBe(1);
    const afterFirst = reads;
    await clock.advance(100);
    expect(positions.cachedPositionOf(jobs[5])).toBe(BOUND + 1);
    expect(reads).toBe(afterFirst);
    // Past half its age the line still answers, and is read again meanwhile: the queue moved.
    await store.transition(jobs[0].id, { from: ["QUEUED"], to: "CANCELLED", at: clock.now() });
    await clock.advance(100);
    expect(positions.cachedPositionOf(jobs[3])).toBe(BOUND + 1);
    expect(reads).toBe(afterFirst + 1);
    // (SQLite reads it in its worker thread.)
    await vi.waitFor(() => expect(positions.cachedPositionOf(jobs[3])).toBeUndefined());
    expect(reads).toBe(afterFirst + 1);
    expect(await positions.positionOf(jobs[3])).toBe(3);
    expect(positions.cachedPositionOf(jobs[4])).toBe(BOUND + 1);
    // A line older than its age is never used: after a quiet spell a request waits for the read.
    await clock.advance(251);
    expect(positions.cachedPositionOf(jobs[4])).toBeUndefined();
    expect(await positions.positionOf(jobs[4])).toBe(BOUND + 1);
  });

  it("counts a queue shorter than the bound exactly, also for a job that arrived since", async () => {
    const jobs = await queue(2);
    const positions = new QueuePositions(store, clock, 250, BOUND);
    expect(await positions.positionOf(jobs[1])).toBe(2);
    const [late] = await queue(1, { createdAt: START, runAt: START });
    expect(await positions.positionOf(late)).toBe(3);
  });
});
