// The Kubernetes runtime end to end: the real service (RUNTIME=kubernetes) over gRPC against the
// fake Kubernetes API (test/support/fake-kube), which runs the shipped Role (k8s/rbac.yaml). Pods
// are scripted; by default they behave like the timer collector (termination message = result).
// One API second is 20 ms here, so deadlines and grace periods pass quickly.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import yaml from "js-yaml";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { JobState, ScheduleJobRequest, type Job, type JobEvent } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { builtinRegistry } from "../src/jobs/builtin.js";
import type { JobPlacement, JobRecord } from "../src/jobs/job.js";
import { Backoff } from "../src/runtime/kubernetes/backoff.js";
import { JobTracker } from "../src/runtime/kubernetes/job-tracker.js";
import { KubeClient } from "../src/runtime/kubernetes/kube-client.js";
import { TokenBucket } from "../src/runtime/kubernetes/rate-limiter.js";
import { KubernetesRuntime } from "../src/runtime/kubernetes/kubernetes-runtime.js";
import { createKubernetesRuntime } from "../src/runtime/kubernetes/index.js";
import { buildJob } from "../src/runtime/kubernetes/job-builder.js";
import { kubernetesJobName } from "../src/runtime/kubernetes/names.js";
import type { RunEnd, Workload } from "../src/runtime/runtime.js";
import { openStore } from "../src/store/open-store.js";
import {
  NODE_NAME,
  outcome,
  startFakeKube,
  type FakeKube,
  type PodOutcome,
  type RequestRecord,
  type StoredConfigMap,
  type StoredJob,
  type StoredPod,
} from "./support/fake-kube/index.js";
import { recordObjects, type ObjectLog } from "./support/fake-kube/object-log.js";
import { makeJob } from "./support/job-fixtures.js";
import { baseEnv, call, cleanup, collect, startService, tempDir, waitFor, type TestService } from "./support/service.js";
import { kubeServiceEnv, podEnv, TEST_JOB_IMAGE } from "./support/kube-service.js";

const NS = "jobscheduler-jobs";
const IMAGE = TEST_JOB_IMAGE;
const FAST = {
  msPerSecond: 20,
  podScheduleMs: 5,
  podStartMs: 20,
  podRunMs: 30,
  sigtermExitMs: 5,
  podBackoffBaseMs: 5,
  imagePullBackOffMs: 30,
  gcDelayMs: 2,
  bookmarkIntervalMs: 60_000,
};
const silent = pino({ level: "silent" });
const dirs: string[] = [];

afterAll(() => dirs.forEach(cleanup));

// ---- helpers ------------------------------------------------------------------------------


/** What the timer collector writes as its result. */
function timerResult(pod: StoredPod, extra: Record<string, unknown> = {}): string {
  const env = podEnv(pod);
  const ms = Number(env.TIMER_DURATION_MS);
  return JSON.stringify({ timerName: env.TIMER_NAME, durationMs: ms, elapsedMs: ms, completed: true, ...extra });
}

/** Pods behave like the timer collector: log two lines, write the result, exit 0. */
function timerLike(pod: StoredPod): PodOutcome {
  const name = podEnv(pod).TIMER_NAME;
  return outcome.succeed(timerResult(pod), { log: `timer ${name}: waiting\ntimer ${name}: done\n` });
}

const byTimer = (name: string) => (pod: StoredPod) => podEnv(pod).TIMER_NAME === name;

async function startFake(): Promise<FakeKube> {
  const fake = await startFakeKube({ timing: FAST });
  fake.setDefaultOutcome(timerLike);
  return fake;
}

/** The service's environment for a fake: explicit server + token file. */
function kubeEnv(fake: FakeKube, extra: Record<string, string> = {}): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "jobscheduler-k8s-"));
  dirs.push(dir);
  return { ...kubeServiceEnv(fake, dir), IMAGE_PULL_FAILURE_TIMEOUT: "400ms", MAX_RUNNING_JOBS: "64", ...extra };
}

/** The same through a kubeconfig file (insecure-skip-tls-verify: the fake speaks plain http). */
function kubeconfigEnv(fake: FakeKube): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "jobscheduler-kubeconfig-"));
  dirs.push(dir);
  const path = join(dir, "config");
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      `- name: fake\n  cluster:\n    server: ${fake.url}\n    insecure-skip-tls-verify: true`,
      "users:",
      `- name: scheduler\n  user:\n    token: ${fake.token}`,
      "contexts:",
      "- name: fake\n  context:\n    cluster: fake\n    user: scheduler",
      "current-context: fake",
    ].join("\n"),
  );
  return { KUBECONFIG: path, JOB_IMAGE: IMAGE, IMAGE_PULL_FAILURE_TIMEOUT: "400ms", MAX_RUNNING_JOBS: "64", DISPATCH_POLL_INTERVAL: "100ms" };
}

function timerRequest(timerName: string, options: { ms?: number; timeoutSeconds?: number; maxAttempts?: number } = {}): ScheduleJobRequest {
  const ms = options.ms ?? 100;
  return ScheduleJobRequest.fromPartial({
    name: `k8s ${timerName}`,
    ...(options.timeoutSeconds ? { timeout: { seconds: options.timeoutSeconds, nanos: 0 } } : {}),
    ...(options.maxAttempts ? { retryPolicy: { maxAttempts: options.maxAttempts } } : {}),
    spec: { $case: "timer", value: { duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, timerName, completionCallbackUrl: "" } },
  });
}

async function schedule(service: TestService, request: ScheduleJobRequest): Promise<Job> {
  return (await call(service.client, service.client.scheduleJob, request)).job!;
}

async function getJob(service: TestService, jobId: string): Promise<Job> {
  return call(service.client, service.client.getJobStatus, { jobId });
}

async function waitForState(service: TestService, jobId: string, states: JobState[], timeoutMs = 10_000): Promise<Job> {
  return waitFor(async () => {
    const job = await getJob(service, jobId);
    return states.includes(job.state) ? job : undefined;
  }, timeoutMs, 20);
}

const TERMINAL = [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];
const stateName = (state: JobState) => JobState[state].replace("JOB_STATE_", "");
const history = (events: JobEvent[]) => events.map((e) => `${stateName(e.state)}${e.reason ? `:${e.reason}` : ""}`);

