// Recurring schedules end to end: the real service in-process on real ports, driven
// through gRPC, with a manual clock so fire times are exact instants.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { status, type ServiceError } from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { jitterDelayMs } from "../src/dispatch/schedules/jitter.js";
import {
  CatchupPolicy, JobState, ListJobsRequest, OverlapPolicy, ScheduleJobRequest, ScheduleSpec,
  type CancelJobRequest, type CreateScheduleRequest, type DeleteScheduleRequest, type DeleteScheduleResponse, type DispatchingStatus,
  type GetJobStatusRequest, type GetScheduleRequest, type Job, type JobSchedulerClient, type ListJobsResponse, type ListSchedulesRequest,
  type ListSchedulesResponse, type PauseDispatchingRequest, type PauseScheduleRequest, type ResumeScheduleRequest, type Schedule,
  type TriggerScheduleRequest, type TriggerScheduleResponse, type UpdateScheduleRequest,
} from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { ManualClock } from "./support/manual-clock.js";
import { call, cleanup, startService, tempDir, waitFor, type TestService } from "./support/service.js";

const HOUR = 3_600_000;
const MINUTE = 60_000;
const t = (text: string) => Date.parse(text);
const iso = (ms: number) => new Date(ms).toISOString();

// Dispatching polls rarely: the manual clock wakes every sleeper on its way, and the
// tests wake the dispatcher through the API when they need it.
const ENV = { MAX_RUNNING_JOBS: "8", DISPATCH_POLL_INTERVAL: "1h", CANCEL_WAIT: "5s" };

const services: TestService[] = [];
const dirs = new Set<string>();

afterEach(async () => {
  await Promise.all(services.splice(0).map((s) => s.stop()));
});

afterAll(() => {
  for (const dir of dirs) cleanup(dir);
});

async function start(clock: ManualClock, extra: Record<string, string> = {}, dataDir = tempDir()): Promise<TestService> {
  dirs.add(dataDir);
  const service = await startService({ ...ENV, ...extra }, dataDir, { clock });
  services.push(service);
  return service;
}

async function stop(service: TestService): Promise<void> {
  services.splice(services.indexOf(service), 1);
  await service.stop();
}

function timer(ms: number): ScheduleJobRequest {
  return ScheduleJobRequest.fromPartial({
    spec: { $case: "timer", value: { duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, timerName: "scheduled", completionCallbackUrl: "" } },
  });
}

function spec(name: string, overrides: Partial<ScheduleSpec> = {}): ScheduleSpec {
  return ScheduleSpec.fromPartial({ name, cron: "0 * * * *", timeZone: "UTC", jobTemplate: timer(100), ...overrides });
}

// Type arguments spelled out: inference picks the last overload of a generated method.
const api = (client: JobSchedulerClient) => ({
  create: (s: ScheduleSpec) => call<CreateScheduleRequest, Schedule>(client, client.createSchedule, { spec: s }),
  get: (scheduleId: string) => call<GetScheduleRequest, Schedule>(client, client.getSchedule, { scheduleId }),
  update: (scheduleId: string, s: ScheduleSpec) => call<UpdateScheduleRequest, Schedule>(client, client.updateSchedule, { scheduleId, spec: s }),
  pause: (scheduleId: string, reason = "") => call<PauseScheduleRequest, Schedule>(client, client.pauseSchedule, { scheduleId, reason }),
  resume: (scheduleId: string) => call<ResumeScheduleRequest, Schedule>(client, client.resumeSchedule, { scheduleId }),
  remove: (scheduleId: string) => call<DeleteScheduleRequest, DeleteScheduleResponse>(client, client.deleteSchedule, { scheduleId }),
  trigger: (scheduleId: string) => call<TriggerScheduleRequest, TriggerScheduleResponse>(client, client.triggerSchedule, { scheduleId }),
  list: (pageSize: number, pageToken = "") => call<ListSchedulesRequest, ListSchedulesResponse>(client, client.listSchedules, { pageSize, pageToken, teamSlug: "" }),
  job: (jobId: string) => call<GetJobStatusRequest, Job>(client, client.getJobStatus, { jobId }),
  cancel: (jobId: string) => call<CancelJobRequest, Job>(client, client.cancelJob, { jobId, reason: "test" }),
  pauseDispatching: () => call<PauseDispatchingRequest, DispatchingStatus>(client, client.pauseDispatching, { reason: "schedule test" }),
  /** The schedule's jobs in fire time order (catch-up fires share a creation time). */
  async jobs(scheduleId: string): Promise<Job[]> {
    const { jobs } = await call<ListJobsRequest, ListJobsResponse>(client, client.listJobs, ListJobsRequest.fromPartial({ scheduleId, pageSize: 1000 }));
    return jobs.sort((x, y) => (x.idempotencyKey < y.idempotencyKey ? -1 : 1));
  },
});

