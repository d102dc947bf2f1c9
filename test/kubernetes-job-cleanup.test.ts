// Finished Jobs are deleted once their ends are stored: the real service (RUNTIME=kubernetes,
// SQLite) against the fake Kubernetes API with its loaded defaults (latency, APF throttling, watch
// resets) and the shipped Role. When a delete of a Job arrives at the API server, the test reads
// the job's row from the service's SQLite file on the spot (a read-only connection of its own):
// the end must already be there.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { JobState, ScheduleJobRequest, type Job } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { builtinRegistry } from "../src/jobs/builtin.js";
import { KubeClient } from "../src/runtime/kubernetes/kube-client.js";
import { KubernetesRuntime } from "../src/runtime/kubernetes/kubernetes-runtime.js";
import { kubernetesJobName } from "../src/runtime/kubernetes/names.js";
import { makeJob } from "./support/job-fixtures.js";
import { outcome, startFakeKube, type FakeKube, type PodOutcome, type RequestRecord, type StoredJob, type StoredPod } from "./support/fake-kube/index.js";
import { baseEnv, call, cleanup, spawnService, startService, tempDir, waitFor, type TestService } from "./support/service.js";
import { kubeServiceEnv, podEnv } from "./support/kube-service.js";

const NS = "jobscheduler-jobs";
const FAST = { msPerSecond: 20, podScheduleMs: 5, podStartMs: 20, podRunMs: 30, sigtermExitMs: 5, podBackoffBaseMs: 5, imagePullBackOffMs: 30, gcDelayMs: 2, bookmarkIntervalMs: 60_000 };
const TERMINAL = [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];
const dirs: string[] = [];

afterAll(() => dirs.forEach(cleanup));


/** Pods behave like the timer collector: the result in the termination message, exit 0. */
function timerLike(pod: StoredPod): PodOutcome {
  const env = podEnv(pod);
  const ms = Number(env.TIMER_DURATION_MS);
  return outcome.succeed(JSON.stringify({ timerName: env.TIMER_NAME, durationMs: ms, elapsedMs: ms, completed: true }), { log: "timer: done\n" });
}

const byTimer = (name: string) => (pod: StoredPod) => podEnv(pod).TIMER_NAME === name;

async function startFake(): Promise<FakeKube> {
  const fake = await startFakeKube({ timing: FAST });
  fake.setDefaultOutcome(timerLike);
  return fake;
}

function kubeEnv(fake: FakeKube, extra: Record<string, string> = {}): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "jobscheduler-k8s-cleanup-"));
  dirs.push(dir);
  return { ...kubeServiceEnv(fake, dir), ...extra };
}

function timerRequest(timerName: string, ms = 100): ScheduleJobRequest {
  return ScheduleJobRequest.fromPartial({
    name: `cleanup ${timerName}`,
    spec: { $case: "timer", value: { duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, timerName, completionCallbackUrl: "" } },
  });
}

type Client = TestService["client"];

async function schedule(client: Client, timerName: string, ms?: number): Promise<Job> {
  return (await call(client, client.scheduleJob, timerRequest(timerName, ms))).job!;
}

async function waitForState(client: Client, jobId: string, states: JobState[], timeoutMs = 10_000): Promise<Job> {
  return waitFor(async () => {
    const job = await call(client, client.getJobStatus, { jobId });
    return states.includes(job.state) ? job : undefined;
  }, timeoutMs, 20);
}

const k8sName = (job: Job) => kubernetesJobName(job.id, job.attempt, job.type);

interface StoredRow {
  state: string;
  result: string | null;
  finished_at: number | null;
}

/** A delete of one of our Jobs as it arrived at the API server, with the job's row as stored at that moment. */
interface DeleteSeen {
  name: string;
  at: number;
  propagationPolicy?: string;
  row?: StoredRow;
  /** The request; its code is set once answered (a throttled or refused one is tried again). */
  record: RequestRecord;
}

/**
 * Records each delete of a Job the moment it arrives, with the row of the job it belongs to, read
 * synchronously from the service's SQLite file (jobIdOf maps the Job's name to the job).
 */
function watchDeletes(fake: FakeKube, dataDir: string, jobIdOf: (name: string) => string | undefined): { deletes: DeleteSeen[]; stop(): void } {
  const deletes: DeleteSeen[] = [];
  let db: Database.Database | undefined;
  const onArrival = (record: RequestRecord) => {
    if (record.verb !== "delete" || record.resource !== "jobs" || !record.name) return;
    const jobId = jobIdOf(record.name);
    if (!jobId) return;
    db ??= new Database(join(dataDir, "jobscheduler.db"), { readonly: true, fileMustExist: true });
    const row = db.prepare("SELECT state, result, finished_at FROM jobs WHERE id = ?").get(jobId) as StoredRow | undefined;
    deletes.push({ name: record.name, at: record.at, propagationPolicy: record.query.propagationPolicy, row, record });
  };
  fake.events.on("arrival", onArrival);
  return {
    deletes,
    stop() {
      fake.events.off("arrival", onArrival);
      db?.close();
    },
  };
}

