import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { JobState, ListJobsRequest, ScheduleJobRequest, type Job } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { findProcessesWithMarker, runMarker } from "../src/runtime/local/orphans.js";
import { baseEnv, call, cleanup, collect, spawnService, tempDir, waitFor, type ChildService } from "./support/service.js";

const services: ChildService[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const s of services.splice(0)) {
    s.client.close();
    if (s.process.exitCode === null && s.process.signalCode === null) s.process.kill("SIGKILL");
    await s.exited;
  }
  for (const d of dirs.splice(0)) cleanup(d);
});

async function start(dataDir: string, extra: Record<string, string> = {}): Promise<ChildService> {
  const service = await spawnService(baseEnv(dataDir, { LOG_LEVEL: "info", ...extra }));
  services.push(service);
  return service;
}

function timer(ms: number, maxAttempts = 0, name = "restart"): ScheduleJobRequest {
  return ScheduleJobRequest.fromPartial({
    name,
    idempotencyKey: "",
    labels: {},
    retryPolicy: { maxAttempts },
    spec: { $case: "timer", value: { duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, timerName: name, completionCallbackUrl: "" } },
  });
}

async function stateOf(service: ChildService, jobId: string): Promise<Job> {
  return call(service.client, service.client.getJobStatus, { jobId });
}

async function waitForState(service: ChildService, jobId: string, state: JobState, timeoutMs = 20_000): Promise<Job> {
  return waitFor(async () => {
    const job = await stateOf(service, jobId);
    return job.state === state ? job : undefined;
  }, timeoutMs);
}