/** The fire time in a job's idempotency key (schedule:<id>:<fire time>). */
function fireTimeOf(job: Job): string {
  const prefix = `schedule:${job.scheduleId}:`;
  expect(job.idempotencyKey.startsWith(prefix)).toBe(true);
  return job.idempotencyKey.slice(prefix.length);
}

async function jobsWhen(service: TestService, scheduleId: string, count: number): Promise<Job[]> {
  return waitFor(async () => {
    const jobs = await api(service.client).jobs(scheduleId);
    return jobs.length >= count ? jobs : undefined;
  }, 10_000, 20);
}

async function stateWhen(service: TestService, jobId: string, states: JobState[]): Promise<Job> {
  return waitFor(async () => {
    const job = await api(service.client).job(jobId);
    return states.includes(job.state) ? job : undefined;
  }, 15_000);
}

/** Real time for asynchronous work (none expected) to show. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

async function expectInvalid(promise: Promise<unknown>, field: string, code = status.INVALID_ARGUMENT): Promise<ServiceError> {
  const error = await promise.then(
    () => {
      throw new Error(`expected ${status[code]} for ${field}`);
    },
    (e: ServiceError) => e,
  );
  expect(status[error.code]).toBe(status[code]);
  if (code === status.INVALID_ARGUMENT) {
    expect(error.metadata.get("error-field")).toEqual([field]);
    expect(error.details.startsWith(`${field}: `)).toBe(true);
  }
  return error;
}

describe("cron fire times in a time zone with DST", () => {
  it("fires a daily 02:30 Europe/Berlin schedule at the right instants across spring-forward", async () => {
    const clock = new ManualClock("2025-03-28T12:00:00Z");
    const service = await start(clock);
    const a = api(service.client);
    await a.pauseDispatching();
    const created = await a.create(spec("berlin-0230", { cron: "30 2 * * *", timeZone: "Europe/Berlin", overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW }));
    expect(created).toMatchObject({ source: "api", paused: false, fires: 0, misses: 0, skips: 0 });
    expect(created.spec).toMatchObject({ timeZone: "Europe/Berlin", overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW, catchupPolicy: CatchupPolicy.CATCHUP_POLICY_ALL });
    expect(iso(created.nextFireTime!.getTime())).toBe("2025-03-29T01:30:00.000Z");

    await clock.set("2025-03-31T12:00:00Z");
    const jobs = await jobsWhen(service, created.id, 3);
    expect(jobs.map(fireTimeOf)).toEqual([
      "2025-03-29T01:30:00.000Z", // 02:30 CET
      "2025-03-30T01:00:00.000Z", // 02:30 does not exist that night: 03:00 CEST, right after the gap
      "2025-03-31T00:30:00.000Z", // 02:30 CEST
    ]);
    // Fired on time, each job due at its fire time.
    expect(jobs.map((j) => iso(j.runAt!.getTime()))).toEqual(jobs.map(fireTimeOf));
    expect(jobs.map((j) => iso(j.createTime!.getTime()))).toEqual(jobs.map(fireTimeOf));
    expect(jobs.every((j) => j.name === "berlin-0230" && j.type === "timer" && j.state === JobState.JOB_STATE_QUEUED)).toBe(true);
    const after = await a.get(created.id);
    expect(after).toMatchObject({ fires: 3, misses: 0, skips: 0 });
    expect(iso(after.lastFireTime!.getTime())).toBe("2025-03-31T00:30:00.000Z");
    expect(iso(after.nextFireTime!.getTime())).toBe("2025-04-01T00:30:00.000Z");
  });

  it("fires an hourly America/New_York schedule on both 01:00s of the fall-back night", async () => {
    const clock = new ManualClock("2025-11-02T03:30:00Z");
    const service = await start(clock);
    const a = api(service.client);
    await a.pauseDispatching();
    const created = await a.create(spec("ny-hourly", { cron: "0 * * * *", timeZone: "America/New_York", overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW }));
    await clock.set("2025-11-02T08:30:00Z");
    const jobs = await jobsWhen(service, created.id, 5);
    expect(jobs.map(fireTimeOf)).toEqual([
      "2025-11-02T04:00:00.000Z", // 00:00 EDT
      "2025-11-02T05:00:00.000Z", // 01:00 EDT
      "2025-11-02T06:00:00.000Z", // 01:00 EST (the hour repeats)
      "2025-11-02T07:00:00.000Z", // 02:00 EST
      "2025-11-02T08:00:00.000Z",
    ]);
  });
});

describe("pause and resume", () => {
  it("does not fire while paused; on resume the missed fire times follow the catch-up policy", async () => {
    const clock = new ManualClock("2025-01-06T00:10:00Z");
    const service = await start(clock);
    const a = api(service.client);
    await a.pauseDispatching();
    const s = await a.create(spec("pausable", {
      overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW, catchupPolicy: CatchupPolicy.CATCHUP_POLICY_ONE, catchupWindow: { seconds: 86_400, nanos: 0 },
    }));
    await clock.set("2025-01-06T01:00:00Z");
    expect((await jobsWhen(service, s.id, 1)).map(fireTimeOf)).toEqual(["2025-01-06T01:00:00.000Z"]);

    const paused = await a.pause(s.id, "maintenance window");
    expect(paused).toMatchObject({ paused: true, pausedReason: "maintenance window" });
    expect(paused.nextFireTime).toBeUndefined();
    await clock.set("2025-01-06T03:30:00Z");
    await settle();
    expect(await a.jobs(s.id)).toHaveLength(1);

    const resumed = await a.resume(s.id);
    expect(resumed).toMatchObject({ paused: false, pausedReason: "" });
    // 02:00 and 03:00 passed while paused; policy ONE runs the latest once and skips the other.
    const jobs = await jobsWhen(service, s.id, 2);
    expect(jobs.map(fireTimeOf)).toEqual(["2025-01-06T01:00:00.000Z", "2025-01-06T03:00:00.000Z"]);
    const after = await waitFor(async () => {
      const current = await a.get(s.id);
      return current.skips === 1 ? current : undefined;
    });
    expect(after).toMatchObject({ fires: 2, skips: 1, misses: 0 });
    expect(iso(after.nextFireTime!.getTime())).toBe("2025-01-06T04:00:00.000Z");
    // Resuming a running schedule changes nothing.
    expect((await a.resume(s.id)).fires).toBe(2);
  });
});

describe("overlap policies", () => {
  it("SKIP, BUFFER_ONE, ALLOW and CANCEL_PREVIOUS with a fire's job still running", async () => {
    const clock = new ManualClock("2025-01-06T00:30:00Z");
    const service = await start(clock);
    const a = api(service.client);
    const long = timer(600_000);
    const make = (name: string, overlapPolicy: OverlapPolicy) => a.create(spec(name, { overlapPolicy, jobTemplate: long }));
    const skip = await make("overlap-skip", OverlapPolicy.OVERLAP_POLICY_SKIP);
    const buffer = await make("overlap-buffer-one", OverlapPolicy.OVERLAP_POLICY_BUFFER_ONE);
    const allow = await make("overlap-allow", OverlapPolicy.OVERLAP_POLICY_ALLOW);
    const cancel = await make("overlap-cancel-previous", OverlapPolicy.OVERLAP_POLICY_CANCEL_PREVIOUS);
    const all = [skip, buffer, allow, cancel];

    // 01:00: every schedule fires its first job, which starts running (a ten-minute timer).
    await clock.set("2025-01-06T01:00:00Z");
    const first = new Map<string, Job>();
    for (const s of all) {
      const [job] = await jobsWhen(service, s.id, 1);
      first.set(s.id, await stateWhen(service, job.id, [JobState.JOB_STATE_RUNNING]));
    }
    expect((await a.get(skip.id)).nextFireTime!.toISOString()).toBe("2025-01-06T02:00:00.000Z");

    // 02:00: the first jobs still run.
    await clock.set("2025-01-06T02:00:00Z");
    // ALLOW: a second job runs alongside the first.
    const allowJobs = await jobsWhen(service, allow.id, 2);
    await stateWhen(service, allowJobs[1].id, [JobState.JOB_STATE_RUNNING]);
    expect((await a.job(first.get(allow.id)!.id)).state).toBe(JobState.JOB_STATE_RUNNING);
    // BUFFER_ONE: a second job waits for the first (same exclusive group).
    const bufferJobs = await jobsWhen(service, buffer.id, 2);
    const buffered = await a.job(bufferJobs[1].id);
    expect(buffered.state).toBe(JobState.JOB_STATE_QUEUED);
    expect(buffered.queue).toMatchObject({ waitingReason: "EXCLUSIVE_GROUP" });
    // CANCEL_PREVIOUS: the first is cancelled, a new one takes over once it has stopped.
    const cancelJobs = await jobsWhen(service, cancel.id, 2);
    expect((await stateWhen(service, cancelJobs[0].id, [JobState.JOB_STATE_CANCELLED])).state).toBe(JobState.JOB_STATE_CANCELLED);
    await stateWhen(service, cancelJobs[1].id, [JobState.JOB_STATE_RUNNING]);
    // SKIP: nothing new.
    await settle();
    expect(await a.jobs(skip.id)).toHaveLength(1);
    expect(await a.get(skip.id)).toMatchObject({ fires: 1, skips: 1 });

    // 03:00: BUFFER_ONE already has one waiting, so this fire is skipped.
    await clock.set("2025-01-06T03:00:00Z");
    await jobsWhen(service, allow.id, 3);
    await settle();
    expect(await a.jobs(buffer.id)).toHaveLength(2);
    expect(await a.get(buffer.id)).toMatchObject({ fires: 2, skips: 1 });
    expect(await a.jobs(skip.id)).toHaveLength(1);
    expect(await a.get(skip.id)).toMatchObject({ fires: 1, skips: 2 });

    // When BUFFER_ONE's running job ends, the buffered one starts.
    await a.cancel(first.get(buffer.id)!.id);
    await stateWhen(service, bufferJobs[1].id, [JobState.JOB_STATE_RUNNING]);
    // When SKIP's job ends, the next fire runs again.
    await a.cancel(first.get(skip.id)!.id);
    await clock.set("2025-01-06T04:00:00Z");
    expect((await jobsWhen(service, skip.id, 2)).map(fireTimeOf)).toEqual(["2025-01-06T01:00:00.000Z", "2025-01-06T04:00:00.000Z"]);
  });
});

describe("downtime and crashes", () => {
  it("after the service was down for 3 fire times, each catch-up policy runs exactly what it says", async () => {
    const clock = new ManualClock("2025-01-06T00:30:00Z");
    const dataDir = tempDir();
    const first = await start(clock, {}, dataDir);
    const a1 = api(first.client);
    await a1.pauseDispatching(); // kept across the restart: nothing runs, the queue shows what the fires made
    const day = { seconds: 86_400, nanos: 0 };
    const all = await a1.create(spec("catchup-all", { overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW, catchupPolicy: CatchupPolicy.CATCHUP_POLICY_ALL, catchupWindow: day }));
    const one = await a1.create(spec("catchup-one", { overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW, catchupPolicy: CatchupPolicy.CATCHUP_POLICY_ONE, catchupWindow: day }));
    const narrow = await a1.create(spec("catchup-narrow", { overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW, catchupPolicy: CatchupPolicy.CATCHUP_POLICY_ALL, catchupWindow: { seconds: 80 * 60, nanos: 0 } }));
    const none = await a1.create(spec("catchup-none", { overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW }));
    await stop(first);

    // Down through 01:00, 02:00 and 03:00.
    await clock.set("2025-01-06T03:30:00Z");
    const second = await start(clock, {}, dataDir);
    const a2 = api(second.client);
    const fired = (id: string, count: number) => jobsWhen(second, id, count).then((jobs) => jobs.map(fireTimeOf));
    expect(await fired(all.id, 3)).toEqual(["2025-01-06T01:00:00.000Z", "2025-01-06T02:00:00.000Z", "2025-01-06T03:00:00.000Z"]);
    expect(await fired(one.id, 1)).toEqual(["2025-01-06T03:00:00.000Z"]);
    // 80 minutes reach back to 02:10: only 03:00 is inside.
    expect(await fired(narrow.id, 1)).toEqual(["2025-01-06T03:00:00.000Z"]);
    await settle();
    expect(await a2.jobs(one.id)).toHaveLength(1);
    expect(await a2.jobs(narrow.id)).toHaveLength(1);
    expect(await a2.jobs(none.id)).toHaveLength(0);
    expect(await a2.get(all.id)).toMatchObject({ fires: 3, skips: 0, misses: 0 });
    expect(await a2.get(one.id)).toMatchObject({ fires: 1, skips: 2, misses: 0 });
    expect(await a2.get(narrow.id)).toMatchObject({ fires: 1, skips: 0, misses: 2 });
    // No window (the default): late fire times are all missed.
    const noneAfter = await a2.get(none.id);
    expect(noneAfter).toMatchObject({ fires: 0, skips: 0, misses: 3 });
    expect(iso(noneAfter.lastFireTime!.getTime())).toBe("2025-01-06T03:00:00.000Z");
    expect(iso(noneAfter.nextFireTime!.getTime())).toBe("2025-01-06T04:00:00.000Z");

    const metrics = await (await fetch(`http://127.0.0.1:${second.app.metricsPort}/metrics`)).text();
    expect(metrics).toContain('jobscheduler_schedule_fires_total{schedule="catchup-all"} 3');
    expect(metrics).toContain('jobscheduler_schedule_skips_total{schedule="catchup-one",policy="catchup"} 2');
    expect(metrics).toContain('jobscheduler_schedule_misses_total{schedule="catchup-narrow"} 2');
    expect(metrics).toContain('jobscheduler_schedule_misses_total{schedule="catchup-none"} 3');
  });

  it("a crash between a fire and its record does not run the fire twice", async () => {
    const clock = new ManualClock("2025-01-06T00:30:00Z");
    const dataDir = tempDir();
    const first = await start(clock, {}, dataDir);
    const a1 = api(first.client);
    await a1.pauseDispatching();
    const s = await a1.create(spec("crashy", { jitter: { seconds: 300, nanos: 0 } }));
    await clock.set("2025-01-06T01:00:00Z");
    const [job] = await jobsWhen(first, s.id, 1);
    expect(await a1.get(s.id)).toMatchObject({ fires: 1 });
    await stop(first);

    // As if the process died after creating the job but before recording the fire.
    const db = new Database(join(dataDir, "jobscheduler.db"));
    db.prepare("UPDATE schedules SET last_fire_at = NULL, next_fire_at = ?, fires = 0 WHERE id = ?").run(t("2025-01-06T01:00:00Z"), s.id);
    db.close();

    const second = await start(clock, {}, dataDir);
    const a2 = api(second.client);
    const after = await waitFor(async () => {
      const current = await a2.get(s.id);
      return current.lastFireTime ? current : undefined;
    });
    // The repeated fire found its job (same key): one job, counted once, not an overlap skip.
    expect(after).toMatchObject({ fires: 1, skips: 0, misses: 0 });
    expect(iso(after.nextFireTime!.getTime())).toBe("2025-01-06T02:00:00.000Z");
    const jobs = await a2.jobs(s.id);
    expect(jobs.map((j) => j.id)).toEqual([job.id]);
    expect(jobs[0].runAt).toEqual(job.runAt);
  });
});

describe("the schedule API", () => {
  const clock = new ManualClock("2025-01-06T00:30:00Z");
  let service: TestService;
  let a: ReturnType<typeof api>;

  beforeAll(async () => {
    const dataDir = tempDir();
    dirs.add(dataDir);
    service = await startService(ENV, dataDir, { clock });
    a = api(service.client);
    await a.pauseDispatching();
  });

  afterAll(() => service.stop());

  it("rejects an invalid cron, time zone or template with INVALID_ARGUMENT naming the field", async () => {
    await expectInvalid(a.create(spec("bad-cron", { cron: "61 * * * *" })), "spec.cron");
    await expectInvalid(a.create(spec("bad-cron-2", { cron: "every hour" })), "spec.cron");
    await expectInvalid(a.create(spec("bad-zone", { timeZone: "Mars/Olympus_Mons" })), "spec.time_zone");
    await expectInvalid(a.create(spec("no-duration", { jobTemplate: ScheduleJobRequest.fromPartial({ spec: { $case: "timer", value: { timerName: "x" } } }) })), "spec.job_template.timer.duration");
    await expectInvalid(a.create(spec("no-template", { jobTemplate: undefined })), "spec.job_template");
    await expectInvalid(a.create(spec("keyed", { jobTemplate: { ...timer(100), idempotencyKey: "k" } })), "spec.job_template.idempotency_key");
    await expectInvalid(a.create(spec("labelled", { jobTemplate: { ...timer(100), labels: { "bad key!": "v" } } })), 'spec.job_template.labels["bad key!"]');
    await expectInvalid(a.create(spec("")), "spec.name");
    await expectInvalid(a.create(spec("window", { catchupWindow: { seconds: -1, nanos: 0 } })), "spec.catchup_window");
    await expectInvalid(a.create(spec("ends-early", { startTime: new Date(t("2025-02-01T00:00:00Z")), endTime: new Date(t("2025-01-01T00:00:00Z")) })), "spec.end_time");
    await expectInvalid(a.get("not-an-id"), "schedule_id");
    await expectInvalid(a.get("0190a6a0-0000-7000-8000-000000000000"), "", status.NOT_FOUND);
    const taken = await a.create(spec("taken"));
    await expectInvalid(a.create(spec("taken")), "spec.name", status.ALREADY_EXISTS);
    await expectInvalid(a.update(taken.id, spec("renamed")), "spec.name");
    await a.remove(taken.id);
  });

  it("TriggerSchedule fires now, outside the cron times, and the overlap policy applies", async () => {
    const s = await a.create(spec("trigger-me", { cron: "0 0 1 1 *", jitter: { seconds: 600, nanos: 0 } }));
    const { jobs, skippedReason } = await a.trigger(s.id);
    expect(skippedReason).toBe("");
    expect(jobs).toHaveLength(1);
    expect(fireTimeOf(jobs[0])).toBe(iso(clock.now()));
    expect(jobs[0].runAt!.getTime()).toBe(clock.now()); // no jitter for a manual fire
    expect(jobs[0].scheduleId).toBe(s.id);
    await clock.advance(1000);
    // The first job is still queued (dispatching is paused): SKIP skips.
    const again = await a.trigger(s.id);
    expect(again.jobs).toEqual([]);
    expect(again.skippedReason).toBe(`overlap policy SKIP: job ${jobs[0].id} is still QUEUED`);
    expect(await a.get(s.id)).toMatchObject({ fires: 1, skips: 1 });
    // Triggering works while paused, too.
    await a.cancel(jobs[0].id);
    await a.pause(s.id);
    expect((await a.trigger(s.id)).jobs).toHaveLength(1);
    await a.remove(s.id);
  });

  it("delays each cron fire's job by a stable jitter", async () => {
    const s = await a.create(spec("jittered", { cron: "*/10 * * * *", jitter: { seconds: 600, nanos: 0 }, overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW }));
    const fireTime = s.nextFireTime!.getTime();
    await clock.set(fireTime);
    const [job] = await jobsWhen(service, s.id, 1);
    expect(fireTimeOf(job)).toBe(iso(fireTime));
    const delay = job.runAt!.getTime() - fireTime;
    expect(delay).toBe(jitterDelayMs(s.id, fireTime, 600_000));
    expect(delay).toBeGreaterThan(0);
    expect(delay).toBeLessThan(600_000);
    expect((await a.job(job.id)).queue).toMatchObject({ waitingReason: "DELAYED" });
    await a.remove(s.id);
  });

  it("UpdateSchedule reschedules from now", async () => {
    const s = await a.create(spec("reschedule-me", { cron: "0 */6 * * *" }));
    const now = clock.now();
    const sixHourly = s.nextFireTime!.getTime();
    const updated = await a.update(s.id, spec("reschedule-me", { cron: "*/15 * * * *", timeZone: "Asia/Almaty" }));
    expect(updated.spec).toMatchObject({ cron: "*/15 * * * *", timeZone: "Asia/Almaty" });
    const next = updated.nextFireTime!.getTime();
    expect(next).toBeLessThan(sixHourly);
    expect(next - now).toBeLessThanOrEqual(15 * MINUTE);
    expect(updated.updateTime!.getTime()).toBe(now);
    // An empty name keeps the schedule's name.
    expect((await a.update(s.id, spec("", { cron: "*/15 * * * *" }))).spec!.name).toBe("reschedule-me");
    await clock.set(next);
    expect((await jobsWhen(service, s.id, 1)).map(fireTimeOf)).toEqual([iso(next)]);
    await a.remove(s.id);
  });

  it("DeleteSchedule stops the fires and keeps the jobs", async () => {
    const s = await a.create(spec("delete-me", { cron: "*/5 * * * *", overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW }));
    await clock.set(s.nextFireTime!.getTime());
    await jobsWhen(service, s.id, 1);
    await a.remove(s.id);
    await expectInvalid(a.get(s.id), "", status.NOT_FOUND);
    await expectInvalid(a.remove(s.id), "", status.NOT_FOUND);
    await clock.advance(30 * MINUTE);
    await settle();
    expect(await a.jobs(s.id)).toHaveLength(1);
  });

  it("ListSchedules pages by name; ListJobs filters by schedule", async () => {
    const made: Schedule[] = [];
    for (const name of ["list-c", "list-a", "list-e", "list-b", "list-d"]) made.push(await a.create(spec(name, { cron: "*/20 * * * *" })));
    const names: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await a.list(2, token);
      names.push(...page.schedules.map((s) => s.spec!.name));
      token = page.nextPageToken;
      pages++;
    } while (token);
    expect(names.filter((n) => n.startsWith("list-"))).toEqual(["list-a", "list-b", "list-c", "list-d", "list-e"]);
    expect(pages).toBeGreaterThanOrEqual(3);
    await expectInvalid(a.list(2, "garbage"), "page_token");
    await expectInvalid(a.list(5000), "page_size");

    await clock.set(made[0].nextFireTime!.getTime());
    for (const s of made) {
      const jobs = await jobsWhen(service, s.id, 1);
      expect(jobs.every((j) => j.scheduleId === s.id)).toBe(true);
      expect(jobs).toHaveLength(1);
    }
    for (const s of made) await a.remove(s.id);
  });
});

