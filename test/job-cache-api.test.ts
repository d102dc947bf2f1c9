// Through the API, with the SQLite store's job cache in between: GetJobStatus and WatchJob
// never show a job older than a transition already published.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobState, ScheduleJobRequest, type JobEvent } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { call, cleanup, collect, startService, type TestService } from "./support/service.js";

let service: TestService;

beforeAll(async () => {
  service = await startService();
});

afterAll(async () => {
  await service?.stop();
  if (service) cleanup(service.dataDir);
});

function timerRequest(ms: number): ScheduleJobRequest {
  return ScheduleJobRequest.fromPartial({
    name: "cache-timer",
    spec: { $case: "timer", value: { duration: { seconds: 0, nanos: ms * 1e6 }, timerName: "cache", completionCallbackUrl: "" } },
  });
}

const getJob = (jobId: string) => call(service.client, service.client.getJobStatus, { jobId });

describe("GetJobStatus and WatchJob over the job cache", () => {
  it("see every transition of a running job as soon as it is published", async () => {
    const { job } = await call(service.client, service.client.scheduleJob, timerRequest(300));
    const jobId = job!.id;
    let published = 0;
    let ended = false;
    const watch = service.client.watchJob({ jobId, afterSequence: 0 });
    watch.on("data", (event: JobEvent) => {
      published = Math.max(published, event.sequence);
    });
    const events = collect(watch).finally(() => (ended = true));
    // Poll throughout the job's life, so each state is in the cache when the next transition comes.
    let polls = 0;
    while (!ended) {
      const floor = published;
      const seen = await getJob(jobId);
      expect(seen.sequence).toBeGreaterThanOrEqual(floor);
      polls++;
    }
    const history = await events;
    expect(history.map((e) => JobState[e.state])).toEqual([
      "JOB_STATE_QUEUED", "JOB_STATE_STARTING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED",
    ]);
    const final = await getJob(jobId);
    expect(final).toEqual(history.at(-1)!.job);
    expect(polls).toBeGreaterThan(3);
  });

  it("show a queued job cancelled right after it was read", async () => {
    await call(service.client, service.client.pauseDispatching, { reason: "cache test" });
    try {
      const { job } = await call(service.client, service.client.scheduleJob, timerRequest(50));
      const jobId = job!.id;
      expect(JobState[(await getJob(jobId)).state]).toBe("JOB_STATE_QUEUED");
      const cancelled = await call(service.client, service.client.cancelJob, { jobId, reason: "changed my mind" });
      const seen = await getJob(jobId);
      expect(JobState[seen.state]).toBe("JOB_STATE_CANCELLED");
      expect(seen).toEqual(cancelled);
      const watched = await collect(service.client.watchJob({ jobId }));
      expect(watched.map((e) => [JobState[e.state], e.sequence])).toEqual([["JOB_STATE_CANCELLED", 2]]);
      expect(watched[0].job).toEqual(seen);
    } finally {
      await call(service.client, service.client.resumeDispatching, {});
    }
  });

  it("answer a queued job's poll with its current queue status, though the answer is encoded once per status", async () => {
    await call(service.client, service.client.pauseDispatching, { reason: "first reason" });
    try {
      const first = (await call(service.client, service.client.scheduleJob, timerRequest(50))).job!;
      const second = (await call(service.client, service.client.scheduleJob, timerRequest(50))).job!;
      const queueOf = async (jobId: string) => (await getJob(jobId)).queue!;
      // Each job is polled twice per state, so a stale encoding kept from the first poll would show.
      await expect.poll(() => queueOf(second.id), { interval: 50 }).toMatchObject({ position: 2, waitingReason: "DISPATCH_PAUSED" });
      expect(await queueOf(second.id)).toEqual({ position: 2, waitingReason: "DISPATCH_PAUSED", waitingMessage: "dispatching is paused: first reason" });

      await call(service.client, service.client.cancelJob, { jobId: first.id, reason: "make room" });
      // Positions come from a snapshot at most 250 ms old.
      await expect.poll(() => queueOf(second.id), { interval: 50 }).toMatchObject({ position: 1 });
      expect((await queueOf(second.id)).position).toBe(1);

      await call(service.client, service.client.pauseDispatching, { reason: "second reason" });
      expect(await queueOf(second.id)).toEqual({ position: 1, waitingReason: "DISPATCH_PAUSED", waitingMessage: "dispatching is paused: second reason" });
      expect(await queueOf(second.id)).toEqual({ position: 1, waitingReason: "DISPATCH_PAUSED", waitingMessage: "dispatching is paused: second reason" });
      await call(service.client, service.client.cancelJob, { jobId: second.id, reason: "done" });
    } finally {
      await call(service.client, service.client.resumeDispatching, {});
    }
  });
});
