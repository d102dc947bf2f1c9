import { status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { JobState, ListJobsRequest, ListOutboxRequest, OutboxItemState, type Job, type JobEvent } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { ms, timerJob } from "./support/requests.js";
import { baseEnv, call, cleanup, collect, spawnService, startService, tempDir, waitFor, type ChildService, type TestService } from "./support/service.js";

let service: TestService;
const DEFAULT_LIMITS = { maxRunning: 16, maxRunningPerType: {}, maxRunningPerKey: 1, maxRunningPerKeyOverrides: {} };

beforeAll(async () => {
  service = await startService({ MAX_RUNNING_JOBS: "16", DISPATCH_POLL_INTERVAL: "100ms" });
});
afterAll(async () => {
  await service?.stop();
  if (service) cleanup(service.dataDir);
});
afterEach(async () => {
  await call(service.client, service.client.updateDispatchLimits, { limits: DEFAULT_LIMITS });
  await call(service.client, service.client.resumeDispatching, {});
});

const c = () => service.client;
const schedule = async (request: ReturnType<typeof timerJob>) => (await call(c(), c().scheduleJob, request)).job!;
const get = (jobId: string) => call(c(), c().getJobStatus, { jobId });
const history = (jobId: string) => collect(c().watchJob({ jobId, afterSequence: 0 }));

async function waitForState(jobId: string, state: JobState, timeoutMs = 30_000): Promise<Job> {
  return waitFor(async () => {
    const job = await get(jobId);
    return job.state === state ? job : undefined;
  }, timeoutMs);
}

const TERMINAL = [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];

/** [start, end] of each job's run, from its stored transitions. */
async function runIntervals(ids: string[]): Promise<Map<string, { start: number; end: number; events: JobEvent[] }>> {
  const out = new Map<string, { start: number; end: number; events: JobEvent[] }>();
  for (const id of ids) {
    const events = await history(id);
    const start = events.find((e) => e.state === JobState.JOB_STATE_STARTING)!.time!.getTime();
    const end = events.find((e) => TERMINAL.includes(e.state))!.time!.getTime();
    out.set(id, { start, end, events });
  }
  return out;
}

/** The most runs that overlapped at any instant, among those `group` selects. */
function peakOverlap(intervals: { start: number; end: number }[]): number {
  const points = intervals.flatMap((i) => [[i.start, 1], [i.end, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let current = 0;
  let peak = 0;
  for (const [, delta] of points) {
    current += delta;
    peak = Math.max(peak, current);
  }
  return peak;
}

describe("admission", () => {
  it("admits a burst of 200 jobs in priority order, FIFO within a priority, never above the global limit", async () => {
    await call(c(), c().pauseDispatching, { reason: "loading a burst" });
    await call(c(), c().updateDispatchLimits, { limits: { ...DEFAULT_LIMITS, maxRunning: 4 } });
    const jobs: { id: string; priority: number; order: number }[] = [];
    for (let i = 0; i < 200; i++) {
      const priority = (i * 7919) % 5;
      const job = await schedule(timerJob(1, { priority, labels: { burst: "priority" } }));
      jobs.push({ id: job.id, priority, order: i });
    }
    const lastQueued = await get(jobs[199].id);
    expect(lastQueued.queue).toMatchObject({ waitingReason: "DISPATCH_PAUSED" });
    const expectedPosition = jobs.filter((j) => j.priority > jobs[199].priority || (j.priority === jobs[199].priority && j.order < 199)).length + 1;
    expect(lastQueued.queue!.position).toBe(expectedPosition);

    await call(c(), c().resumeDispatching, {});
    await waitFor(async () => {
      const page = await call(c(), c().listJobs, ListJobsRequest.fromPartial({ labelSelector: "burst=priority", states: [JobState.JOB_STATE_SUCCEEDED], pageSize: 1000 }));
      return page.jobs.length === 200;
    }, 110_000, 200);
    const runs = await runIntervals(jobs.map((j) => j.id));
    expect(peakOverlap([...runs.values()])).toBeLessThanOrEqual(4);
    // Any job that started strictly before another must not rank below it.
    const rank = (j: (typeof jobs)[number]) => [-j.priority, j.order];
    const byStart = [...jobs].sort((a, b) => runs.get(a.id)!.start - runs.get(b.id)!.start);
    for (let i = 0; i < byStart.length; i++) {
      for (let k = i + 1; k < byStart.length; k++) {
        const [a, b] = [byStart[i], byStart[k]];
        if (runs.get(a.id)!.start === runs.get(b.id)!.start) continue;
        const [ra, rb] = [rank(a), rank(b)];
        expect(ra[0] < rb[0] || (ra[0] === rb[0] && ra[1] < rb[1]), `job #${a.order} (p${a.priority}) started before #${b.order} (p${b.priority})`).toBe(true);
      }
    }
  }, 120_000);

  it("holds the per-type and per-key limits, and says which limit a job waits for", async () => {
    await call(c(), c().updateDispatchLimits, {
      limits: { maxRunning: 10, maxRunningPerType: { timer: 3 }, maxRunningPerKey: 1, maxRunningPerKeyOverrides: { shared: 2 } },
    });
    const keys = ["team-a", "team-b", "team-c", "shared"];
    const ids: { id: string; key: string }[] = [];
    await call(c(), c().pauseDispatching, { reason: "loading" });
    for (let i = 0; i < 24; i++) {
      const key = keys[i % keys.length];
      ids.push({ id: (await schedule(timerJob(400, { concurrencyKey: key }))).id, key });
    }
    await call(c(), c().resumeDispatching, {});
    const waiting = await waitFor(async () => {
      const states = await Promise.all(ids.map(({ id }) => get(id)));
      return states.find((j) => j.state === JobState.JOB_STATE_QUEUED && j.queue?.waitingReason === "TYPE_LIMIT");
    });
    expect(waiting.queue!.waitingMessage).toBe("3 of at most 3 timer jobs are running");
    await Promise.all(ids.map(({ id }) => waitForState(id, JobState.JOB_STATE_SUCCEEDED, 60_000)));
    const runs = await runIntervals(ids.map((j) => j.id));
    expect(peakOverlap([...runs.values()])).toBe(3);
    for (const key of keys) {
      const ofKey = ids.filter((j) => j.key === key).map((j) => runs.get(j.id)!);
      expect(peakOverlap(ofKey), key).toBeLessThanOrEqual(key === "shared" ? 2 : 1);
    }
  });

  it("reports CONCURRENCY_KEY_LIMIT and GLOBAL_LIMIT as the reason a job waits", async () => {
    await call(c(), c().updateDispatchLimits, { limits: { ...DEFAULT_LIMITS, maxRunning: 2 } });
    const holder = await schedule(timerJob(20_000, { concurrencyKey: "app-1" }));
    await waitForState(holder.id, JobState.JOB_STATE_RUNNING);
    const sameKey = await schedule(timerJob(100, { concurrencyKey: "app-1" }));
    const filler = await schedule(timerJob(20_000));
    await waitForState(filler.id, JobState.JOB_STATE_RUNNING);
    const blocked = await schedule(timerJob(100));
    const [keyWait, globalWait] = await Promise.all([get(sameKey.id), get(blocked.id)]);
    expect(keyWait.queue).toMatchObject({ waitingReason: "GLOBAL_LIMIT" });
    await call(c(), c().updateDispatchLimits, { limits: { ...DEFAULT_LIMITS, maxRunning: 3 } });
    await waitForState(blocked.id, JobState.JOB_STATE_SUCCEEDED);
    expect(globalWait.queue).toMatchObject({ waitingReason: "GLOBAL_LIMIT", waitingMessage: "2 of at most 2 jobs are running" });
    const stillWaiting = await get(sameKey.id);
    expect(stillWaiting.queue).toMatchObject({ waitingReason: "CONCURRENCY_KEY_LIMIT", waitingMessage: '1 of at most 1 jobs with concurrency key "app-1" are running' });
    await call(c(), c().cancelJob, { jobId: holder.id, reason: "" });
    await waitForState(sameKey.id, JobState.JOB_STATE_SUCCEEDED);
    await call(c(), c().cancelJob, { jobId: filler.id, reason: "" });
  });

  it("fails a job that waits longer than its queue timeout with QUEUE_TIMEOUT", async () => {
    await call(c(), c().pauseDispatching, { reason: "hold" });
    const job = await schedule(timerJob(100, { queueTimeout: ms(400) }));
    expect((await get(job.id)).queueDeadline!.getTime() - (await get(job.id)).createTime!.getTime()).toBe(400);
    const failed = await waitForState(job.id, JobState.JOB_STATE_FAILED, 5000);
    expect(failed.reason).toBe("QUEUE_TIMEOUT");
    expect(failed.startTime).toBeUndefined();
  });

  it("keeps a delayed job QUEUED (DELAYED) until its run_at", async () => {
    const runAt = new Date(Date.now() + 1200);
    const job = await schedule(timerJob(50, { runAt }));
    const waiting = await get(job.id);
    expect(waiting.queue).toMatchObject({ waitingReason: "DELAYED", position: 0 });
    const done = await waitForState(job.id, JobState.JOB_STATE_SUCCEEDED, 10_000);
    expect(done.startTime!.getTime()).toBeGreaterThanOrEqual(runAt.getTime());
  });

  it("refuses bad admission fields and limits, naming the field", async () => {
    const expectInvalid = async (promise: Promise<unknown>, message: RegExp) => {
      const error = (await promise.catch((e: ServiceError) => e)) as ServiceError;
      expect(status[error.code]).toBe("INVALID_ARGUMENT");
      expect(error.details).toMatch(message);
    };
    await expectInvalid(schedule(timerJob(1, { priority: 5000 })), /^priority: must be between -1000 and 1000/);
    await expectInvalid(schedule(timerJob(1, { concurrencyKey: "has space" })), /^concurrency_key: /);
    await expectInvalid(schedule(timerJob(1, { queueTimeout: { seconds: -1, nanos: 0 } })), /^queue_timeout: must not be negative/);
    await expectInvalid(schedule(timerJob(1, { retryPolicy: { maxAttempts: 2, backoffMultiplier: 50, retryOnTimeout: false } })), /^retry_policy\.backoff_multiplier: /);
    await expectInvalid(schedule(timerJob(1, { retryPolicy: { maxAttempts: 2, backoffMultiplier: 0, jitter: 3, retryOnTimeout: false } })), /^retry_policy\.jitter: /);
    await expectInvalid(call(c(), c().updateDispatchLimits, { limits: { ...DEFAULT_LIMITS, maxRunning: 0 } }), /^limits\.max_running: /);
    await expectInvalid(call(c(), c().updateDispatchLimits, { limits: { ...DEFAULT_LIMITS, maxRunningPerType: { k6: 0 } } }), /^limits\.max_running_per_type\["k6"\]: /);
  });
});

describe("retries and dead letters", () => {
  it("retries a timeout with back-off when the policy allows it, then parks the job as RETRIES_EXHAUSTED", async () => {
    const job = await schedule(timerJob(10_000, {
      timeout: ms(300),
      retryPolicy: { maxAttempts: 3, initialBackoff: ms(400), backoffMultiplier: 2, maxBackoff: ms(5000), jitter: 0, retryOnTimeout: true },
    }));
    const failed = await waitForState(job.id, JobState.JOB_STATE_FAILED, 20_000);
    expect(failed.reason).toBe("RETRIES_EXHAUSTED");
    expect(failed.message).toMatch(/^TIMED_OUT: .*\(attempt 3 of 3\)$/);
    expect(failed.attempt).toBe(3);
    expect(failed.attempts.map((a) => [a.attempt, a.reason])).toEqual([[1, "TIMED_OUT"], [2, "TIMED_OUT"]]);
    const events = await history(job.id);
    const starts = events.filter((e) => e.state === JobState.JOB_STATE_STARTING).map((e) => e.time!.getTime());
    const requeues = events.filter((e) => e.state === JobState.JOB_STATE_QUEUED && e.attempt > 1).map((e) => e.time!.getTime());
    expect(starts).toHaveLength(3);
    // Back-off: 400 ms before attempt 2, 800 ms before attempt 3.
    expect(starts[1] - requeues[0]).toBeGreaterThanOrEqual(400);
    expect(starts[2] - requeues[1]).toBeGreaterThanOrEqual(800);

    const deadLetters = await call(c(), c().listJobs, ListJobsRequest.fromPartial({ reason: "RETRIES_EXHAUSTED", pageSize: 100 }));
    expect(deadLetters.jobs.map((j) => j.id)).toContain(job.id);
  });

  it("a run whose completion callback cannot be delivered still SUCCEEDS once, not retried: the callback waits in the outbox", async () => {
    const job = await schedule(timerJob(20, {
      retryPolicy: { maxAttempts: 3, initialBackoff: ms(100), backoffMultiplier: 1, jitter: 0, retryOnTimeout: true },
      spec: { $case: "timer", value: { duration: ms(20), timerName: "callback-fails", completionCallbackUrl: "http://127.0.0.1:1/unreachable" } },
    }));
    const done = await waitForState(job.id, JobState.JOB_STATE_SUCCEEDED, 20_000);
    expect(done.attempt).toBe(1);
    expect(done.attempts).toEqual([]);
    const pending = await waitFor(async () => {
      const { items } = await call(c(), c().listOutbox, ListOutboxRequest.fromPartial({ pageSize: 100 }));
      return items.find((i) => i.jobId === job.id && i.attempts >= 1);
    });
    expect(pending.state).toBe(OutboxItemState.OUTBOX_ITEM_STATE_PENDING);
    expect(pending.lastError).not.toBe("");
  });

  it("RetryJob re-runs a cancelled or failed job as a new job linked to it, and refuses others", async () => {
    await call(c(), c().pauseDispatching, { reason: "hold" });
    const original = await schedule(timerJob(50, { labels: { chain: "retry" } }));
    await call(c(), c().cancelJob, { jobId: original.id, reason: "" });
    await call(c(), c().resumeDispatching, {});
    const again = await call(c(), c().retryJob, { jobId: original.id, idempotencyKey: `retry-${original.id}` });
    expect(again.id).not.toBe(original.id);
    expect(again.retryOf).toBe(original.id);
    expect(again.labels).toEqual({ chain: "retry" });
    const repeat = await call(c(), c().retryJob, { jobId: original.id, idempotencyKey: `retry-${original.id}` });
    expect(repeat.id).toBe(again.id);
    const done = await waitForState(again.id, JobState.JOB_STATE_SUCCEEDED);
    expect(done.attempt).toBe(1);
    const error = (await call(c(), c().retryJob, { jobId: done.id, idempotencyKey: "" }).catch((e: ServiceError) => e)) as ServiceError;
    expect(status[error.code]).toBe("FAILED_PRECONDITION");
    expect(error.details).toContain("only failed or cancelled jobs can be retried");
  });

  it("counts retries and queue depth in the metrics", async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${service.app.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/jobscheduler_job_retries_total\{type="timer",reason="TIMED_OUT"\} 2/);
    expect(metrics).toContain("jobscheduler_admission_wait_seconds_bucket");
    expect(metrics).toContain("jobscheduler_queue_depth");
  });
});

describe("restart with jobs queued, delayed and mid-retry", () => {
  const children: ChildService[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const child of children) {
      child.client.close();
      if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL");
      await child.exited;
    }
    dirs.forEach(cleanup);
  });

  it("resumes every one of them correctly", async () => {
    const dataDir = tempDir();
    const emptyCollectors = tempDir("no-collectors-");
    dirs.push(dataDir, emptyCollectors);
    // First life: the collectors are missing, so launches fail (an infrastructure failure: retried).
    const first = await spawnService(baseEnv(dataDir, { COLLECTORS_DIR: emptyCollectors, LOG_LEVEL: "info" }));
    children.push(first);
    const fc = first.client;
    const midRetry = (await call(fc, fc.scheduleJob, timerJob(50, { retryPolicy: { maxAttempts: 3, initialBackoff: ms(3000), backoffMultiplier: 2, jitter: 0, retryOnTimeout: false } }))).job!;
    const delayed = (await call(fc, fc.scheduleJob, timerJob(50, { runAt: new Date(Date.now() + 2500) }))).job!;
    await call(fc, fc.pauseDispatching, { reason: "hold" });
    await waitFor(async () => (await call(fc, fc.getJobStatus, { jobId: midRetry.id })).attempt === 2);
    const queued = (await call(fc, fc.scheduleJob, timerJob(50))).job!;
    first.process.kill("SIGKILL");
    await first.exited;

    const second = await spawnService(baseEnv(dataDir, { LOG_LEVEL: "info" }));
    children.push(second);
    const sc = second.client;
    const paused = await call(sc, sc.getDispatchingStatus, {});
    expect(paused).toMatchObject({ paused: true, pausedReason: "hold", queued: 3 });
    const waitingRetry = await call(sc, sc.getJobStatus, { jobId: midRetry.id });
    expect(waitingRetry.queue?.waitingReason).toMatch(/RETRY_BACKOFF|DISPATCH_PAUSED/);
    await call(sc, sc.resumeDispatching, {});

    const settle = (id: string) => waitFor(async () => {
      const job = await call(sc, sc.getJobStatus, { jobId: id });
      return job.state === JobState.JOB_STATE_SUCCEEDED ? job : undefined;
    }, 20_000);
    const [retried, late, plain] = await Promise.all([settle(midRetry.id), settle(delayed.id), settle(queued.id)]);
    expect(retried.attempt).toBe(2);
    expect(retried.attempts).toHaveLength(1);
    expect(retried.attempts[0]).toMatchObject({ attempt: 1, reason: "LAUNCH_FAILED" });
    expect(retried.startTime!.getTime() - retried.attempts[0].finishTime!.getTime()).toBeGreaterThanOrEqual(3000);
    expect(late.startTime!.getTime()).toBeGreaterThanOrEqual(late.runAt!.getTime());
    expect(plain.attempt).toBe(1);
  });
});
