// What SIGTERM does, as README "Operations" and docs/architecture.md "Recovery and shutdown" promise
// it, against the real service as a child process: health goes NOT_SERVING, new calls are refused,
// open streams (WatchJob, Health.Watch) are cut after about 2 s, /readyz says "shutting down" while
// local runs get SHUTDOWN_TIMEOUT, and the process exits 0. Events are asserted in their order; the
// one duration, "after about 2 s", only loosely: not before 1.5 s, and the stream does end.
import { credentials, makeClientConstructor, status, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, describe, expect, it } from "vitest";
import { JobSchedulerClient, JobState, ScheduleJobRequest, type JobEvent } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { baseEnv, call, cleanup, spawnService, tempDir, waitFor } from "./support/service.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach(cleanup));

const HealthClient = makeClientConstructor(healthService, "grpc.health.v1.Health");
type Ended = { at: number; code: number | null };

describe("SIGTERM", () => {
  it("answers NOT_SERVING, refuses new calls, cuts open streams after about 2 s, then exits 0", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    // A run that outlasts the shutdown: the process stays up for SHUTDOWN_TIMEOUT after the cut.
    const service = await spawnService(baseEnv(dataDir, { SHUTDOWN_TIMEOUT: "3s" }));
    const { client } = service;
    const job = (await call(client, client.scheduleJob, ScheduleJobRequest.fromPartial({
      name: "outlasts-shutdown",
      retryPolicy: { maxAttempts: 1 },
      spec: { $case: "timer", value: { duration: { seconds: 120 }, timerName: "long" } },
    }))).job!;
    await waitFor(async () => (await call(client, client.getJobStatus, { jobId: job.id })).state === JobState.JOB_STATE_RUNNING);

    const events: string[] = [];
    let signalledAt = 0;
    const since = () => performance.now() - signalledAt;

    // Open before the signal: a WatchJob stream and a Health.Watch stream.
    const jobEvents: JobEvent[] = [];
    const watch = client.watchJob({ jobId: job.id, afterSequence: 0 });
    watch.on("data", (event: JobEvent) => jobEvents.push(event));
    const watchEnded = new Promise<Ended>((resolve) => {
      watch.on("error", (error: ServiceError) => resolve({ at: since(), code: error.code }));
      watch.on("end", () => resolve({ at: since(), code: null }));
    }).then((ended) => (events.push("WatchJob cut"), ended));
    await waitFor(async () => jobEvents.some((e) => e.state === JobState.JOB_STATE_RUNNING));

    const health = new HealthClient(`127.0.0.1:${service.grpcPort}`, credentials.createInsecure()) as unknown as {
      watch(request: { service: string }): NodeJS.EventEmitter & { cancel(): void };
      close(): void;
    };
    const statuses: string[] = [];
    const healthWatch = health.watch({ service: "jobscheduler.v1.JobScheduler" });
    healthWatch.on("data", (answer: { status: string }) => {
      statuses.push(answer.status);
      if (answer.status === "NOT_SERVING") events.push("NOT_SERVING");
    });
    const healthEnded = new Promise<Ended>((resolve) => {
      healthWatch.on("error", (error: ServiceError) => resolve({ at: since(), code: error.code }));
      healthWatch.on("end", () => resolve({ at: since(), code: null }));
    });
    await waitFor(async () => statuses.includes("SERVING"));

    signalledAt = performance.now();
    service.process.kill("SIGTERM");
    const exited = service.exited.then((code) => (events.push("exited"), code));

    await waitFor(async () => statuses.includes("NOT_SERVING"));
    await waitFor(async () => service.logs.some((line) => line.includes('"msg":"shutting down"')));
    // A new call on a new connection and one on the connection already open: both refused.
    const fresh = new JobSchedulerClient(`127.0.0.1:${service.grpcPort}`, credentials.createInsecure());
    const refusal = (c: JobSchedulerClient) => call(c, c.getJobStatus, { jobId: job.id }).then(() => null, (error: ServiceError) => error.code);
    expect(await refusal(fresh)).toBe(status.UNAVAILABLE);
    expect(await refusal(client)).toBe(status.UNAVAILABLE);
    fresh.close();
    // Readiness says why while the service is still up (the WatchJob cut has not happened yet, or the run is finishing).
    const ready = await fetch(`http://127.0.0.1:${service.httpPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("shutting down");

    const [watchCut, healthCut] = await Promise.all([watchEnded, healthEnded]);
    expect(await exited).toBe(0);
    health.close();
    client.close();

    // Cut, not ended by the job: it was still RUNNING when the stream ended.
    expect(watchCut.code).not.toBeNull();
    expect(jobEvents.at(-1)!.state).toBe(JobState.JOB_STATE_RUNNING);
    expect(watchCut.at).toBeGreaterThanOrEqual(1500);
    expect(healthCut.code).not.toBeNull();
    expect(healthCut.at).toBeGreaterThanOrEqual(1500);
    expect(events).toEqual(["NOT_SERVING", "WatchJob cut", "exited"]);
    const logs = service.logs.join("\n");
    expect(logs.indexOf('"msg":"shutting down"')).toBeLessThan(logs.indexOf('"msg":"stopped"'));
  }, 60_000);
});