function k8sName(job: Job, attempt = 1): string {
  return kubernetesJobName(job.id, attempt, job.type);
}

async function runningPod(fake: FakeKube, jobName: string): Promise<StoredPod> {
  return fake.waitFor(() => fake.podsOf(NS, jobName).find((p) => p.status?.phase === "Running"), 5000, `a running pod of ${jobName}`);
}

const jobCreates = (fake: FakeKube, from = 0) =>
  fake.requests.slice(from).filter((r) => r.verb === "create" && r.resource === "jobs" && (r.code === 201 || r.code === 409));

// ---- the service against the shipped Role -------------------------------------------------------

describe("the service with RUNTIME=kubernetes against the fake API (shipped Role)", () => {
  let fake: FakeKube;
  let service: TestService;
  /** Jobs, pods and ConfigMaps as last seen: a finished Job is deleted once its end is stored. */
  let objects: ObjectLog;

  beforeAll(async () => {
    fake = await startFake();
    objects = recordObjects(fake);
    service = await startService(kubeEnv(fake));
  });

  afterAll(async () => {
    await service?.stop();
    if (service) cleanup(service.dataDir);
    await fake?.close();
    expect(fake.internalErrors).toEqual([]);
  });

  it("runs a timer job as a Job with the expected spec, and records the result from the termination message without reading the log", async () => {
    const job = await schedule(service, timerRequest("spec-check", { ms: 1500, timeoutSeconds: 90 }));
    const events = await collect(service.client.watchJob({ jobId: job.id, afterSequence: 0 }));
    expect(history(events)).toEqual(["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"]);
    const done = events.at(-1)!.job!;
    expect(done.result).toEqual({ timerName: "spec-check", durationMs: 1500, elapsedMs: 1500, completed: true });
    // The result came whole in the termination message: the end costs no pods/log read (nor a pod list).
    const name = k8sName(job);
    const [collectorPod] = objects.podsOf<StoredPod>(NS, name);
    expect(fake.requests.filter((r) => r.subresource === "log" && r.name === collectorPod.metadata.name)).toEqual([]);
    expect(fake.requests.filter((r) => r.verb === "list" && r.query.labelSelector?.includes(name))).toEqual([]);
    expect(done.outputTail).toBe("");
    expect(done.placement).toMatchObject({ runtime: "kubernetes", location: `${NS}/${name}`, namespace: NS, kubernetesJobName: name, host: NODE_NAME });

    const kjob = objects.last<StoredJob>("Job", NS, name)!;
    expect(kjob.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "jobscheduler",
      "jobscheduler.hackload.io/job-id": job.id,
      "jobscheduler.hackload.io/type": "timer",
      "jobscheduler.hackload.io/attempt": "1",
    });
    expect(kjob.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 90, ttlSecondsAfterFinished: 86_400 });
    const pod = kjob.spec!.template.spec!;
    expect(pod).toMatchObject({ restartPolicy: "Never", serviceAccountName: "jobscheduler-runner", automountServiceAccountToken: false });
    expect(pod.containers[0]).toMatchObject({
      image: IMAGE,
      command: ["node", "dist/collectors/timer.js"],
      terminationMessagePolicy: "FallbackToLogsOnError",
      resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
      securityContext: { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
    });
    expect(podEnv(collectorPod)).toMatchObject({ TIMER_NAME: "spec-check", TIMER_DURATION_MS: "1500", JOB_ID: job.id });
  });

  it("a Job create the API server holds for seconds holds back no other admission", async () => {
    const held = fake.faults.delayNext(1, 8000, { verb: "create", resource: "jobs" });
    try {
      const slow = await schedule(service, timerRequest("held-create", { ms: 200 }));
      await waitForState(service, slow.id, [JobState.JOB_STATE_STARTING]);
      const other = await schedule(service, timerRequest("beside-held-create", { ms: 200 }));
      await waitForState(service, other.id, [JobState.JOB_STATE_SUCCEEDED], 7000);
      // The other job ran start to end while the first one's create was still unanswered.
      expect((await getJob(service, slow.id)).state).toBe(JobState.JOB_STATE_STARTING);
      expect(objects.last<StoredJob>("Job", NS, k8sName(slow))).toBeUndefined();
      await waitForState(service, slow.id, [JobState.JOB_STATE_SUCCEEDED], 20_000);
    } finally {
      held.remove();
    }
  });

  it("ends FAILED with EXIT_CODE and the container's exit code", async () => {
    fake.scriptPods(byTimer("exit-code"), outcome.fail(3, { log: "timer exit-code: waiting\ncallback failed: HTTP 503\n" }));
    const job = await schedule(service, timerRequest("exit-code"));
    const done = await waitForState(service, job.id, TERMINAL);
    expect(stateName(done.state)).toBe("FAILED");
    expect(done.reason).toBe("EXIT_CODE");
    expect(done.message).toBe("exited with code 3: callback failed: HTTP 503");
    expect(fake.get<StoredJob>("Job", NS, k8sName(job))!.status!.conditions!.find((c) => c.type === "Failed")!.reason).toBe("PodFailurePolicy");
  });

  it("ends FAILED with OOM_KILLED when the container is OOMKilled", async () => {
    fake.scriptPods(byTimer("oom"), outcome.oomKilled());
    const job = await schedule(service, timerRequest("oom"));
    const done = await waitForState(service, job.id, TERMINAL);
    expect([stateName(done.state), done.reason]).toEqual(["FAILED", "OOM_KILLED"]);
    expect(done.message).toContain("limit 128Mi");
  });

  it("ends FAILED with TIMED_OUT on DeadlineExceeded, keeping the partial result", async () => {
    fake.scriptPods(byTimer("deadline"), (pod) => outcome.hang({ sigtermMessage: timerResult(pod, { completed: false, elapsedMs: 7 }) }));
    const job = await schedule(service, timerRequest("deadline", { ms: 60_000, timeoutSeconds: 10 }));
    const done = await waitForState(service, job.id, TERMINAL);
    expect([stateName(done.state), done.reason]).toEqual(["FAILED", "TIMED_OUT"]);
    expect(done.message).toMatch(/exceeded its timeout of 10000 ms .*activeDeadlineSeconds 10/);
    expect(done.result).toMatchObject({ timerName: "deadline", completed: false });
    expect(fake.get<StoredJob>("Job", NS, k8sName(job))!.status!.conditions!.find((c) => c.type === "Failed")!.reason).toBe("DeadlineExceeded");
  });

  it("fails with IMAGE_PULL_FAILED naming the image after IMAGE_PULL_FAILURE_TIMEOUT, and deletes the Job", async () => {
    fake.scriptPods(byTimer("pull"), outcome.imagePullFailure());
    const job = await schedule(service, timerRequest("pull"));
    const waiting = await waitFor(async () => {
      const current = await getJob(service, job.id);
      return current.reason === "IMAGE_PULL_BACKOFF" ? current : undefined;
    }, 5000, 10);
    expect(stateName(waiting.state)).toBe("STARTING");
    const started = Date.now();
    const done = await waitForState(service, job.id, TERMINAL);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect([stateName(done.state), done.reason]).toEqual(["FAILED", "IMAGE_PULL_FAILED"]);
    expect(done.message).toContain(`could not pull image "${IMAGE}"`);
    await fake.waitFor(() => !fake.get("Job", NS, k8sName(job)) && fake.podsOf(NS, k8sName(job)).length === 0, 3000, "the Job to be deleted");
  });

  it("surfaces an unschedulable pod as a message while STARTING, then runs it once a node takes it", async () => {
    fake.scriptPods(byTimer("unschedulable"), outcome.unschedulable("0/3 nodes are available: 3 Insufficient cpu."));
    const job = await schedule(service, timerRequest("unschedulable"));
    const waiting = await waitFor(async () => {
      const current = await getJob(service, job.id);
      return current.reason === "UNSCHEDULABLE" ? current : undefined;
    }, 5000, 10);
    expect(stateName(waiting.state)).toBe("STARTING");
    expect(waiting.message).toBe("waiting for a node: 0/3 nodes are available: 3 Insufficient cpu.");
    const [pod] = fake.podsOf(NS, k8sName(job));
    fake.schedulePod(NS, pod.metadata.name, timerLike(pod));
    const events = await collect(service.client.watchJob({ jobId: job.id, afterSequence: 0 }));
    expect(history(events)).toEqual(["QUEUED", "STARTING", "STARTING:UNSCHEDULABLE", "RUNNING", "SUCCEEDED"]);
    expect(events.at(-1)!.job!.result).toMatchObject({ timerName: "unschedulable", completed: true });
  });

  it("falls back to the log's last JSON line when the termination message is missing or truncated", async () => {
    fake.scriptPods(byTimer("no-message"), (pod) => outcome.succeed(undefined, { log: `timer no-message: waiting\n${timerResult(pod)}\n` }));
    fake.scriptPods(byTimer("truncated"), (pod) =>
      outcome.succeed(timerResult(pod, { pad: "x".repeat(5000) }), { log: `starting\n${timerResult(pod, { pad: "full" })}\nbye\n` }),
    );
    const [missing, truncated] = await Promise.all([schedule(service, timerRequest("no-message")), schedule(service, timerRequest("truncated"))]);
    const a = await waitForState(service, missing.id, TERMINAL);
    expect(stateName(a.state)).toBe("SUCCEEDED");
    expect(a.result).toEqual({ timerName: "no-message", durationMs: 100, elapsedMs: 100, completed: true });
    const b = await waitForState(service, truncated.id, TERMINAL);
    expect(stateName(b.state)).toBe("SUCCEEDED");
    expect(b.result).toMatchObject({ timerName: "truncated", completed: true });
    const pod = objects.podsOf<StoredPod>(NS, k8sName(truncated))[0];
    expect(pod.status!.containerStatuses![0].state!.terminated!.message).toHaveLength(4096);
  });

  it("reads pods/log with the documented tailLines 500 and limitBytes 512 KiB (docs/kubernetes-runtime.md, Results)", async () => {
    fake.scriptPods(byTimer("log-query"), outcome.fail(3, { log: "timer log-query: failing\n" }));
    const from = fake.requests.length;
    const job = await schedule(service, timerRequest("log-query"));
    const done = await waitForState(service, job.id, TERMINAL);
    expect([stateName(done.state), done.reason, done.outputTail]).toEqual(["FAILED", "EXIT_CODE", "timer log-query: failing\n"]);
    const reads = fake.requests.slice(from).filter((r) => r.resource === "pods" && r.subresource === "log" && r.name?.startsWith(k8sName(job)));
    expect(reads.filter((r) => r.query.follow !== "true").length).toBeGreaterThan(0);
    for (const read of reads) {
      // A followed log keeps only the end of what streams (its own budget); a plain read asks the server to bound it.
      expect(read.query, `${read.path}?${new URLSearchParams(read.query)}`).toMatchObject(
        read.query.follow === "true" ? { tailLines: "500" } : { tailLines: "500", limitBytes: String(512 * 1024) },
      );
    }
  });

  it("cancels by deleting the Job with its pods (SIGTERM first): CANCELLED with the partial result and the output up to the end", async () => {
    fake.scriptPods(byTimer("cancel-me"), (pod) =>
      outcome.hang({
        log: "timer cancel-me: waiting\n",
        sigtermLog: "timer cancel-me: stopped by SIGTERM after 42 ms\n",
        sigtermMessage: timerResult(pod, { completed: false, elapsedMs: 42 }),
      }),
    );
    const job = await schedule(service, timerRequest("cancel-me", { ms: 60_000 }));
    await waitForState(service, job.id, [JobState.JOB_STATE_RUNNING]);
    const name = k8sName(job);
    await runningPod(fake, name);
    const from = fake.requests.length;
    const cancelled = await call(service.client, service.client.cancelJob, { jobId: job.id, reason: "not needed" });
    expect([stateName(cancelled.state), cancelled.reason]).toEqual(["CANCELLED", "CANCELLED_BY_USER"]);
    expect(cancelled.result).toMatchObject({ timerName: "cancel-me", completed: false, elapsedMs: 42 });
    // As a local run's: the output the collector wrote, what it said on SIGTERM included.
    expect(cancelled.outputTail).toBe("timer cancel-me: waiting\ntimer cancel-me: stopped by SIGTERM after 42 ms\n");
    expect(fake.get("Job", NS, name)).toBeUndefined();
    expect(fake.podsOf(NS, name)).toEqual([]);
    const deletes = fake.requests.slice(from).filter((r) => r.verb === "delete" && r.resource === "jobs");
    expect(deletes).toHaveLength(1);
    expect(deletes[0].query.propagationPolicy).toBe("Foreground");
  });

  it("reaches the right end for every job through dropped watches, 410 Gone, 10% 500s and 429 Retry-After", async () => {
    const expected: Record<string, { state: string; reason: string }> = {};
    const requests: ScheduleJobRequest[] = [];
    for (let i = 0; i < 12; i++) {
      const name = `chaos-${i}`;
      if (i % 3 === 0) {
        fake.scriptPods(byTimer(name), outcome.fail(4));
        expected[name] = { state: "FAILED", reason: "EXIT_CODE" };
      } else if (i % 5 === 0) {
        fake.scriptPods(byTimer(name), outcome.oomKilled());
        expected[name] = { state: "FAILED", reason: "OOM_KILLED" };
      } else {
        fake.scriptPods(byTimer(name), (pod) => outcome.succeed(timerResult(pod), { runMs: 40 + i * 25 }));
        expected[name] = { state: "SUCCEEDED", reason: "" };
      }
      requests.push(timerRequest(name));
    }
    const from = fake.requests.length;
    const errors = fake.faults.errorRate(10, { code: 500 });
    // And certainly a few, whatever the dice say.
    const certain = fake.faults.failNext(3, { code: 500, match: { verb: "get", resource: "pods/log" } });
    const throttle = fake.faults.throttle(1, { count: 2, match: { verb: "create", resource: "jobs" } });
    const scheduled: Job[] = [];
    try {
      const jobs = await Promise.all(requests.map((r) => schedule(service, r)));
      scheduled.push(...jobs);
      await new Promise((r) => setTimeout(r, 60));
      fake.dropWatches();
      await new Promise((r) => setTimeout(r, 120));
      fake.faults.expireNextWatch(2);
      fake.dropWatches({ graceful: true });
      await new Promise((r) => setTimeout(r, 120));
      fake.compactHistory();
      fake.dropWatches({ graceful: true });
      const done = await Promise.all(jobs.map((job) => waitForState(service, job.id, TERMINAL, 20_000)));
      for (const job of done) {
        const timerName = (job.params as { timerName: string }).timerName;
        expect({ name: timerName, state: stateName(job.state), reason: job.reason }).toEqual({ name: timerName, ...expected[timerName] });
        if (job.state === JobState.JOB_STATE_SUCCEEDED) expect(job.result).toMatchObject({ timerName, completed: true });
      }
    } finally {
      errors.remove();
      certain.remove();
      throttle.remove();
    }
    const seen = fake.requests.slice(from);
    expect(seen.filter((r) => r.code === 500).length).toBeGreaterThanOrEqual(3);
    expect(seen.filter((r) => r.code === 429)).toHaveLength(2);
    // A cut or closed watch resumes from its resourceVersion; 410 Gone (a compacted history) relists.
    expect(seen.filter((r) => r.verb === "list" && r.resource === "jobs").length).toBeGreaterThanOrEqual(1);
    // One Job per job, despite retried creates (and deleted once its end was stored).
    expect(scheduled.map((job) => [objects.created("Job", NS, k8sName(job)), objects.created("Job", NS, k8sName(job, 2))])).toEqual(scheduled.map(() => [1, 0]));
  });

  it("records an end that happened while its watches were away longer than the watch history (410 Expired, relist)", async () => {
    fake.scriptPods(byTimer("while-away"), outcome.hang());
    const job = await schedule(service, timerRequest("while-away", { ms: 60_000 }));
    await waitForState(service, job.id, [JobState.JOB_STATE_RUNNING]);
    const name = k8sName(job);
    const pod = await runningPod(fake, name);
    const historyMs = fake.timing.watchHistorySeconds * fake.timing.msPerSecond;
    const from = fake.requests.length;
    // The watches come back only once the history of what happens meanwhile has aged out.
    const slowWatches = fake.faults.delay(historyMs + 300, { verb: "watch" });
    try {
      fake.dropWatches();
      fake.completePod(NS, pod.metadata.name, outcome.succeed(timerResult(pod)));
      const done = await waitForState(service, job.id, TERMINAL, 20_000);
      expect([stateName(done.state), done.result]).toEqual(["SUCCEEDED", expect.objectContaining({ timerName: "while-away", completed: true })]);
    } finally {
      slowWatches.remove();
    }
    // Each resumed watch was too old, so both caches were listed again: that is how the end was seen.
    const seen = fake.requests.slice(from);
    expect(seen.filter((r) => r.verb === "list" && r.resource === "jobs").length).toBeGreaterThanOrEqual(1);
    expect(seen.filter((r) => r.verb === "list" && r.resource === "pods").length).toBeGreaterThanOrEqual(1);
  });

  it("puts a workload's files in a ConfigMap owned by the Job (direct runtime)", async () => {
    const { runtime, ends } = directRuntime(fake);
    try {
      await runtime.recover([]);
      const job = makeJob({ type: "timer", params: { durationMs: 10, timerName: "files" }, state: "STARTING" });
      const workload: Workload = { collector: "timer", env: { TIMER_DURATION_MS: "10", TIMER_NAME: "files" }, files: { "script.js": "export default 1" } };
      await runtime.launch(job, workload);
      const end = await waitFor(async () => ends.get(job.id), 5000, 10);
      expect(end).toMatchObject({ kind: "exited", exitCode: 0 });
      const name = kubernetesJobName(job.id, 1, "timer");
      const cm = objects.last<StoredConfigMap>("ConfigMap", NS, `${name}-files`)!;
      expect(cm.data).toEqual({ "script.js": "export default 1" });
      expect(cm.metadata.ownerReferences).toEqual([{ apiVersion: "batch/v1", kind: "Job", name, uid: objects.last<StoredJob>("Job", NS, name)!.metadata.uid }]);
      expect(podEnv(objects.podsOf<StoredPod>(NS, name)[0]).JOB_FILES_DIR).toBe("/etc/jobscheduler/files");
      // Once the end is reported, the Job goes, and its pods and ConfigMap with it.
      await fake.waitFor(() => !fake.get("Job", NS, name) && fake.podsOf(NS, name).length === 0 && !fake.get("ConfigMap", NS, `${name}-files`), 5000, "the Job and its dependents to be deleted");
    } finally {
      await runtime.shutdown(100);
    }
  });

  it("treats a create answered 409 AlreadyExists as already launched, never a second run (direct runtime)", async () => {
    const { runtime, ends, running } = directRuntime(fake);
    try {
      await runtime.recover([]);
      const job = makeJob({ type: "timer", params: { durationMs: 10, timerName: "twice" }, state: "STARTING" });
      const workload = builtinRegistry().require("timer").buildWorkload(job as never);
      fake.seed(buildJob({ job, workload }, directSettings()) as never);
      await runtime.launch(job, workload);
      expect(await waitFor(async () => ends.get(job.id), 5000, 10)).toMatchObject({ kind: "exited", exitCode: 0 });
      expect(running.get(job.id)).toBe(1);
      expect(objects.created("Job", NS, kubernetesJobName(job.id, 1, "timer"))).toBe(1);
      expect(fake.requests.filter((r) => r.verb === "create" && r.resource === "jobs" && r.code === 409).length).toBeGreaterThanOrEqual(1);
    } finally {
      await runtime.shutdown(100);
    }
  });

  // Runs last: every scenario above, together, used every grant of the shipped Role.
  it("used every grant of the shipped Role (the Role is minimal)", () => {
    // Leases: used by the services started here, and each proven needed by test/leader-election.test.ts.
    expect(fake.rbac.unusedGrants().filter((g) => g.resource !== "leases").map((g) => `${g.verb} ${g.resource}`)).toEqual([]);
    expect(fake.requests.filter((r) => r.code === 403)).toEqual([]);
  });
});