function failedAt(job: StoredJob): number {
  const condition = job.status?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
  return Date.parse(condition!.lastTransitionTime!);
}

const gone = (fake: FakeKube, name: string) => !fake.get("Job", NS, name) && fake.podsOf(NS, name).length === 0;
/** The deletes of this Job the server carried out. */
const doneDeletes = (deletes: DeleteSeen[], name: string) => deletes.filter((d) => d.name === name && d.record.code === 200);

describe("finished Kubernetes Jobs are deleted once their ends are stored", () => {
  it("deletes a succeeded Job (Background) after its end is stored, and keeps a failed one for K8S_KEEP_FAILED_JOBS", async () => {
    const fake = await startFake();
    const service = await startService(kubeEnv(fake, { K8S_KEEP_FAILED_JOBS: "2s" }));
    const names = new Map<string, string>();
    const seen = watchDeletes(fake, service.dataDir, (name) => names.get(name));
    try {
      fake.scriptPods(byTimer("fails"), outcome.fail(3, { log: "timer: callback refused\n" }));
      const ok = await schedule(service.client, "succeeds");
      const bad = await schedule(service.client, "fails");
      names.set(k8sName(ok), ok.id).set(k8sName(bad), bad.id);

      // The succeeded one: gone with its pods, deleted once, after its end was stored.
      await fake.waitFor(() => doneDeletes(seen.deletes, k8sName(ok)).length > 0 && gone(fake, k8sName(ok)), 10_000, "the succeeded Job to be deleted");
      expect(doneDeletes(seen.deletes, k8sName(ok))).toHaveLength(1);
      // Every delete that arrived (a throttled one is sent again) found the end stored.
      for (const d of seen.deletes.filter((d) => d.name === k8sName(ok))) {
        expect(d.propagationPolicy).toBe("Background");
        expect(d.row?.state).toBe("SUCCEEDED");
        expect(d.row?.finished_at).not.toBeNull();
        expect(JSON.parse(d.row!.result!)).toMatchObject({ timerName: "succeeds", completed: true });
      }
      expect((await call(service.client, service.client.getJobStatus, { jobId: ok.id })).result).toMatchObject({ completed: true });

      // The failed one: stored FAILED with its output, its Job (and pod) still there for debugging...
      const failed = await waitForState(service.client, bad.id, TERMINAL);
      expect([JobState[failed.state], failed.reason, failed.outputTail]).toEqual(["JOB_STATE_FAILED", "EXIT_CODE", "timer: callback refused\n"]);
      const kept = fake.get<StoredJob>("Job", NS, k8sName(bad));
      expect(kept).toBeDefined();
      expect(fake.podsOf(NS, k8sName(bad))).toHaveLength(1);
      expect(seen.deletes.filter((d) => d.name === k8sName(bad))).toEqual([]);
      // ...until 2 s after its failure (the Failed condition's time), then deleted.
      await fake.waitFor(() => doneDeletes(seen.deletes, k8sName(bad)).length > 0 && gone(fake, k8sName(bad)), 10_000, "the failed Job to be deleted");
      expect(doneDeletes(seen.deletes, k8sName(bad))).toHaveLength(1);
      const badDeletes = seen.deletes.filter((d) => d.name === k8sName(bad));
      expect(badDeletes[0].at).toBeGreaterThanOrEqual(failedAt(kept!) + 2000);
      expect(badDeletes.map((d) => d.row?.state)).toEqual(badDeletes.map(() => "FAILED"));
      expect(fake.internalErrors).toEqual([]);
    } finally {
      seen.stop();
      await service.stop();
      cleanup(service.dataDir);
      await fake.close();
    }
  });

  it("after a restart: deletes the Jobs of runs that ended while it was down once recorded, and a kept failed one when its time is over", async () => {
    const fake = await startFake();
    const dataDir = tempDir();
    dirs.push(dataDir);
    const names = new Map<string, string>();
    const seen = watchDeletes(fake, dataDir, (name) => names.get(name));
    try {
      fake.scriptPods(byTimer("failed-before"), outcome.fail(2));
      fake.scriptPods(byTimer("ends-ok-while-down"), outcome.hang());
      fake.scriptPods(byTimer("fails-while-down"), outcome.hang());
      const first = await startService(kubeEnv(fake, { K8S_KEEP_FAILED_JOBS: "1h" }), dataDir);
      const before = await schedule(first.client, "failed-before");
      const okLater = await schedule(first.client, "ends-ok-while-down", 60_000);
      const badLater = await schedule(first.client, "fails-while-down", 60_000);
      for (const job of [before, okLater, badLater]) names.set(k8sName(job), job.id);
      await waitForState(first.client, before.id, TERMINAL);
      await waitForState(first.client, okLater.id, [JobState.JOB_STATE_RUNNING]);
      await waitForState(first.client, badLater.id, [JobState.JOB_STATE_RUNNING]);
      await first.stop();
      // Kept (1 h) when the service stopped; the other two still running.
      expect(fake.get("Job", NS, k8sName(before))).toBeDefined();

      for (const [job, end] of [[okLater, "ok"], [badLater, "fail"]] as const) {
        const [pod] = fake.podsOf(NS, k8sName(job));
        fake.completePod(NS, pod.metadata.name, end === "ok" ? timerLike(pod) : outcome.fail(4));
        await fake.waitForJobCondition(NS, k8sName(job), end === "ok" ? "Complete" : "Failed");
      }
      const failedTimes = new Map([before, badLater].map((job) => [k8sName(job), failedAt(fake.get<StoredJob>("Job", NS, k8sName(job))!)]));

      const second = await startService(kubeEnv(fake, { K8S_KEEP_FAILED_JOBS: "3s" }), dataDir);
      try {
        const okDone = await waitForState(second.client, okLater.id, TERMINAL);
        expect(JobState[okDone.state]).toBe("JOB_STATE_SUCCEEDED");
        const badDone = await waitForState(second.client, badLater.id, TERMINAL);
        expect([JobState[badDone.state], badDone.reason]).toEqual(["JOB_STATE_FAILED", "EXIT_CODE"]);
        const all = [before, okLater, badLater];
        await fake.waitFor(() => all.every((job) => doneDeletes(seen.deletes, k8sName(job)).length > 0 && gone(fake, k8sName(job))), 15_000, "every finished Job to be deleted");
        for (const job of all) {
          const name = k8sName(job);
          expect(doneDeletes(seen.deletes, name), name).toHaveLength(1);
          const deletes = seen.deletes.filter((d) => d.name === name);
          expect(deletes.map((d) => d.row?.state), name).toEqual(deletes.map(() => (job === okLater ? "SUCCEEDED" : "FAILED")));
          // A failed one is kept 3 s from its failure, whichever service was running then.
          if (failedTimes.has(name)) expect(deletes[0].at, name).toBeGreaterThanOrEqual(failedTimes.get(name)! + 3000);
        }
        // One Job per job: nothing was launched again.
        expect(fake.requests.filter((r) => r.verb === "create" && r.resource === "jobs" && r.code === 201)).toHaveLength(3);
      } finally {
        await second.stop();
      }
      expect(fake.internalErrors).toEqual([]);
    } finally {
      seen.stop();
      await fake.close();
    }
  });

  it("a crash (kill -9) between storing the end and deleting the Job leaves nothing behind after the next start", async () => {
    const fake = await startFake();
    const dataDir = tempDir();
    dirs.push(dataDir);
    const env = kubeEnv(fake, { K8S_KEEP_FAILED_JOBS: "0s" });
    // Every delete of a Job is refused (503), so the first service stores the ends but cannot delete.
    const refused = fake.faults.errorRate(100, { code: 503, match: { verb: "delete", resource: "jobs" } });
    try {
      fake.scriptPods(byTimer("crash-fails"), outcome.fail(5));
      const first = await spawnService(baseEnv(dataDir, env));
      let jobs: Job[] = [];
      try {
        jobs = [await schedule(first.client, "crash-ok"), await schedule(first.client, "crash-fails")];
        for (const job of jobs) await waitForState(first.client, job.id, TERMINAL);
        await fake.waitFor(
          () => jobs.every((job) => fake.requests.some((r) => r.verb === "delete" && r.name === k8sName(job) && r.code === 503)),
          10_000,
          "a refused delete of each Job",
        );
      } finally {
        first.client.close();
        first.process.kill("SIGKILL");
        await first.exited;
      }
      refused.remove();
      for (const job of jobs) expect(fake.get("Job", NS, k8sName(job)), "left behind by the crash").toBeDefined();

      const names = new Map(jobs.map((job) => [k8sName(job), job.id]));
      const seen = watchDeletes(fake, dataDir, (name) => names.get(name));
      const second = await startService(env, dataDir);
      try {
        await fake.waitFor(() => jobs.every((job) => doneDeletes(seen.deletes, k8sName(job)).length > 0 && gone(fake, k8sName(job))), 10_000, "the leftover Jobs to be deleted");
        for (const job of jobs) {
          expect(doneDeletes(seen.deletes, k8sName(job)).map((d) => [d.propagationPolicy, d.row?.state])).toEqual([["Background", job === jobs[0] ? "SUCCEEDED" : "FAILED"]]);
        }
        const states = await Promise.all(jobs.map((job) => call(second.client, second.client.getJobStatus, { jobId: job.id })));
        expect(states.map((s) => JobState[s.state])).toEqual(["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"]);
        expect(fake.requests.filter((r) => r.verb === "create" && r.resource === "jobs" && r.code === 201)).toHaveLength(2);
      } finally {
        seen.stop();
        await second.stop();
      }
      expect(fake.internalErrors).toEqual([]);
    } finally {
      refused.remove();
      await fake.close();
    }
  });
});

