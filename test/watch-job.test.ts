// WatchJob resuming from after_sequence: the stream ends as soon as the job is terminal and
// nothing after after_sequence remains, and an after_sequence past the job's last sequence is
// OUT_OF_RANGE. Each stream gets a deadline so that one that never ends fails the test with
// DEADLINE_EXCEEDED instead of hanging it.
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobState, type JobEvent } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { timerJob } from "./support/requests.js";
import { call, cleanup, collect, startService, waitFor, type TestService } from "./support/service.js";

let service: TestService;

beforeAll(async () => {
  service = await startService({ MAX_RUNNING_JOBS: "4" });
});

afterAll(async () => {
  await service?.stop();
  if (service) cleanup(service.dataDir);
});

const STREAM_DEADLINE_MS = 10_000;

function watch(jobId: string, afterSequence?: number): Promise<JobEvent[]> {
  return collect(service.client.watchJob({ jobId, afterSequence }, new Metadata(), { deadline: Date.now() + STREAM_DEADLINE_MS }));
}

async function watchError(jobId: string, afterSequence: number): Promise<ServiceError> {
  return watch(jobId, afterSequence).then(
    (events) => {
      throw new Error(`expected an error, the stream ended with ${events.length} events`);
    },
    (error: ServiceError) => error,
  );
}

async function finishedJob(): Promise<string> {
  const { job } = await call(service.client, service.client.scheduleJob, timerJob(1));
  await waitFor(async () => {
    const current = await call(service.client, service.client.getJobStatus, { jobId: job!.id });
    return current.state === JobState.JOB_STATE_SUCCEEDED;
  });
  return job!.id;
}

const states = (events: JobEvent[]) => events.map((e) => JobState[e.state]);

describe("WatchJob of a finished job", () => {
  let jobId: string;

  beforeAll(async () => {
    jobId = await finishedJob();
  });

  it("with after_sequence at its last sequence: ends at once, sending nothing", async () => {
    expect(await watch(jobId, 4)).toEqual([]);
  });

  it("with after_sequence before its end: sends the rest and ends", async () => {
    const events = await watch(jobId, 2);
    expect(events.map((e) => e.sequence)).toEqual([3, 4]);
    expect(states(events)).toEqual(["JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]);
  });

  it("with after_sequence past its last sequence: OUT_OF_RANGE naming after_sequence", async () => {
    const error = await watchError(jobId, 5);
    expect(status[error.code]).toBe("OUT_OF_RANGE");
    expect(error.details).toBe("after_sequence: is past the job's last sequence number (4)");
  });
});

describe("WatchJob of a live job", () => {
  beforeAll(async () => {
    await call(service.client, service.client.pauseDispatching, { reason: "hold jobs queued" });
  });

  afterAll(async () => {
    await call(service.client, service.client.resumeDispatching, {});
  });

  it("with after_sequence at its current sequence: sends each later transition and ends with the terminal one", async () => {
    const { job } = await call(service.client, service.client.scheduleJob, timerJob(50));
    const watched = watch(job!.id, 1);
    await call(service.client, service.client.resumeDispatching, {});
    const events = await watched;
    await call(service.client, service.client.pauseDispatching, { reason: "hold jobs queued" });
    expect(events.map((e) => e.sequence)).toEqual([2, 3, 4]);
    expect(states(events).at(-1)).toBe("JOB_STATE_SUCCEEDED");
  });

  it("cancelled while watched from its current sequence: sends CANCELLED and ends", async () => {
    const { job } = await call(service.client, service.client.scheduleJob, timerJob(50));
    const watched = watch(job!.id, 1);
    await call(service.client, service.client.cancelJob, { jobId: job!.id, reason: "not needed" });
    const events = await watched;
    expect(states(events)).toEqual(["JOB_STATE_CANCELLED"]);
  });

  it("with after_sequence past its current sequence: OUT_OF_RANGE at once, not a stream that outlives the job", async () => {
    const { job } = await call(service.client, service.client.scheduleJob, timerJob(50));
    const error = await watchError(job!.id, 3);
    expect(status[error.code]).toBe("OUT_OF_RANGE");
    expect(error.details).toBe("after_sequence: is past the job's last sequence number (1)");
    await call(service.client, service.client.cancelJob, { jobId: job!.id, reason: "done" });
  });
});