// ---- the output of runs stopped by their deadline --------------------------------------------

describe("a run stopped by its deadline (one API second = one second)", () => {
  it("ends TIMED_OUT with its partial result and its output up to the end, what it wrote on SIGTERM included", async () => {
    // Real seconds, so that the runtime can tell when the deadline comes (it follows the log first).
    const fake = await startFakeKube({ timing: { ...FAST, msPerSecond: 1000 } });
    fake.setDefaultOutcome(timerLike);
    const service = await startService(kubeEnv(fake));
    try {
      fake.scriptPods(byTimer("deadline-tail"), (pod) =>
        outcome.hang({
          log: "timer deadline-tail: waiting\n",
          sigtermLog: "timer deadline-tail: stopped by SIGTERM after 1000 ms\n",
          sigtermMessage: timerResult(pod, { completed: false, elapsedMs: 1000 }),
        }),
      );
      const job = await schedule(service, timerRequest("deadline-tail", { ms: 60_000, timeoutSeconds: 1 }));
      const done = await waitForState(service, job.id, TERMINAL);
      expect([stateName(done.state), done.reason]).toEqual(["FAILED", "TIMED_OUT"]);
      expect(done.result).toMatchObject({ timerName: "deadline-tail", completed: false, elapsedMs: 1000 });
      expect(done.outputTail).toBe("timer deadline-tail: waiting\ntimer deadline-tail: stopped by SIGTERM after 1000 ms\n");
      expect(fake.podsOf(NS, k8sName(job))).toEqual([]);
    } finally {
      await service.stop();
      cleanup(service.dataDir);
      await fake.close();
    }
    expect(fake.internalErrors).toEqual([]);
  });
});