describe("schedules declared in SCHEDULES_FILE", () => {
  it("are upserted by name at start-up", async () => {
    const clock = new ManualClock("2025-01-06T00:30:00Z");
    const dataDir = tempDir();
    const file = join(dataDir, "schedules.json");
    const declare = (cron: string) =>
      writeFileSync(file, JSON.stringify([{
        name: "declared-check",
        cron,
        time_zone: "Europe/Berlin",
        overlap_policy: "OVERLAP_POLICY_BUFFER_ONE",
        catchup_window: "1h",
        job_template: { name: "declared", timer: { duration: "1s", timerName: "declared" } },
      }]));
    declare("0 * * * *");
    const first = await start(clock, { SCHEDULES_FILE: file }, dataDir);
    const [declared] = (await api(first.client).list(10)).schedules;
    expect(declared).toMatchObject({ source: "config", spec: { name: "declared-check", cron: "0 * * * *", timeZone: "Europe/Berlin", overlapPolicy: OverlapPolicy.OVERLAP_POLICY_BUFFER_ONE } });
    expect(declared.spec!.catchupWindow).toEqual({ seconds: 3600, nanos: 0 });
    expect(iso(declared.nextFireTime!.getTime())).toBe("2025-01-06T01:00:00.000Z");
    await api(first.client).create(spec("api-made"));
    await stop(first);

    // Same file: unchanged. Changed file: the same schedule, updated and rescheduled.
    const again = await start(clock, { SCHEDULES_FILE: file }, dataDir);
    expect((await api(again.client).get(declared.id)).updateTime).toEqual(declared.updateTime);
    await stop(again);
    declare("*/20 * * * *");
    await clock.advance(MINUTE);
    const second = await start(clock, { SCHEDULES_FILE: file }, dataDir);
    const { schedules } = await api(second.client).list(10);
    expect(schedules.map((s) => `${s.spec!.name}:${s.source}`)).toEqual(["api-made:api", "declared-check:config"]);
    const updated = schedules[1];
    expect(updated.id).toBe(declared.id);
    expect(updated.spec!.cron).toBe("*/20 * * * *");
    expect(iso(updated.nextFireTime!.getTime())).toBe("2025-01-06T00:40:00.000Z");
  });

  it("stop the start-up with a message naming SCHEDULES_FILE and the field when invalid", async () => {
    const clock = new ManualClock("2025-01-06T00:30:00Z");
    const dataDir = tempDir();
    dirs.add(dataDir);
    const file = join(dataDir, "schedules.json");
    writeFileSync(file, JSON.stringify([{ name: "broken", cron: "0 25 * * *", job_template: { timer: { duration: "1s", timerName: "x" } } }]));
    await expect(startService({ ...ENV, SCHEDULES_FILE: file }, dataDir, { clock })).rejects.toThrow(/^SCHEDULES_FILE: \[0\] \(broken\): spec\.cron: /);
  });
});
