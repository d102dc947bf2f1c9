// Why a queued job waits (GetJobStatus's waiting reason, Dispatcher.blockerOf): the counts of
// active runs it is judged against are read once and shared by requests for up to 100 ms, and
// dropped at every wake-up of the dispatcher (an admission, a run that ended).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import { Dispatcher } from "../src/dispatch/dispatcher.js";
import type { JobLifecycle } from "../src/dispatch/lifecycle.js";
import { LimitsStore } from "../src/dispatch/limits-store.js";
import { JobRegistry } from "../src/jobs/registry.js";
import type { Runtime } from "../src/runtime/runtime.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { makeJob } from "./support/job-fixtures.js";

const dir = mkdtempSync(join(tmpdir(), "jobscheduler-blocker-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let store: SqliteStore;
let reads: number;
let opened = 0;
beforeEach(async () => {
  store = new SqliteStore(join(dir, `blocker-${++opened}.db`));
  await store.migrate();
  reads = 0;
  const original = store.activeCounts.bind(store);
  store.activeCounts = () => (reads++, original());
});
afterEach(() => store.close());

describe("Dispatcher.blockerOf", () => {
  it("shares the active-run counts between requests, and reads them again after a wake-up or 100 ms", async () => {
    const limits = new LimitsStore(store, { maxRunning: 1, maxRunningPerType: {}, maxRunningPerKey: 1, maxRunningPerKeyOverrides: {} });
    const dispatcher = new Dispatcher(store, new JobRegistry(), {} as Runtime, {} as JobLifecycle, limits, { pollIntervalMs: 1000 }, pino({ level: "silent" }));
    const running = makeJob({ state: "RUNNING" });
    const queued = makeJob({ runAt: Date.now() - 1000 });
    await Promise.all([store.createJob(running), store.createJob(queued)]);
    expect((await dispatcher.blockerOf(queued)).reason).toBe("GLOBAL_LIMIT");
    expect((await dispatcher.blockerOf(queued)).reason).toBe("GLOBAL_LIMIT");
    expect(reads).toBe(1);
    // The run ends: the lifecycle wakes the dispatcher, and the next answer reads again.
    await store.transition(running.id, { from: ["RUNNING"], to: "SUCCEEDED", at: Date.now() });
    dispatcher.wake();
    expect((await dispatcher.blockerOf(queued)).reason).toBe("WAITING_TURN");
    expect(reads).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 120));
    await dispatcher.blockerOf(queued);
    expect(reads).toBe(3);
  });
});