// ---- the tracker behind a proxy that resets connections -----------------------------------------

describe("watches behind a proxy that resets every connection", () => {
  it("resume after each reset without relisting, and the reconnect back-off never climbs", async () => {
    const fake = await startFakeKube({ timing: FAST, watchResetMs: 60 });
    const client = new KubeClient(fake.kubeConfig(), { qps: 1000, burst: 1000, maxRetries: 2, requestTimeoutMs: 5000, logger: silent });
    const seen: string[] = [];
    // A watch open 30 ms counts as healthy here (1 s in the service), so the test need not wait for seconds of resets.
    const tracker = new JobTracker(
      client,
      { namespace: NS, labelSelector: "app.kubernetes.io/managed-by=jobscheduler", logger: silent, watchBackoff: { baseMs: 100, capMs: 10_000, resetAfterMs: 60_000, healthyWatchMs: 30 } },
      (type, job) => seen.push(`${type} ${job.metadata?.name}`),
      () => {},
    );
    try {
      await tracker.start();
      const job = makeJob({ type: "timer", params: { durationMs: 10, timerName: "behind-a-proxy" } });
      fake.scriptPods(byTimer("behind-a-proxy"), outcome.hang());
      const name = kubernetesJobName(job.id, 1, "timer");
      // 30 resets of each watch; with a back-off that only counted up, the pauses alone would add up to minutes.
      await fake.waitFor(() => fake.watchResets >= 60, 15_000, "60 watch resets");
      fake.seed(buildJob({ job, workload: builtinRegistry().require("timer").buildWorkload(job as never) }, directSettings()) as never);
      await fake.waitFor(() => tracker.jobs.items.has(name) && tracker.pods.items.size > 0, 5000, "the tracker to see the Job and its pod");
      expect([tracker.jobs.failures, tracker.pods.failures]).toEqual([0, 0]);
      expect([tracker.jobs.relists, tracker.pods.relists]).toEqual([1, 1]);
      expect(fake.requests.filter((r) => r.verb === "list").length).toBe(2);
      expect(seen).toContain(`ADDED ${name}`);
      // Every watch after the first resumed where the previous one stopped.
      const watches = fake.requests.filter((r) => r.verb === "watch" && r.resource === "jobs");
      expect(watches.length).toBeGreaterThan(30);
      expect(watches.every((r) => Number(r.query.resourceVersion) > 0)).toBe(true);
    } finally {
      await tracker.stop();
      await fake.close();
    }
    expect(fake.internalErrors).toEqual([]);
  });
});