describe("restart recovery", () => {
  it("after a crash, adopts live runs, records runs that ended meanwhile with their real outcome, interrupts only dead ones, and still runs queued jobs", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const first = await start(dataDir, { MAX_RUNNING_JOBS: "3" });
    const adopted = (await call(first.client, first.client.scheduleJob, timer(15_000, 1, "adopted"))).job!;
    const finished = (await call(first.client, first.client.scheduleJob, timer(1_000, 2, "finished"))).job!;
    const killed = (await call(first.client, first.client.scheduleJob, timer(30_000, 2, "killed"))).job!;
    for (const job of [adopted, finished, killed]) await waitForState(first, job.id, JobState.JOB_STATE_RUNNING);
    const queued = (await call(first.client, first.client.scheduleJob, timer(200, 1, "queued"))).job!;
    expect(JobState[(await stateOf(first, queued.id)).state]).toBe("JOB_STATE_QUEUED");
    const adoptedPid = (await stateOf(first, adopted.id)).placement!.pid;

    first.process.kill("SIGKILL");
    await first.exited;
    // The runs outlive the service that started them: one ends meanwhile, one dies with no exit.
    expect(findProcessesWithMarker(runMarker(adopted.id, 1))).toEqual([adoptedPid]);
    for (const pid of findProcessesWithMarker(runMarker(killed.id, 1))) process.kill(-pid, "SIGKILL");
    await waitFor(async () => findProcessesWithMarker(runMarker(finished.id, 1)).length === 0 && findProcessesWithMarker(runMarker(killed.id, 1)).length === 0);

    const second = await start(dataDir, { MAX_RUNNING_JOBS: "3" });
    const done = await stateOf(second, finished.id);
    expect(JobState[done.state]).toBe("JOB_STATE_SUCCEEDED");
    expect(done.attempt).toBe(1);
    expect(done.result).toMatchObject({ timerName: "finished", completed: true });

    const interrupted = await waitFor(async () => {
      const j = await stateOf(second, killed.id);
      return j.attempt === 2 ? j : undefined;
    });
    expect(interrupted.attempt).toBe(2);

    // Still the same process, followed to its end and not started again.
    const stillRunning = await stateOf(second, adopted.id);
    expect(JobState[stillRunning.state]).toBe("JOB_STATE_RUNNING");
    expect(stillRunning.placement!.pid).toBe(adoptedPid);
    const adoptedDone = await waitForState(second, adopted.id, JobState.JOB_STATE_SUCCEEDED);
    expect(adoptedDone.attempt).toBe(1);
    expect(adoptedDone.result).toMatchObject({ timerName: "adopted", completed: true });
    const history = await collect(second.client.watchJob({ jobId: adopted.id, afterSequence: 0 }));
    expect(history.map((e) => `${JobState[e.state].replace("JOB_STATE_", "")}#${e.attempt}`)).toEqual(["QUEUED#1", "STARTING#1", "RUNNING#1", "SUCCEEDED#1"]);

    await waitForState(second, queued.id, JobState.JOB_STATE_SUCCEEDED);
    await call(second.client, second.client.cancelJob, { jobId: killed.id, reason: "done" });
    await waitForState(second, killed.id, JobState.JOB_STATE_CANCELLED);
    const killedHistory = await collect(second.client.watchJob({ jobId: killed.id, afterSequence: 3 }));
    expect(killedHistory[0]).toMatchObject({ state: JobState.JOB_STATE_QUEUED, reason: "INTERRUPTED", attempt: 2 });
    expect(killedHistory[0].message).toMatch(/^the service stopped while the job was running \(pid \d+ on .*\) and the run ended without recording an exit; retrying/);
    const listed = await call(second.client, second.client.listJobs, ListJobsRequest.fromPartial({ type: "", states: [JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_STARTING], labelSelector: "", pageSize: 10, pageToken: "" }));
    expect(listed.jobs).toEqual([]);
    await waitFor(async () => readdirSync(join(dataDir, "runs")).filter((name) => !name.startsWith(".")).length === 0);
  }, 90_000);

  it("on SIGTERM stops accepting, lets a short run finish, and exits cleanly", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const service = await start(dataDir, { SHUTDOWN_TIMEOUT: "10s" });
    const job = (await call(service.client, service.client.scheduleJob, timer(1_000))).job!;
    await waitForState(service, job.id, JobState.JOB_STATE_RUNNING);
    service.process.kill("SIGTERM");
    expect(await service.exited).toBe(0);
    expect(service.logs.join("\n")).toContain('"msg":"stopped"');

    const restarted = await start(dataDir);
    const finished = await stateOf(restarted, job.id);
    expect(JobState[finished.state]).toBe("JOB_STATE_SUCCEEDED");
  });

  it("on SIGTERM hands back a run that outlasts the shutdown timeout as interrupted", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const service = await start(dataDir, { SHUTDOWN_TIMEOUT: "500ms" });
    const job = (await call(service.client, service.client.scheduleJob, timer(30_000, 3))).job!;
    await waitForState(service, job.id, JobState.JOB_STATE_RUNNING);
    service.process.kill("SIGTERM");
    expect(await service.exited).toBe(0);

    const restarted = await start(dataDir, { SHUTDOWN_TIMEOUT: "500ms" });
    const requeued = await waitFor(async () => {
      const j = await stateOf(restarted, job.id);
      return j.attempt === 2 ? j : undefined;
    });
    expect(requeued.attempt).toBe(2);
    await call(restarted.client, restarted.client.cancelJob, { jobId: job.id, reason: "done" });
    const events = await collect(restarted.client.watchJob({ jobId: job.id, afterSequence: 3 }));
    expect(events[0]).toMatchObject({ state: JobState.JOB_STATE_QUEUED, reason: "INTERRUPTED", attempt: 2 });
    expect(events[0].message).toContain("the service shut down before the run finished");
    expect(events.at(-1)).toMatchObject({ state: JobState.JOB_STATE_CANCELLED });
  });

  it("keeps the dispatch limits an operator set across a restart, in answers and in admission", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const limits = { maxRunning: 1, maxRunningPerType: { timer: 1 }, maxRunningPerKey: 1, maxRunningPerKeyOverrides: { "key-a": 3 } };
    const first = await start(dataDir, { MAX_RUNNING_JOBS: "16" });
    await call(first.client, first.client.updateDispatchLimits, { limits });
    first.process.kill("SIGTERM");
    expect(await first.exited).toBe(0);

    // The configured default (16) is what a fresh store would get; this one kept the operator's.
    const restarted = await start(dataDir, { MAX_RUNNING_JOBS: "16" });
    expect(await call(restarted.client, restarted.client.getDispatchLimits, {})).toEqual(limits);
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push((await call(restarted.client, restarted.client.scheduleJob, timer(300, 0, `limited-${i}`))).job!);
    for (const job of jobs) await waitForState(restarted, job.id, JobState.JOB_STATE_SUCCEEDED);
    // One at a time: each started only after the previous one ended.
    const runs = [];
    for (const job of jobs) {
      const events = await collect(restarted.client.watchJob({ jobId: job.id, afterSequence: 0 }));
      runs.push({
        start: events.find((e) => e.state === JobState.JOB_STATE_STARTING)!.time!.getTime(),
        end: events.find((e) => e.state === JobState.JOB_STATE_SUCCEEDED)!.time!.getTime(),
      });
    }
    runs.sort((a, b) => a.start - b.start);
    for (let i = 1; i < runs.length; i++) expect(runs[i].start).toBeGreaterThanOrEqual(runs[i - 1].end);
  });

  it("refuses to start on a bad setting and names the variable", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    await expect(start(dataDir, { GRPC_PORT: "not-a-port", KILL_GRACE_PERIOD: "soon" })).rejects.toThrow(
      /exited \(78\)[\s\S]*GRPC_PORT: .*"not-a-port"[\s\S]*KILL_GRACE_PERIOD: must be a duration/,
    );
  });
});
