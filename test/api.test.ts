import { Metadata, status, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CriteriaType, JobState, ListJobsRequest, ListOutboxRequest, OutboxItemKind, OutboxItemState, ScheduleJobRequest, type Job } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { startHttpTarget } from "./support/http-target.js";
import { call, cleanup, collect, metricValue, startService, waitFor, type TestService } from "./support/service.js";

let service: TestService;

beforeAll(async () => {
  service = await startService({ MAX_RUNNING_JOBS: "16" });
});

afterAll(async () => {
  await service?.stop();
  if (service) cleanup(service.dataDir);
});

function timerRequest(overrides: Partial<ScheduleJobRequest> = {}, timer: { ms?: number; name?: string; callback?: string } = {}): ScheduleJobRequest {
  const ms = timer.ms ?? 200;
  return ScheduleJobRequest.fromPartial({
    name: "test-timer",
    idempotencyKey: "",
    labels: {},
    spec: {
      $case: "timer",
      value: {
        duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
        timerName: timer.name ?? "t",
        completionCallbackUrl: timer.callback ?? "",
      },
    },
    ...overrides,
  });
}

const schedule = (request: ScheduleJobRequest) => call(service.client, service.client.scheduleJob, request);
const getJob = (jobId: string) => call(service.client, service.client.getJobStatus, { jobId });

async function waitForState(jobId: string, states: JobState[], timeoutMs = 15_000): Promise<Job> {
  return waitFor(async () => {
    const job = await getJob(jobId);
    return states.includes(job.state) ? job : undefined;
  }, timeoutMs);
}

async function expectError(promise: Promise<unknown>, code: status, messagePart: string | RegExp): Promise<ServiceError> {
  const error = (await promise.then(
    () => {
      throw new Error(`expected ${status[code]}, got success`);
    },
    (e: ServiceError) => e,
  )) as ServiceError;
  expect(status[error.code]).toBe(status[code]);
  expect(error.details).toMatch(messagePart);
  return error;
}

