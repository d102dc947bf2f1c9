// SQLite is single-instance: a second service process on the same file refuses to start, naming
// the holder, and leaves the first one's runs alone; the lock dies with its holder (kill -9).
import { afterAll, describe, expect, it } from "vitest";
import { JobState, ScheduleJobRequest } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { baseEnv, call, cleanup, spawnService, tempDir, waitFor, type ChildService } from "./support/service.js";

const dirs: string[] = [];
const services: ChildService[] = [];
afterAll(async () => {
  for (const s of services) {
    s.client.close();
    if (s.process.exitCode === null && s.process.signalCode === null) s.process.kill("SIGKILL");
    await s.exited;
  }
  dirs.forEach(cleanup);
});

async function start(dataDir: string): Promise<ChildService> {
  const service = await spawnService(baseEnv(dataDir, { LOG_LEVEL: "info" }));
  services.push(service);
  return service;
}

const timer = (ms: number, key: string) => ScheduleJobRequest.fromPartial({
  name: key, idempotencyKey: key, spec: { $case: "timer", value: { duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, timerName: key } },
});

describe("SQLite: one process per file", () => {
  it("a second process refuses to start with a clear message and touches nothing; after kill -9 of the first the next one starts", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const first = await start(dataDir);
    const job = (await call(first.client, first.client.scheduleJob, timer(3000, "lock-1"))).job!;
    await waitFor(async () => (await call(first.client, first.client.getJobStatus, { jobId: job.id })).state === JobState.JOB_STATE_RUNNING);

    const refused = await start(dataDir).then(() => null, (error: Error) => error);
    expect(refused?.message).toMatch(/service exited \(1\) before it was ready/);
    expect(refused?.message).toMatch(new RegExp(`the SQLite file \\S+jobscheduler\\.db is in use by another jobscheduler process \\(pid ${first.process.pid}, since [^)]+\\): SQLite runs one instance per file`));
    expect(refused?.message).toContain("use PostgreSQL (DATABASE_URL) to run several replicas");

    // The first one kept its run: not interrupted, not started again.
    const done = await waitFor(async () => {
      const j = await call(first.client, first.client.getJobStatus, { jobId: job.id });
      return j.state === JobState.JOB_STATE_SUCCEEDED ? j : undefined;
    });
    expect(done.attempt).toBe(1);
    expect(done.placement!.pid).toBeGreaterThan(0);

    first.process.kill("SIGKILL");
    await first.exited;
    const next = await start(dataDir);
    expect(JobState[(await call(next.client, next.client.getJobStatus, { jobId: job.id })).state]).toBe("JOB_STATE_SUCCEEDED");
  }, 60_000);
});