describe("deleting a finished Job through a loaded API server (direct runtime)", () => {
  it("waits out a 429's Retry-After, retries 500s, and takes a 404 (deleted meanwhile by someone else) as done", async () => {
    const fake = await startFake();
    const lines: Array<{ msg?: string; kubernetesJob?: string; level?: number }> = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const client = new KubeClient(fake.kubeConfig(), { qps: 1000, burst: 1000, maxRetries: 5, requestTimeoutMs: 5000, logger });
    const runtime = new KubernetesRuntime({
      client,
      builder: { namespace: NS, image: "ghcr.io/hackload/jobscheduler:test", serviceAccountName: "jobscheduler-runner", ttlSecondsAfterFinished: 86_400, terminationGracePeriodSeconds: 2, maxLimits: { cpu: "4", memory: "8Gi" }, scheduling: {} },
      imagePullFailureTimeoutMs: 400,
      outputTailBytes: 4096,
      keepFailedJobsMs: 0,
      logger,
    });
    const ended = new Set<string>();
    runtime.setListener({ running: async () => {}, finished: async (job) => void ended.add(job.id), progress: async () => {} });
    const deletesOf = (name: string) => fake.requests.filter((r) => r.verb === "delete" && r.resource === "jobs" && r.name === name);
    try {
      await runtime.recover([]);
      const registry = builtinRegistry();
      const launch = async (timerName: string) => {
        const job = makeJob({ type: "timer", params: { durationMs: 10, timerName }, state: "STARTING" });
        await runtime.launch(job, registry.require("timer").buildWorkload(job as never));
        return job;
      };

      // 429 with Retry-After: 1, then two 500s, then the delete goes through.
      const throttled = fake.faults.throttle(1, { count: 1, match: { verb: "delete", resource: "jobs" } });
      const errors = fake.faults.failNext(2, { code: 500, match: { verb: "delete", resource: "jobs" } });
      const first = await launch("delete-retried");
      const firstName = kubernetesJobName(first.id, 1, "timer");
      await fake.waitFor(() => !fake.get("Job", NS, firstName) && fake.podsOf(NS, firstName).length === 0, 15_000, "the retried delete to go through");
      throttled.remove();
      errors.remove();
      expect(ended.has(first.id)).toBe(true);
      const tries = deletesOf(firstName);
      expect(tries.map((r) => r.code)).toEqual([429, 500, 500, 200]);
      expect(tries[1].at - tries[0].at).toBeGreaterThanOrEqual(1000);

      // Someone else deletes the Job while our delete is on its way: 404, done, no retry, no warning.
      const second = await launch("deleted-meanwhile");
      const secondName = kubernetesJobName(second.id, 1, "timer");
      const deleteFirst = (record: RequestRecord) => {
        if (record.verb === "delete" && record.name === secondName) fake.delete("Job", NS, secondName, { propagationPolicy: "Background" });
      };
      fake.events.on("arrival", deleteFirst);
      try {
        await waitFor(async () => lines.some((l) => l.kubernetesJob === secondName && l.msg?.startsWith("finished Kubernetes Job deleted")), 10_000, 10);
      } finally {
        fake.events.off("arrival", deleteFirst);
      }
      expect(deletesOf(secondName).map((r) => r.code)).toEqual([404]);
      expect(lines.filter((l) => (l.level ?? 0) >= 40 && l.kubernetesJob === secondName)).toEqual([]);
      expect(fake.internalErrors).toEqual([]);
    } finally {
      await runtime.shutdown(100);
      await fake.close();
    }
  });
});