describe("a timer job end to end", () => {
  it("goes QUEUED → STARTING → RUNNING → SUCCEEDED and keeps its result", async () => {
    const { job, created } = await schedule(timerRequest({ labels: { team: "alpha" } }, { ms: 700, name: "build-timeout" }));
    expect(created).toBe(true);
    expect(job!.state).toBe(JobState.JOB_STATE_QUEUED);
    const events = await collect(service.client.watchJob({ jobId: job!.id, afterSequence: 0 }));
    expect(events.map((e) => JobState[e.state])).toEqual([
      "JOB_STATE_QUEUED", "JOB_STATE_STARTING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED",
    ]);
    expect(events.map((e) => e.sequence)).toEqual([1, 2, 3, 4]);
    const finished = events.at(-1)!.job!;
    expect(finished.result).toMatchObject({ timerName: "build-timeout", durationMs: 700, completed: true });
    expect(finished.result!.elapsedMs as number).toBeGreaterThanOrEqual(700);
    expect(finished.placement).toMatchObject({ runtime: "local" });
    expect(finished.placement!.pid).toBeGreaterThan(0);
    expect(finished.startTime!.getTime()).toBeGreaterThanOrEqual(finished.createTime!.getTime());
    expect(finished.finishTime!.getTime() - finished.startTime!.getTime()).toBeGreaterThanOrEqual(700);
    expect(finished.outputTail).toContain("build-timeout: done");
    expect(finished.labels).toEqual({ team: "alpha" });
    expect(finished.resources).toEqual({ cpuRequest: "50m", cpuLimit: "200m", memoryRequest: "64Mi", memoryLimit: "128Mi" });
  });

  it("starts a watch with the current state and resumes after a sequence number", async () => {
    const { job } = await schedule(timerRequest({}, { ms: 300 }));
    const done = await waitForState(job!.id, [JobState.JOB_STATE_SUCCEEDED]);
    const current = await collect(service.client.watchJob({ jobId: job!.id }));
    expect(current).toHaveLength(1);
    expect(current[0].state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(current[0].sequence).toBe(done.sequence);
    const resumed = await collect(service.client.watchJob({ jobId: job!.id, afterSequence: 2 }));
    expect(resumed.map((e) => e.sequence)).toEqual([3, 4]);
  });

  it("POSTs the result to the completion callback URL from the service, once, with the job's Idempotency-Key, recorded in the outbox", async () => {
    const target = await startHttpTarget();
    try {
      const { job } = await schedule(timerRequest({}, { ms: 100, name: "with-callback", callback: `${target.url}/timer-done` }));
      const done = await waitForState(job!.id, [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED]);
      expect(JobState[done.state]).toBe("JOB_STATE_SUCCEEDED");
      const item = await waitFor(async () => {
        const { items } = await call(service.client, service.client.listOutbox, ListOutboxRequest.fromPartial({ pageSize: 100 }));
        return items.find((i) => i.jobId === job!.id && i.state === OutboxItemState.OUTBOX_ITEM_STATE_DELIVERED);
      });
      expect(item).toMatchObject({ attempts: 1, criteriaType: CriteriaType.CRITERIA_TYPE_UNSPECIFIED, teamSlug: "", kind: OutboxItemKind.OUTBOX_ITEM_KIND_CALLBACK, targetUrl: `${target.url}/timer-done` });
      const ofKind = async (kind: OutboxItemKind) =>
        (await call(service.client, service.client.listOutbox, ListOutboxRequest.fromPartial({ pageSize: 100, kinds: [kind] }))).items.map((i) => i.id);
      expect(await ofKind(OutboxItemKind.OUTBOX_ITEM_KIND_CALLBACK)).toContain(item.id);
      expect(await ofKind(OutboxItemKind.OUTBOX_ITEM_KIND_CRITERIA)).not.toContain(item.id);
      const metrics = await (await fetch(`http://127.0.0.1:${service.app.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/^jobscheduler_callback_deliveries_total\{outcome="delivered"\} [1-9]/m);
      expect(metrics).toMatch(/^jobscheduler_callback_outbox_items\{state="DELIVERED"\} [1-9]/m);
      expect(target.requests).toHaveLength(1);
      expect(target.requests[0].method).toBe("POST");
      expect(target.requests[0].url).toBe("/timer-done");
      expect(target.requests[0].headers["idempotency-key"]).toBe(`callback:${job!.id}`);
      expect(JSON.parse(target.requests[0].body)).toMatchObject({ jobId: job!.id, timerName: "with-callback", completed: true });
      expect(done.result).not.toHaveProperty("callback");
    } finally {
      await target.close();
    }
  });

  it("retries a callback the receiver fails with back-off, the same key and body each time, and the job stays SUCCEEDED", async () => {
    let answered = 0;
    const target = await startHttpTarget((_req, res) => res.writeHead(++answered < 3 ? 503 : 200).end());
    try {
      const { job } = await schedule(timerRequest({}, { ms: 50, callback: target.url }));
      const done = await waitForState(job!.id, [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED]);
      expect(JobState[done.state]).toBe("JOB_STATE_SUCCEEDED");
      const item = await waitFor(async () => {
        const { items } = await call(service.client, service.client.listOutbox, ListOutboxRequest.fromPartial({ pageSize: 100 }));
        return items.find((i) => i.jobId === job!.id && i.state === OutboxItemState.OUTBOX_ITEM_STATE_DELIVERED);
      }, 20_000);
      expect(item.attempts).toBe(3);
      expect(target.requests).toHaveLength(3);
      expect(new Set(target.requests.map((r) => r.headers["idempotency-key"]))).toEqual(new Set([`callback:${job!.id}`]));
      expect(new Set(target.requests.map((r) => r.body)).size).toBe(1);
    } finally {
      await target.close();
    }
  });

  it("stops a run that exceeds its timeout: FAILED with TIMED_OUT and the partial result", async () => {
    // A timeout long enough for the program to be up on a busy machine: the partial result is its answer to SIGTERM.
    const { job } = await schedule(timerRequest({ timeout: { seconds: 3, nanos: 0 } }, { ms: 20_000 }));
    const done = await waitForState(job!.id, [JobState.JOB_STATE_FAILED, JobState.JOB_STATE_SUCCEEDED]);
    expect(JobState[done.state]).toBe("JOB_STATE_FAILED");
    expect(done.reason).toBe("TIMED_OUT");
    expect(done.message).toContain("timeout of 3000 ms");
    expect(done.result).toMatchObject({ completed: false });
  });
});

describe("cancelling", () => {
  it("stops a running job: CANCELLED with its partial result; a second cancel is a no-op", async () => {
    const { job } = await schedule(timerRequest({}, { ms: 30_000 }));
    // RUNNING: the timer reported itself up, its SIGTERM handler installed.
    await waitForState(job!.id, [JobState.JOB_STATE_RUNNING]);
    const cancelled = await call(service.client, service.client.cancelJob, { jobId: job!.id, reason: "not needed" });
    expect(JobState[cancelled.state]).toBe("JOB_STATE_CANCELLED");
    expect(cancelled.reason).toBe("CANCELLED_BY_USER");
    expect(cancelled.result).toMatchObject({ completed: false });
    expect(cancelled.result!.elapsedMs as number).toBeLessThan(30_000);
    const again = await call(service.client, service.client.cancelJob, { jobId: job!.id, reason: "" });
    expect(JobState[again.state]).toBe("JOB_STATE_CANCELLED");
    expect(again.sequence).toBe(cancelled.sequence);
  });

  it("cancels a queued job before it ever runs", async () => {
    await call(service.client, service.client.pauseDispatching, { reason: "test" });
    try {
      const { job } = await schedule(timerRequest());
      const cancelled = await call(service.client, service.client.cancelJob, { jobId: job!.id, reason: "" });
      expect(JobState[cancelled.state]).toBe("JOB_STATE_CANCELLED");
      expect(cancelled.startTime).toBeUndefined();
      expect(cancelled.placement).toBeUndefined();
    } finally {
      await call(service.client, service.client.resumeDispatching, {});
    }
  });

  it("refuses to cancel a job that already succeeded", async () => {
    const { job } = await schedule(timerRequest({}, { ms: 50 }));
    await waitForState(job!.id, [JobState.JOB_STATE_SUCCEEDED]);
    await expectError(call(service.client, service.client.cancelJob, { jobId: job!.id, reason: "" }), status.FAILED_PRECONDITION, /already finished \(SUCCEEDED\)/);
  });
});

describe("idempotency", () => {
  it("returns the same job for the same key and runs it once", async () => {
    const key = `idem-${Date.now()}`;
    const request = timerRequest({ idempotencyKey: key, labels: { key } }, { ms: 100 });
    const results = await Promise.all(Array.from({ length: 5 }, () => schedule(request)));
    const ids = new Set(results.map((r) => r.job!.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const [id] = ids;
    await waitForState(id, [JobState.JOB_STATE_SUCCEEDED]);
    const after = await schedule(request);
    expect(after.created).toBe(false);
    expect(after.job!.id).toBe(id);
    expect(JobState[after.job!.state]).toBe("JOB_STATE_SUCCEEDED");
    const listed = await call(service.client, service.client.listJobs, ListJobsRequest.fromPartial({ type: "", states: [], labelSelector: `key=${key}`, pageSize: 10, pageToken: "" }));
    expect(listed.jobs).toHaveLength(1);
    const events = await collect(service.client.watchJob({ jobId: id, afterSequence: 0 }));
    expect(events.filter((e) => e.state === JobState.JOB_STATE_RUNNING)).toHaveLength(1);
  });

  it("refuses a key reused for a different request", async () => {
    const key = `idem-other-${Date.now()}`;
    await schedule(timerRequest({ idempotencyKey: key }, { ms: 100 }));
    await expectError(schedule(timerRequest({ idempotencyKey: key }, { ms: 200 })), status.ALREADY_EXISTS, /^idempotency_key: was already used/);
  });
});

describe("bad input", () => {
  const cases: [string, ScheduleJobRequest, RegExp][] = [
    ["negative duration", timerRequest({}, { ms: -1000 }), /^timer\.duration: must be at least/],
    ["missing duration", { ...timerRequest(), spec: { $case: "timer", value: { timerName: "x", completionCallbackUrl: "" } } }, /^timer\.duration: is required/],
    ["missing timer name", timerRequest({}, { name: "" }), /^timer\.timer_name: is required/],
    ["bad callback URL", timerRequest({}, { callback: "ftp://x" }), /^timer\.completion_callback_url: must be an absolute http\(s\) URL/],
    ["bad label key", timerRequest({ labels: { "bad key!": "v" } }), /^labels\["bad key!"\]: .*not a valid label key/],
    ["bad label value", timerRequest({ labels: { team: "has space" } }), /^labels\["team"\]: .*not a valid label value/],
    ["long label value", timerRequest({ labels: { team: "x".repeat(64) } }), /^labels\["team"\]: must be at most 63 characters \(got 64\)/],
    ["unparseable quantity", timerRequest({ resources: { cpuRequest: "lots", cpuLimit: "", memoryRequest: "", memoryLimit: "" } }), /^resources\.cpu_request: "lots" is not a resource quantity/],
    ["request above limit", timerRequest({ resources: { cpuRequest: "2", cpuLimit: "1", memoryRequest: "", memoryLimit: "" } }), /^resources\.cpu_request: 2 is above the cpu limit 1/],
    ["negative timeout", timerRequest({ timeout: { seconds: -5, nanos: 0 } }), /^timeout: must not be negative/],
    ["timeout above the maximum", timerRequest({ timeout: { seconds: 10 * 86_400, nanos: 0 } }), /^timeout: must be at most/],
    ["no spec", { ...timerRequest(), spec: undefined }, /^spec: one job spec is required \(one of: timer/],
    ["idempotency key with spaces", timerRequest({ idempotencyKey: "a b" }), /^idempotency_key: /],
    ["too many attempts", timerRequest({ retryPolicy: { maxAttempts: 99, backoffMultiplier: 0, retryOnTimeout: false } }), /^retry_policy\.max_attempts: /],
  ];
  it.each(cases)("ScheduleJob with %s is INVALID_ARGUMENT naming the field", async (_name, request, message) => {
    await expectError(schedule(request), status.INVALID_ARGUMENT, message);
  });

  it("reports the field in the error-field trailer too", async () => {
    const error = await expectError(schedule(timerRequest({}, { ms: -1 })), status.INVALID_ARGUMENT, /timer\.duration/);
    expect(error.metadata.get("error-field")).toEqual(["timer.duration"]);
  });

  it("answers NOT_FOUND for an unknown job and INVALID_ARGUMENT for a malformed id", async () => {
    const unknown = "01234567-89ab-7def-8123-456789abcdef";
    await expectError(getJob(unknown), status.NOT_FOUND, `job ${unknown} not found`);
    await expectError(getJob("nope"), status.INVALID_ARGUMENT, /^job_id: "nope" is not a job id/);
    await expectError(getJob(""), status.INVALID_ARGUMENT, /^job_id: is required/);
    await expectError(call(service.client, service.client.cancelJob, { jobId: unknown, reason: "" }), status.NOT_FOUND, /not found/);
    await expectError(collect(service.client.watchJob({ jobId: unknown })), status.NOT_FOUND, /not found/);
  });

  const listCases: [string, Record<string, unknown>, RegExp][] = [
    ["page_size too large", { pageSize: 5000 }, /^page_size: must be between 1 and 1000/],
    ["negative page_size", { pageSize: -1 }, /^page_size: /],
    ["malformed page_token", { pageToken: "%%%not-a-token" }, /^page_token: is malformed/],
    ["bad label selector", { labelSelector: "a in (b" }, /^label_selector: /],
    ["unknown type", { type: "weather" }, /^type: unknown job type "weather"/],
  ];
  it.each(listCases)("ListJobs with %s is INVALID_ARGUMENT", async (_name, overrides, message) => {
    await expectError(
      call(service.client, service.client.listJobs, ListJobsRequest.fromPartial({ type: "", states: [], labelSelector: "", pageSize: 0, pageToken: "", ...overrides })),
      status.INVALID_ARGUMENT,
      message,
    );
  });
});

describe("listing", () => {
  it("pages through filtered jobs newest first, losing and repeating none", async () => {
    await call(service.client, service.client.pauseDispatching, { reason: "listing test" });
    const run = `r${Date.now()}`;
    const created: string[] = [];
    try {
      for (let i = 0; i < 23; i++) {
        const { job } = await schedule(timerRequest({ labels: { run, parity: i % 2 ? "odd" : "even", ...(i % 3 === 0 ? { third: "yes" } : {}) } }));
        created.push(job!.id);
      }
      const base = { type: "timer", states: [JobState.JOB_STATE_QUEUED], labelSelector: `run=${run},parity=even`, pageSize: 4 };
      const seen: Job[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await call(service.client, service.client.listJobs, ListJobsRequest.fromPartial({ ...base, pageToken }));
        expect(page.jobs.length).toBeLessThanOrEqual(4);
        seen.push(...page.jobs);
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken);
      const expected = created.filter((_, i) => i % 2 === 0).reverse();
      expect(seen.map((j) => j.id)).toEqual(expected);
      expect(pages).toBe(3);

      const thirds = await call(service.client, service.client.listJobs, ListJobsRequest.fromPartial({ type: "", states: [], labelSelector: `run=${run},third,parity!=odd`, pageSize: 100, pageToken: "" }));
      expect(thirds.jobs.map((j) => j.id)).toEqual(created.filter((_, i) => i % 3 === 0 && i % 2 === 0).reverse());

      const times = await Promise.all(created.map(async (id) => (await getJob(id)).createTime!.getTime()));
      const [after, before] = [times[4], times[10]];
      const window = await call(service.client, service.client.listJobs, ListJobsRequest.fromPartial({
        type: "", states: [], labelSelector: `run=${run}`, pageSize: 100, pageToken: "",
        createdAfter: new Date(after), createdBefore: new Date(before),
      }));
      const inWindow = created.filter((_, i) => times[i] > after && times[i] < before).reverse();
      expect(window.jobs.map((j) => j.id)).toEqual(inWindow);

      const first = await call(service.client, service.client.listJobs, ListJobsRequest.fromPartial({ ...base, pageToken: "" }));
      await expectError(
        call(service.client, service.client.listJobs, ListJobsRequest.fromPartial({ ...base, labelSelector: `run=${run}`, pageToken: first.nextPageToken })),
        status.INVALID_ARGUMENT,
        /^page_token: was issued for different filters/,
      );
    } finally {
      for (const id of created) await call(service.client, service.client.cancelJob, { jobId: id, reason: "cleanup" }).catch(() => undefined);
      await call(service.client, service.client.resumeDispatching, {});
    }
  });

  it("lists the registered job types with their defaults and parameter schema", async () => {
    const { jobTypes } = await call(service.client, service.client.listJobTypes, {});
    const timer = jobTypes.find((t) => t.name === "timer")!;
    expect(timer.defaultTimeout).toEqual({ seconds: 3600, nanos: 0 });
    expect(timer.defaultResources).toMatchObject({ cpuRequest: "50m", memoryLimit: "128Mi" });
    expect(timer.defaultMaxAttempts).toBe(1);
    expect(Object.keys((timer.paramsSchema as { properties: object }).properties)).toEqual(
      expect.arrayContaining(["duration", "timerName", "completionCallbackUrl"]),
    );
  });
});

describe("dispatching controls", () => {
  it("holds jobs while paused, survives as a stored flag, and runs them on resume", async () => {
    const paused = await call(service.client, service.client.pauseDispatching, { reason: "maintenance" });
    expect(paused).toMatchObject({ paused: true, pausedReason: "maintenance" });
    const passes = () => metricValue(service.app.metricsPort, "jobscheduler_dispatch_passes_total");
    const { job } = await schedule(timerRequest({}, { ms: 50 }));
    // Two more passes: at least one began after the job was stored, and left it queued.
    const before = await passes();
    await waitFor(async () => (await passes()) >= before + 2, 10_000, 20);
    expect(JobState[(await getJob(job!.id)).state]).toBe("JOB_STATE_QUEUED");
    const status1 = await call(service.client, service.client.getDispatchingStatus, {});
    expect(status1.queued).toBeGreaterThanOrEqual(1);
    await call(service.client, service.client.resumeDispatching, {});
    await waitForState(job!.id, [JobState.JOB_STATE_SUCCEEDED]);
  });
});

describe("request ids", () => {
  /** One GetJobStatus call with its response headers and trailers. */
  function getWithMetadata(jobId: string, metadata: Metadata) {
    return new Promise<{ code: status; headers: Metadata | null; trailers: Metadata }>((resolve) => {
      let headers: Metadata | null = null;
      const pending = service.client.getJobStatus({ jobId }, metadata, () => undefined);
      pending.on("metadata", (received: Metadata) => (headers = received));
      pending.on("status", (received: StatusObject) => resolve({ code: received.code, headers, trailers: received.metadata }));
    });
  }

  it("echoes a given x-request-id in the response headers, on success and on error", async () => {
    const { job } = await call(service.client, service.client.scheduleJob, timerRequest({}, { ms: 50 }));
    const given = new Metadata();
    given.set("x-request-id", "hub-poll-42");
    const ok = await getWithMetadata(job!.id, given);
    expect(ok.code).toBe(status.OK);
    expect(ok.headers!.get("x-request-id")).toEqual(["hub-poll-42"]);
    const missing = await getWithMetadata("0193a6f0-1c2d-7e3f-8a4b-5c6d7e8f9a0b", given);
    expect(missing.code).toBe(status.NOT_FOUND);
    expect(missing.trailers.get("x-request-id")).toEqual(["hub-poll-42"]);
  });

  it("gives an error a generated request id to quote; a plain answer carries none", async () => {
    const { job } = await call(service.client, service.client.scheduleJob, timerRequest({}, { ms: 50 }));
    const ok = await getWithMetadata(job!.id, new Metadata());
    expect(ok.code).toBe(status.OK);
    expect(ok.headers?.get("x-request-id") ?? []).toEqual([]);
    const bad = await getWithMetadata("not-an-id", new Metadata());
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    const [generated] = bad.trailers.get("x-request-id");
    expect(generated).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(bad.trailers.get("error-field")).toEqual(["job_id"]);
  });
});