describe("watches answered 410 Gone on the request itself", () => {
  it("relist at once, as for a 410 in an ERROR event", async () => {
    const fake = await startFakeKube({ timing: FAST, watchResetMs: 0 });
    const client = new KubeClient(fake.kubeConfig(), { qps: 1000, burst: 1000, maxRetries: 2, requestTimeoutMs: 5000, logger: silent });
    const tracker = new JobTracker(client, { namespace: NS, labelSelector: "app.kubernetes.io/managed-by=jobscheduler", logger: silent }, () => {}, () => {});
    try {
      // Each cache's first watch (from its list's resourceVersion) is answered 410.
      fake.faults.expireNextWatch(2, "response");
      await tracker.start();
      await fake.waitFor(() => tracker.jobs.relists === 2 && tracker.pods.relists === 2 && fake.openWatches === 2, 5000, "both caches relisted and watching");
      expect(fake.requests.filter((r) => r.verb === "watch" && r.code === 410)).toHaveLength(2);
      // A 410 is no failure: the reconnect back-off did not count it.
      expect([tracker.jobs.failures, tracker.pods.failures]).toEqual([0, 0]);
    } finally {
      await tracker.stop();
      await fake.close();
    }
    expect(fake.internalErrors).toEqual([]);
  });
});

describe("the reconnect back-off and the client's queue", () => {
  it("doubles the pause per failure up to the cap, and starts over after a healthy watch or a quiet period", () => {
    let now = 0;
    const backoff = new Backoff({ baseMs: 100, capMs: 1000, resetAfterMs: 60_000, now: () => now, random: () => 1 });
    expect([1, 2, 3, 4, 5, 6].map(() => backoff.failure())).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoff.failures).toBe(6);
    backoff.reset();
    expect(backoff.failure()).toBe(100);
    now += 59_999;
    expect(backoff.failure()).toBe(200);
    now += 60_000;
    expect(backoff.failure()).toBe(100);
    expect(backoff.failures).toBe(1);
    // Full jitter keeps each pause between half and all of its ceiling.
    const jittered = new Backoff({ baseMs: 100, capMs: 1000, resetAfterMs: 60_000, now: () => now, random: () => 0 });
    expect([jittered.failure(), jittered.failure()]).toEqual([50, 100]);
  });

  it("hands tokens to launches before log reads, and to a log read that waited too long before either", async () => {
    vi.useFakeTimers();
    try {
      const bucket = new TokenBucket(50, 1, () => Date.now(), 100);
      const order: string[] = [];
      const take = (id: string, priority: "high" | "low") => void bucket.take(priority).then(() => order.push(id));
      take("first", "high");
      take("log-1", "low");
      take("create-1", "high");
      take("create-2", "high");
      await vi.advanceTimersByTimeAsync(50);
      expect(order).toEqual(["first", "create-1", "create-2"]);
      // Launches keep coming: they go first until the log read has waited 100 ms.
      for (let i = 3; i < 8; i++) take(`create-${i}`, "high");
      await vi.advanceTimersByTimeAsync(40);
      expect(order.slice(3)).toEqual(["create-3", "create-4"]);
      await vi.advanceTimersByTimeAsync(20);
      expect(order.slice(5)).toEqual(["log-1"]);
      await vi.advanceTimersByTimeAsync(100);
      expect(order.slice(6)).toEqual(["create-5", "create-6", "create-7"]);
      expect(bucket.waiting).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});

// ---- restarts ---------------------------------------------------------------------------------

describe("restarts: no duplicates, nothing lost", () => {
  it("logs the adopted count the lifecycle counts, also when an adopted run ends during the recovery", async () => {
    const fake = await startFake();
    const env = kubeEnv(fake);
    try {
      fake.scriptPods(byTimer("ends-meanwhile"), outcome.hang());
      const first = await startService(env);
      const adopted = await schedule(first, timerRequest("ends-meanwhile", { ms: 60_000 }));
      await waitForState(first, adopted.id, [JobState.JOB_STATE_RUNNING]);
      const pod = await runningPod(fake, k8sName(adopted));
      await first.stop();
      // A STARTING row without a Job (stopped before the create): the recovery creates it.
      const store = await openStore(loadConfig(baseEnv(first.dataDir, env)));
      const now = Date.now();
      const starting = makeJob({ name: "starting", params: { durationMs: 100, timerName: "recover-create" }, createdAt: now, runAt: now });
      await store.createJob(starting);
      await store.transition(starting.id, { from: ["QUEUED"], to: "STARTING", at: now });
      await store.close();

      // That create is slow; the adopted Job finishes while it is in flight.
      const slowCreate = fake.faults.delay(1000, { verb: "create", resource: "jobs" });
      const from = fake.requests.length;
      const lines: Array<{ msg?: string; adopted?: number }> = [];
      const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
      const starting$ = startApp(loadConfig(baseEnv(first.dataDir, env)), logger);
      await fake.waitFor(() => fake.requests.slice(from).some((r) => r.verb === "create" && r.resource === "jobs"), 5000, "the recovery's create");
      fake.completePod(NS, pod.metadata.name, outcome.succeed(timerResult(pod)));
      const app = await starting$;
      slowCreate.remove();
      try {
        const runtimeLine = lines.find((l) => l.msg === "reconciled the store's in-flight jobs with Kubernetes");
        const lifecycleLine = lines.find((l) => l.msg === "recovered jobs that were in flight when the service last stopped");
        expect(lifecycleLine?.adopted).toBe(2);
        expect(runtimeLine?.adopted).toBe(lifecycleLine?.adopted);
        // The adopted run did end meanwhile (before the log line), as the store shows.
        const endedAt = lines.findIndex((l) => l.msg === "Kubernetes Job ended");
        expect(endedAt).toBeGreaterThanOrEqual(0);
        expect(endedAt).toBeLessThan(lines.indexOf(runtimeLine!));
      } finally {
        await app.stop();
        cleanup(first.dataDir);
      }
      expect(fake.internalErrors).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it("re-adopts a Job that was running when the service stopped; it finishes once, with no second Job", async () => {
    const fake = await startFake();
    const env = kubeEnv(fake);
    try {
      fake.scriptPods(byTimer("adopt"), outcome.hang());
      const first = await startService(env);
      const job = await schedule(first, timerRequest("adopt", { ms: 60_000 }));
      await waitForState(first, job.id, [JobState.JOB_STATE_RUNNING]);
      const pod = await runningPod(fake, k8sName(job));
      await first.stop();
      expect(fake.get("Job", NS, k8sName(job))).toBeDefined();

      const second = await startService(kubeconfigEnv(fake), first.dataDir);
      try {
        expect(stateName((await getJob(second, job.id)).state)).toBe("RUNNING");
        fake.completePod(NS, pod.metadata.name, outcome.succeed(timerResult(pod)));
        const done = await waitForState(second, job.id, TERMINAL);
        expect(stateName(done.state)).toBe("SUCCEEDED");
        expect(done.result).toMatchObject({ timerName: "adopt", completed: true });
        const events = await collect(second.client.watchJob({ jobId: job.id, afterSequence: 0 }));
        expect(history(events)).toEqual(["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"]);
        expect(jobCreates(fake)).toHaveLength(1);
      } finally {
        await second.stop();
        cleanup(first.dataDir);
      }
      expect(fake.internalErrors).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it("records a Job that finished (or failed) while the service was down", async () => {
    const fake = await startFake();
    const env = kubeEnv(fake);
    try {
      fake.scriptPods(byTimer("down-ok"), outcome.hang());
      fake.scriptPods(byTimer("down-fail"), outcome.hang());
      const first = await startService(env);
      const ok = await schedule(first, timerRequest("down-ok", { ms: 60_000 }));
      const bad = await schedule(first, timerRequest("down-fail", { ms: 60_000 }));
      await waitForState(first, ok.id, [JobState.JOB_STATE_RUNNING]);
      await waitForState(first, bad.id, [JobState.JOB_STATE_RUNNING]);
      const okPod = await runningPod(fake, k8sName(ok));
      const badPod = await runningPod(fake, k8sName(bad));
      await first.stop();

      fake.completePod(NS, okPod.metadata.name, outcome.succeed(timerResult(okPod)));
      fake.completePod(NS, badPod.metadata.name, outcome.fail(2, { log: "callback refused\n" }));
      await fake.waitForJobCondition(NS, k8sName(ok), "Complete");
      await fake.waitForJobCondition(NS, k8sName(bad), "Failed");

      const second = await startService(env, first.dataDir);
      try {
        const okDone = await waitForState(second, ok.id, TERMINAL);
        expect(stateName(okDone.state)).toBe("SUCCEEDED");
        expect(okDone.result).toMatchObject({ timerName: "down-ok", completed: true });
        const badDone = await waitForState(second, bad.id, TERMINAL);
        expect([stateName(badDone.state), badDone.reason, badDone.message]).toEqual(["FAILED", "EXIT_CODE", "exited with code 2: callback refused"]);
        expect(jobCreates(fake)).toHaveLength(2);
      } finally {
        await second.stop();
        cleanup(first.dataDir);
      }
      expect(fake.internalErrors).toEqual([]);
    } finally {
      await fake.close();
    }
  });

  it("creates the Job of a STARTING row that has none, ends a RUNNING row whose Job is gone, and deletes orphans", async () => {
    const fake = await startFake();
    const dataDir = tempDir();
    try {
      const env = kubeEnv(fake);
      const store = await openStore(loadConfig(baseEnv(dataDir, env)));
      const now = Date.now();
      const starting = makeJob({ name: "starting", params: { durationMs: 100, timerName: "recover-start" }, createdAt: now, runAt: now });
      const running = makeJob({ name: "running", params: { durationMs: 100, timerName: "recover-gone" }, createdAt: now, runAt: now });
      for (const job of [starting, running]) {
        await store.createJob(job);
        await store.transition(job.id, { from: ["QUEUED"], to: "STARTING", at: now });
      }
      const placement: JobPlacement = { runtime: "kubernetes", location: `${NS}/x`, namespace: NS, kubernetesJobName: kubernetesJobName(running.id, 1, "timer") };
      await store.transition(running.id, { from: ["STARTING"], to: "RUNNING", patch: { placement, startedAt: now }, at: now });
      await store.close();
      // A Job of ours that no job in the store accounts for.
      const orphanJob = makeJob({ params: { durationMs: 100, timerName: "orphan" } });
      fake.scriptPods(byTimer("orphan"), outcome.hang());
      fake.seed(buildJob({ job: orphanJob, workload: builtinRegistry().require("timer").buildWorkload(orphanJob as never) }, directSettings()) as never);
      const orphanName = kubernetesJobName(orphanJob.id, 1, "timer");
      await runningPod(fake, orphanName);

      const service = await startService(env, dataDir);
      try {
        const startedDone = await waitForState(service, starting.id, TERMINAL);
        expect(stateName(startedDone.state)).toBe("SUCCEEDED");
        expect(startedDone.result).toMatchObject({ timerName: "recover-start" });
        expect(jobCreates(fake)).toHaveLength(1);
        const lost = await getJob(service, running.id);
        expect([stateName(lost.state), lost.reason]).toEqual(["FAILED", "INTERRUPTED"]);
        expect(lost.message).toContain(`its Kubernetes Job ${NS}/${kubernetesJobName(running.id, 1, "timer")} no longer exists`);
        await fake.waitFor(() => !fake.get("Job", NS, orphanName), 3000, "the orphaned Job to be deleted");
      } finally {
        await service.stop();
      }
      expect(fake.internalErrors).toEqual([]);
    } finally {
      cleanup(dataDir);
      await fake.close();
    }
  });
});

// ---- the shipped ConfigMap ----------------------------------------------------------------------

describe("k8s/configmap.yaml", () => {
  it("selects this runtime, which its values configure, and says so", async () => {
    const text = readFileSync(new URL("../k8s/configmap.yaml", import.meta.url), "utf8");
    const data = (yaml.load(text) as { data: Record<string, string> }).data;
    expect(data.RUNTIME).toBe("kubernetes");
    // No comment may still call the runtime unavailable.
    expect(text).not.toMatch(/not merged|exits at start-up/i);
    // Its values, with the fake standing in for the in-cluster credentials, make a working runtime.
    const fake = await startFake();
    try {
      const env = { ...data, ...kubeEnv(fake), K8S_QPS: data.K8S_QPS, K8S_BURST: data.K8S_BURST, IMAGE_PULL_FAILURE_TIMEOUT: data.IMAGE_PULL_FAILURE_TIMEOUT };
      const dataDir = tempDir();
      dirs.push(dataDir);
      const config = loadConfig(baseEnv(dataDir, env));
      expect([config.RUNTIME, config.JOBS_NAMESPACE, config.K8S_QPS, config.K8S_BURST]).toEqual(["kubernetes", NS, 50, 100]);
      const runtime = createKubernetesRuntime(config, silent);
      expect(await runtime.recover([])).toEqual(new Map());
      await runtime.shutdown(10);
    } finally {
      await fake.close();
    }
  });
});

// ---- RBAC: each grant is needed ---------------------------------------------------------------

function directSettings() {
  return {
    namespace: NS,
    image: IMAGE,
    serviceAccountName: "jobscheduler-runner",
    ttlSecondsAfterFinished: 86_400,
    terminationGracePeriodSeconds: 2,
    maxLimits: { cpu: "4", memory: "8Gi" },
    scheduling: {},
  };
}

/** A KubernetesRuntime on the fake, with a listener that records what it is told. */
function directRuntime(fake: FakeKube, maxRetries = 2) {
  const client = new KubeClient(fake.kubeConfig(), { qps: 1000, burst: 1000, maxRetries, requestTimeoutMs: 5000, logger: silent });
  const runtime = new KubernetesRuntime({
    client,
    builder: directSettings(),
    imagePullFailureTimeoutMs: 400,
    outputTailBytes: 4096,
    logger: silent,
  });
  const ends = new Map<string, RunEnd>();
  const running = new Map<string, number>();
  runtime.setListener({
    running: async (job: JobRecord) => void running.set(job.id, (running.get(job.id) ?? 0) + 1),
    finished: async (job: JobRecord, end: RunEnd) => void ends.set(job.id, end),
    progress: async () => {},
  });
  return { runtime, ends, running };
}

const resourceOf = (r: RequestRecord) => (r.subresource ? `${r.resource}/${r.subresource}` : r.resource);

describe("RBAC: the service needs every grant of the shipped Role", () => {
  it("fails somewhere the service needs it when any one grant is removed", async () => {
    const fake = await startFake();
    try {
      const shipped = fake.rbac.rules();
      // The lease grants serve leader election, not the runtime: test/leader-election.test.ts proves them.
      const grants = fake.rbac.grants().filter((g) => g.resource !== "leases");
      expect(grants.map((g) => `${g.verb} ${g.resource}`).sort()).toEqual([
        "create configmaps", "create jobs", "delete jobs", "get pods/log", "list jobs", "list pods", "watch jobs", "watch pods",
      ]);
      for (const grant of grants) {
        const what = `${grant.verb} ${grant.resource}`;
        fake.setRole(shipped.map((rule) => (rule.resources?.includes(grant.resource) ? { ...rule, verbs: rule.verbs.filter((v) => v !== grant.verb) } : rule)));
        const from = fake.requests.length;
        const { runtime, ends } = directRuntime(fake, 0);
        const failures: Record<string, unknown> = {};
        const ok = makeJob({ type: "timer", params: { durationMs: 10, timerName: `rbac-ok-${grant.verb}` }, state: "STARTING", timeoutMs: 3_600_000 });
        const hang = makeJob({ type: "timer", params: { durationMs: 10, timerName: `rbac-hang-${grant.verb}` }, state: "STARTING", timeoutMs: 3_600_000 });
        fake.scriptPods(byTimer(`rbac-hang-${grant.verb}`), outcome.hang());
        // No termination message: its result has to be read from its log.
        fake.scriptPods(byTimer(`rbac-ok-${grant.verb}`), (pod) => outcome.succeed(undefined, { log: `${timerResult(pod)}\n` }));
        try {
          await runtime.recover([]).catch((error: unknown) => (failures.start = error));
          // A runtime that cannot start (or launch) goes no further; which grants may cause that is asserted below.
          if (!failures.start) {
            const files: Workload = { collector: "timer", env: { TIMER_DURATION_MS: "10", TIMER_NAME: `rbac-ok-${grant.verb}` }, files: { "a.txt": "a" } };
            await runtime.launch(ok, files).catch((error: unknown) => (failures.launch = error));
            await runtime.launch(hang, builtinRegistry().require("timer").buildWorkload(hang as never)).catch((error: unknown) => (failures.launchHang = error));
            if (!failures.launch) {
              await waitFor(async () => ends.get(ok.id), 2000, 10).catch((error: unknown) => (failures.finish = error));
              await runningPod(fake, kubernetesJobName(hang.id, 1, "timer"));
              await runtime.cancel(hang).catch((error: unknown) => (failures.cancel = error));
            }
          }
        } finally {
          await runtime.shutdown(50);
          fake.setRole(shipped);
        }
        const denied = fake.requests.slice(from).filter((r) => r.code === 403 && r.verb === grant.verb && resourceOf(r) === grant.resource);
        expect(denied.length, `${what}: the service made no request that the missing grant refused`).toBeGreaterThan(0);
        // What a user of the service sees.
        const forbidden = (error: unknown) => expect(String((error as Error)?.message), what).toMatch(/403 Forbidden/);
        // Every grant has its consequence here, and every step either ran or failed as its grant says.
        const consequences: Record<string, () => void> = {
          "list jobs": () => forbidden(failures.start),
          "list pods": () => forbidden(failures.start),
          "create jobs": () => {
            forbidden(failures.launch);
            forbidden(failures.launchHang);
          },
          "delete jobs": () => forbidden(failures.cancel),
          "get pods/log": () => expect((ends.get(ok.id) as RunEnd).output.outputTail).toBe(""),
          "create configmaps": () => {
            // Its files never arrive: the run is never reported (on a real cluster its pod could not even start).
            expect(fake.get("ConfigMap", NS, `${kubernetesJobName(ok.id, 1, "timer")}-files`)).toBeUndefined();
            expect(failures.finish, what).toBeDefined();
          },
          // Without watches the caches are kept by relisting after each refused watch: slower, but the ends arrive.
          "watch jobs": () => expect(fake.requests.slice(from).filter((r) => r.verb === "list" && r.resource === "jobs").length).toBeGreaterThan(1),
          "watch pods": () => expect(fake.requests.slice(from).filter((r) => r.verb === "list" && r.resource === "pods").length).toBeGreaterThan(1),
        };
        expect(Object.keys(consequences), what).toContain(what);
        consequences[what]();
        const expectedFailures = { "list jobs": ["start"], "list pods": ["start"], "create jobs": ["launch", "launchHang"], "delete jobs": ["cancel"], "create configmaps": ["finish"] }[what] ?? [];
        expect(Object.keys(failures).sort(), what).toEqual([...expectedFailures].sort());
      }
      expect(fake.internalErrors).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});
