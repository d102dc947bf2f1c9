// The pure Kubernetes Job builder (src/runtime/kubernetes/job-builder.ts), names and labels, the
// status mapping, result extraction, the rate limiter, and the runtime's configuration. Every
// object the builder makes validates offline (kubernetes-models), survives a client-node
// ObjectSerializer round trip unchanged (no unknown fields), and is accepted by the fake API server
// with fieldValidation=Strict.
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { expectValidObject } from "./support/k8s-schema.js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";
import type { Workload } from "../src/runtime/runtime.js";
import type { JobRecord } from "../src/jobs/job.js";
import { timerHandler } from "../src/jobs/timer.js";
import {
  COLLECTOR_CONTAINER,
  FILES_MOUNT_PATH,
  JobBuildError,
  buildFilesConfigMap,
  buildJob,
  type JobBuildInput,
  type JobBuilderSettings,
} from "../src/runtime/kubernetes/job-builder.js";
import { observe } from "../src/runtime/kubernetes/job-status.js";
import { isDnsLabel, isLabelValue, kubernetesJobName, labelValue } from "../src/runtime/kubernetes/names.js";
import { TokenBucket } from "../src/runtime/kubernetes/rate-limiter.js";
import { lastJsonObject, pickResult, tailBytes } from "../src/runtime/kubernetes/results.js";
import { startFakeKube, type FakeKube } from "./support/fake-kube/index.js";
import { makeJob } from "./support/job-fixtures.js";

const NS = "jobscheduler-jobs";
const JOB_ID = "0193a6f0-1c2d-7e3f-8a4b-5c6d7e8f9a0b";

const SETTINGS: JobBuilderSettings = {
  namespace: NS,
  image: "ghcr.io/hackload/jobscheduler:1.2.3",
  serviceAccountName: "jobscheduler-runner",
  ttlSecondsAfterFinished: 86_400,
  terminationGracePeriodSeconds: 10,
  maxLimits: { cpu: "2", memory: "1Gi" },
  scheduling: {
    k6: {
      nodeSelector: { "hackload.io/pool": "load" },
      tolerations: [{ key: "load", operator: "Exists", effect: "NoSchedule" }],
      priorityClassName: "load-tests",
    },
    "*": { priorityClassName: "jobs" },
  },
};

function timerJob(overrides: Partial<JobRecord> = {}): JobRecord {
  return makeJob({
    id: JOB_ID,
    name: "Nightly build timer",
    params: { durationMs: 1500, timerName: "build" },
    timeoutMs: 90_500,
    ...overrides,
  });
}

function input(job: JobRecord = timerJob(), workload?: Workload): JobBuildInput {
  return {
    job,
    workload: workload ?? timerHandler.buildWorkload(job as never),
    hints: timerHandler.kubernetes,
    defaultResources: timerHandler.defaultResources,
  };
}


const container = (job: V1Job) => job.spec!.template.spec!.containers[0];
const envOf = (job: V1Job) => Object.fromEntries((container(job).env ?? []).map((e) => [e.name, e.value]));

describe("names", () => {
  it("derives a deterministic DNS-1123 name of at most 63 characters from job id and attempt", () => {
    const name = kubernetesJobName(JOB_ID, 1, "timer");
    expect(name).toBe(`timer-${JOB_ID}-1`);
    expect(kubernetesJobName(JOB_ID, 1, "timer")).toBe(name);
    expect(kubernetesJobName(JOB_ID, 2, "timer")).toBe(`timer-${JOB_ID}-2`);
    const cases = [
      [JOB_ID, 12345, "http_check"],
      [JOB_ID, 1, "A_Very_Long_Job_Type_Name_That_Goes_On_And_On"],
      ["Not/A DNS id!", 3, "timer"],
      ["x".repeat(200), 1, "k6"],
      [JOB_ID, 1, "__"],
    ] as const;
    for (const [id, attempt, type] of cases) {
      const made = kubernetesJobName(id, attempt, type);
      expect(isDnsLabel(made), made).toBe(true);
      expect(made.length).toBeLessThanOrEqual(63);
      expect(made.endsWith(`-${attempt}`)).toBe(true);
      expect(kubernetesJobName(id, attempt, type)).toBe(made);
    }
    expect(kubernetesJobName(JOB_ID, 1, "http_check")).toBe(`http-check-${JOB_ID}-1`);
    expect(kubernetesJobName("Not/A DNS id!", 3, "timer")).not.toBe(kubernetesJobName("Not/A DNS id?", 3, "timer"));
  });

  it("sanitises label values: keeps upper case and _, replaces the rest, shortens with a hash", () => {
    expect(labelValue("Team_Alpha")).toBe("Team_Alpha");
    expect(labelValue("Red Team / Ops!")).toBe("Red-Team-Ops");
    expect(labelValue("_leading.and.trailing_")).toBe("leading.and.trailing");
    const long = labelValue(`Team_${"x".repeat(100)}`);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^Team_x+-[0-9a-f]{8}$/);
    expect(labelValue(`Team_${"x".repeat(100)}`)).not.toBe(labelValue(`Team_${"x".repeat(101)}`));
    expect(labelValue("Команда")).toMatch(/^[0-9a-f]{8}$/);
    for (const text of ["Team_Alpha", "Red Team / Ops!", "Команда", "-", "a".repeat(300), "UPPER_lower.9"]) {
      expect(isLabelValue(labelValue(text)), text).toBe(true);
    }
  });
});

describe("buildJob", () => {
  it("builds the Job a timer job runs as", () => {
    const job = buildJob(input(), SETTINGS);
    expect(job.metadata).toMatchObject({ name: `timer-${JOB_ID}-1`, namespace: NS });
    expect(job.spec).toMatchObject({
      completions: 1,
      parallelism: 1,
      backoffLimit: 0,
      activeDeadlineSeconds: 91,
      ttlSecondsAfterFinished: 86_400,
    });
    const pod = job.spec!.template.spec!;
    expect(pod).toMatchObject({
      restartPolicy: "Never",
      serviceAccountName: "jobscheduler-runner",
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 10,
      priorityClassName: "jobs",
    });
    expect(pod.containers).toHaveLength(1);
    const main = container(job);
    expect(main.name).toBe(COLLECTOR_CONTAINER);
    expect(main.image).toBe("ghcr.io/hackload/jobscheduler:1.2.3");
    expect(main.command).toEqual(["node", "dist/collectors/timer.js"]);
    expect(main.terminationMessagePath).toBe("/dev/termination-log");
    expect(main.terminationMessagePolicy).toBe("FallbackToLogsOnError");
    expect(main.resources).toEqual({ requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "500m", memory: "128Mi" } });
    expect(main.volumeMounts).toEqual([{ name: "tmp", mountPath: "/tmp" }]);
    expect(pod.volumes).toEqual([{ name: "tmp", emptyDir: { sizeLimit: "256Mi" } }]);
    expectValidObject(job, "V1Job");
  });

  it("runs the collector with the workload's environment and nothing of the scheduler's", () => {
    const job = buildJob(input(), SETTINGS);
    expect(envOf(job)).toEqual({
      TIMER_DURATION_MS: "1500",
      TIMER_NAME: "build",
      JOB_ID,
      JOB_ATTEMPT: "1",
      JOB_RESULT_FILE: "/dev/termination-log",
      HOME: "/tmp",
      TMPDIR: "/tmp",
      NODE_OPTIONS: "--max-old-space-size=96",
    });
    const spec = job.spec!.template.spec!;
    expect(container(job).envFrom).toBeUndefined();
    expect(JSON.stringify(job)).not.toMatch(/secretKeyRef|secretRef|serviceaccount\/token/);
    expect(spec.volumes!.every((v) => v.secret === undefined && v.projected === undefined && v.hostPath === undefined)).toBe(true);
    // A workload cannot override what the runtime sets.
    const sneaky = buildJob(input(timerJob(), { collector: "timer", env: { JOB_ID: "other", HOME: "/", X: "1" } }), SETTINGS);
    expect(envOf(sneaky)).toMatchObject({ JOB_ID, HOME: "/tmp", X: "1" });
  });

  it("gives secret variables to the pod through a Secret reference, never as a value in the Job", () => {
    const workload: Workload = {
      collector: "git-activity",
      env: { GIT_REPO_OWNER: "o" },
      secretEnv: { GITHUB_TOKEN: { value: "ghp_scheduler_side_value", secretKeyRef: { name: "jobscheduler-run-secrets", key: "GITHUB_TOKEN" } } },
    };
    const job = buildJob(input(timerJob(), workload), SETTINGS);
    expectValidObject(job, "V1Job");
    const variable = container(job).env!.find((e) => e.name === "GITHUB_TOKEN")!;
    expect(variable).toEqual({ name: "GITHUB_TOKEN", valueFrom: { secretKeyRef: { name: "jobscheduler-run-secrets", key: "GITHUB_TOKEN", optional: true } } });
    expect(JSON.stringify(job)).not.toContain("ghp_scheduler_side_value");
    // With no Secret named (GITHUB_TOKEN_SECRET=""), the value itself, as the operator chose.
    const plain = buildJob(input(timerJob(), { ...workload, secretEnv: { GITHUB_TOKEN: { value: "ghp_plain" } } }), SETTINGS);
    expect(envOf(plain).GITHUB_TOKEN).toBe("ghp_plain");
    // A secret may not shadow an ordinary or reserved variable.
    expect(() => buildJob(input(timerJob(), { ...workload, secretEnv: { JOB_ID: { value: "x" } } }), SETTINGS)).toThrow(JobBuildError);
    expect(() => buildJob(input(timerJob(), { ...workload, secretEnv: { GIT_REPO_OWNER: { value: "x" } } }), SETTINGS)).toThrow(JobBuildError);
  });

  it("sets the pod security the issue lists, on pod and container", () => {
    const job = buildJob(input(), SETTINGS);
    expect(job.spec!.template.spec!.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(container(job).securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    });
  });

  it("labels with sanitised values and annotates with the full ones, on the Job and its pods", () => {
    const team = { slug: "Team_Alpha Ω", hackathonId: "hackload-2025" };
    const job = buildJob(input(timerJob({ type: "timer", team, attempt: 3 })), SETTINGS);
    const labels = {
      "app.kubernetes.io/managed-by": "jobscheduler",
      "jobscheduler.hackload.io/job-id": JOB_ID,
      "jobscheduler.hackload.io/type": "timer",
      "jobscheduler.hackload.io/attempt": "3",
      "jobscheduler.hackload.io/team": "Team_Alpha",
      "jobscheduler.hackload.io/hackathon": "hackload-2025",
    };
    expect(job.metadata!.labels).toEqual(labels);
    expect(job.spec!.template.metadata!.labels).toEqual(labels);
    expect(job.metadata!.annotations).toEqual({
      "jobscheduler.hackload.io/job-id": JOB_ID,
      "jobscheduler.hackload.io/job-name": "Nightly build timer",
      "jobscheduler.hackload.io/type": "timer",
      "jobscheduler.hackload.io/attempt": "3",
      "jobscheduler.hackload.io/team": "Team_Alpha Ω",
      "jobscheduler.hackload.io/hackathon": "hackload-2025",
    });
    expect(job.metadata!.name).toBe(`timer-${JOB_ID}-3`);
    for (const value of Object.values(job.metadata!.labels!)) expect(isLabelValue(value), value).toBe(true);
    // A "team" label of the job stands in when there is no team binding.
    const labelled = buildJob(input(timerJob({ labels: { team: "My Team_2" } })), SETTINGS);
    expect(labelled.metadata!.labels!["jobscheduler.hackload.io/team"]).toBe("My-Team_2");
    expectValidObject(job, "V1Job");
  });

  it("always sets requests and limits: defaults for missing values, limits clamped to the maximum, requests ≤ limits", () => {
    const big = buildJob(input(timerJob({ resources: { cpuRequest: "3", cpuLimit: "8", memoryRequest: "512Mi", memoryLimit: "64Gi" } })), SETTINGS);
    expect(container(big).resources).toEqual({ requests: { cpu: "2", memory: "512Mi" }, limits: { cpu: "2", memory: "1Gi" } });
    const gappy = buildJob(input(timerJob({ resources: { cpuRequest: "", cpuLimit: "", memoryRequest: "32Mi", memoryLimit: "" } })), SETTINGS);
    expect(container(gappy).resources).toEqual({ requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "200m", memory: "128Mi" } });
    expect(() => buildJob(input(timerJob({ resources: { cpuRequest: "lots", cpuLimit: "1", memoryRequest: "1Mi", memoryLimit: "1Mi" } })), SETTINGS)).toThrow(
      /cpuRequest "lots" is not a resource quantity/,
    );
  });

  it("derives activeDeadlineSeconds from the timeout, rounding up", () => {
    expect(buildJob(input(timerJob({ timeoutMs: 1 })), SETTINGS).spec!.activeDeadlineSeconds).toBe(1);
    expect(buildJob(input(timerJob({ timeoutMs: 60_000 })), SETTINGS).spec!.activeDeadlineSeconds).toBe(60);
    expect(buildJob(input(timerJob({ timeoutMs: 60_001 })), SETTINGS).spec!.activeDeadlineSeconds).toBe(61);
  });

  it("ignores disruptions and fails fast on application exit codes (podFailurePolicy), per type hints", () => {
    const plain = buildJob(input(), SETTINGS);
    expect(plain.spec!.podFailurePolicy).toEqual({
      rules: [
        { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
        { action: "FailJob", onExitCodes: { containerName: "collector", operator: "NotIn", values: [0] } },
      ],
    });
    const hinted = buildJob({ ...input(), hints: { backoffLimit: 3, retryableExitCodes: [75, 3, 75] } }, SETTINGS);
    expect(hinted.spec!.backoffLimit).toBe(3);
    expect(hinted.spec!.podFailurePolicy!.rules[1].onExitCodes!.values).toEqual([0, 3, 75]);
    expectValidObject(hinted, "V1Job");
  });

  it("applies per-type scheduling, with * for the other types", () => {
    const k6 = buildJob(input(timerJob({ type: "k6" }), { collector: "k6", env: {} }), SETTINGS);
    expect(k6.spec!.template.spec).toMatchObject({
      nodeSelector: { "hackload.io/pool": "load" },
      tolerations: [{ key: "load", operator: "Exists", effect: "NoSchedule" }],
      priorityClassName: "load-tests",
    });
    const none = buildJob(input(), { ...SETTINGS, scheduling: {} }).spec!.template.spec!;
    expect(none.nodeSelector).toBeUndefined();
    expect(none.tolerations).toBeUndefined();
    expect(none.priorityClassName).toBeUndefined();
    expectValidObject(k6, "V1Job");
  });

  it("puts workload files in a ConfigMap owned by the Job, mounted read-only", () => {
    const workload: Workload = { collector: "timer", env: { A: "1" }, files: { "script.js": "export default () => {}", "data.json": "{}" } };
    const job = buildJob(input(timerJob(), workload), SETTINGS);
    const name = job.metadata!.name!;
    expect(container(job).volumeMounts).toContainEqual({ name: "files", mountPath: FILES_MOUNT_PATH, readOnly: true });
    expect(job.spec!.template.spec!.volumes).toContainEqual({ name: "files", configMap: { name: `${name}-files`, defaultMode: 0o444 } });
    expect(envOf(job).JOB_FILES_DIR).toBe(FILES_MOUNT_PATH);
    const cm = buildFilesConfigMap(input(timerJob(), workload), SETTINGS, { name, uid: "1f0c7a52-3a2b-4c1d-9e8f-0a1b2c3d4e5f" })!;
    expect(cm.metadata).toMatchObject({
      name: `${name}-files`,
      namespace: NS,
      ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name, uid: "1f0c7a52-3a2b-4c1d-9e8f-0a1b2c3d4e5f" }],
    });
    expect(cm.metadata!.ownerReferences![0].blockOwnerDeletion).toBeUndefined();
    expect(cm.data).toEqual(workload.files);
    expect(cm.immutable).toBe(true);
    expect(buildFilesConfigMap(input(), SETTINGS, { name, uid: "x" })).toBeNull();
    expectValidObject(job, "V1Job");
    expectValidObject(cm, "V1ConfigMap");
  });

  it("refuses what the API would refuse, with a clear message", () => {
    expect(() => buildJob(input(timerJob(), { collector: "../etc/passwd", env: {} }), SETTINGS)).toThrow(JobBuildError);
    expect(() => buildJob(input(timerJob(), { collector: "timer", env: { "BAD NAME": "x" } }), SETTINGS)).toThrow(/not a valid environment variable name/);
    expect(() => buildJob(input(timerJob(), { collector: "timer", env: {}, files: { "a/b": "x" } }), SETTINGS)).toThrow(/file name "a\/b"/);
    expect(() => buildJob(input(timerJob(), { collector: "timer", env: {}, files: { big: "x".repeat(1_100_000) } }), SETTINGS)).toThrow(/ConfigMap budget/);
  });

  it("is pure: the same inputs give equal objects", () => {
    expect(buildJob(input(), SETTINGS)).toEqual(buildJob(input(), SETTINGS));
  });
});

describe("built objects against the fake API server (strict field validation)", () => {
  let fake: FakeKube;
  beforeAll(async () => {
    fake = await startFakeKube({ rbac: false, strictFields: true });
  });
  afterAll(async () => {
    await fake?.close();
    expect(fake.internalErrors).toEqual([]);
  });

  it("accepts the Job and its ConfigMap as built", async () => {
    const workload: Workload = { collector: "timer", env: { TIMER_DURATION_MS: "10", TIMER_NAME: "t" }, files: { "script.js": "1" } };
    const job = buildJob(input(timerJob({ team: { slug: "Team_X", hackathonId: "h" } }), workload), SETTINGS);
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${fake.url}${path}?fieldValidation=Strict`, {
        method: "POST",
        headers: { Authorization: `Bearer ${fake.adminToken}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as { metadata?: { uid?: string }; message?: string } };
    };
    const created = await post(`/apis/batch/v1/namespaces/${NS}/jobs`, job);
    expect(created.status, created.body.message).toBe(201);
    const cm = buildFilesConfigMap(input(timerJob(), workload), SETTINGS, { name: job.metadata!.name!, uid: created.body.metadata!.uid! });
    const cmCreated = await post(`/api/v1/namespaces/${NS}/configmaps`, cm);
    expect(cmCreated.status, cmCreated.body.message).toBe(201);
  });
});

describe("status mapping", () => {
  const record = { timeoutMs: 5000, resources: { cpuRequest: "1", cpuLimit: "1", memoryRequest: "64Mi", memoryLimit: "128Mi" } };
  const kjob = (conditions: Array<{ type: string; reason?: string; message?: string }> = []): V1Job => ({
    metadata: { name: "j", uid: "u" },
    spec: { template: {}, activeDeadlineSeconds: 5 },
    status: { conditions: conditions.map((c) => ({ status: "True", ...c })) },
  });
  const pod = (name: string, status: V1Pod["status"]): V1Pod => ({ metadata: { name, uid: name, creationTimestamp: new Date(1000) }, spec: { containers: [{ name: "collector", image: "img:1" }] }, status });
  const terminated = (exitCode: number, reason = "Error", message?: string): V1Pod["status"] => ({
    phase: exitCode === 0 ? "Succeeded" : "Failed",
    containerStatuses: [{ name: "collector", image: "img:1", imageID: "", ready: false, restartCount: 0, state: { terminated: { exitCode, reason, message, finishedAt: new Date(2000) } } }],
  });

  it("maps Job conditions and container states to run ends", () => {
    expect(observe(kjob([{ type: "Complete" }]), [pod("p", terminated(0, "Completed", "{}"))], record)).toMatchObject({ kind: "finished", verdict: { kind: "exited", exitCode: 0 } });
    expect(observe(kjob([{ type: "Failed", reason: "DeadlineExceeded" }]), [], record)).toMatchObject({
      kind: "finished",
      verdict: { kind: "timed-out", message: expect.stringContaining("timeout of 5000 ms") },
    });
    expect(observe(kjob([{ type: "Failed", reason: "BackoffLimitExceeded" }]), [pod("p", terminated(3))], record)).toMatchObject({ verdict: { kind: "exited", exitCode: 3 } });
    expect(observe(kjob([{ type: "Failed", reason: "PodFailurePolicy" }]), [pod("p", terminated(137, "OOMKilled"))], record)).toMatchObject({
      verdict: { kind: "failed", reason: "OOM_KILLED", message: expect.stringContaining("limit 128Mi") },
    });
    expect(observe(kjob([{ type: "Failed", reason: "BackoffLimitExceeded", message: "gone" }]), [], record)).toMatchObject({
      verdict: { kind: "failed", reason: "KUBERNETES_JOB_FAILED", message: expect.stringContaining("BackoffLimitExceeded: gone") },
    });
  });

  it("reports waiting pods: unschedulable and image pull errors, and running ones", () => {
    const pending = pod("p", {
      phase: "Pending",
      conditions: [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/3 nodes are available" }],
    });
    expect(observe(kjob(), [pending], record)).toEqual({ kind: "waiting", unschedulable: "0/3 nodes are available" });
    const pulling = pod("p", {
      phase: "Pending",
      containerStatuses: [{ name: "collector", image: "img:1", imageID: "", ready: false, restartCount: 0, state: { waiting: { reason: "ImagePullBackOff", message: "Back-off" } } }],
    });
    expect(observe(kjob(), [pulling], record)).toEqual({ kind: "waiting", imagePull: { image: "img:1", reason: "ImagePullBackOff", message: "Back-off" } });
    expect(observe(kjob(), [pod("p", { phase: "Running" })], record)).toMatchObject({ kind: "running" });
    expect(observe(kjob(), [], record)).toEqual({ kind: "waiting" });
  });
});

describe("results", () => {
  it("takes the termination message when it is a JSON object, else the last JSON line of the log", () => {
    expect(pickResult('{"a":1}', "noise\n", 0)).toBe('{"a":1}');
    expect(pickResult(undefined, 'starting\n{"a":2}\ndone\n', 0)).toBe('{"a":2}');
    expect(pickResult('{"a":"trunc', 'x\n{"a":"full"}\n', 0)).toBe('{"a":"full"}');
    expect(pickResult("not json", null, 0)).toBe("not json");
    expect(pickResult("log tail from FallbackToLogsOnError", null, 1)).toBeNull();
    expect(lastJsonObject("[1]\n{bad\n")).toBeNull();
    expect(tailBytes("line1\nline2\nline3\n", 8)).toBe("line3\n");
  });
});

describe("rate limiter", () => {
  it("allows a burst, then the steady rate, in arrival order; a pause holds every call and saves no burst", async () => {
    vi.useFakeTimers();
    try {
      const bucket = new TokenBucket(50, 3, () => Date.now());
      const t0 = Date.now();
      const released: Array<[number, number]> = [];
      const take = (id: number) => bucket.take().then(() => released.push([id, Date.now() - t0]));
      for (let i = 0; i < 6; i++) void take(i);
      await vi.advanceTimersByTimeAsync(0);
      expect(released).toEqual([[0, 0], [1, 0], [2, 0]]);
      await vi.advanceTimersByTimeAsync(100);
      expect(released.slice(3)).toEqual([[3, 20], [4, 40], [5, 60]]);
      // Idle long enough to refill the burst.
      await vi.advanceTimersByTimeAsync(1000);
      released.length = 0;
      const t1 = Date.now() - t0;
      for (let i = 0; i < 3; i++) void take(i);
      await vi.advanceTimersByTimeAsync(0);
      expect(released.map(([, at]) => at - t1)).toEqual([0, 0, 0]);
      // Retry-After: nothing for 500 ms, then one call per 20 ms (no burst saved during the pause).
      await vi.advanceTimersByTimeAsync(1000);
      released.length = 0;
      const t2 = Date.now() - t0;
      bucket.pause(500);
      for (let i = 0; i < 3; i++) void take(i);
      await vi.advanceTimersByTimeAsync(600);
      expect(released.map(([id, at]) => [id, at - t2])).toEqual([[0, 520], [1, 540], [2, 560]]);
      expect(bucket.waiting).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("never releases more than the burst after a stall", async () => {
    vi.useFakeTimers();
    try {
      let now = 0;
      const bucket = new TokenBucket(50, 1, () => now);
      const released: number[] = [];
      void bucket.take().then(() => released.push(now));
      for (let i = 0; i < 5; i++) void bucket.take().then(() => released.push(now));
      await vi.advanceTimersByTimeAsync(0);
      // The event loop stalls for 200 ms: the timer fires late, yet only one token exists.
      now = 200;
      await vi.advanceTimersByTimeAsync(20);
      expect(released).toEqual([0, 200]);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("configuration", () => {
  it("chooses the runtime: kubernetes with cluster credentials, else local", () => {
    expect(loadConfig({}).RUNTIME).toBe("local");
    expect(loadConfig({ KUBECONFIG: "/tmp/kubeconfig", JOB_IMAGE: "img:1" }).RUNTIME).toBe("kubernetes");
    expect(loadConfig({ K8S_API_SERVER: "https://k8s.example:6443", K8S_TOKEN_FILE: "/t", JOB_IMAGE: "img:1" }).RUNTIME).toBe("kubernetes");
    expect(loadConfig({ KUBECONFIG: "/tmp/kubeconfig", RUNTIME: "local" }).RUNTIME).toBe("local");
  });

  it("has defaults for every Kubernetes setting", () => {
    expect(loadConfig({})).toMatchObject({
      JOBS_NAMESPACE: "jobscheduler-jobs",
      RUNNER_SERVICE_ACCOUNT: "jobscheduler-runner",
      K8S_QPS: 50,
      K8S_BURST: 100,
      JOB_TTL_SECONDS_AFTER_FINISHED: 86_400,
      MAX_CPU_LIMIT: "4",
      MAX_MEMORY_LIMIT: "8Gi",
      IMAGE_PULL_FAILURE_TIMEOUT: 120_000,
      K8S_JOB_SCHEDULING: {},
    });
  });

  it("refuses bad values with a message naming the variable", () => {
    const problem = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error("expected a ConfigError");
    };
    expect(problem({ RUNTIME: "kubernetes" })).toMatch(/JOB_IMAGE: is required when RUNTIME is kubernetes/);
    expect(problem({ RUNTIME: "docker" })).toMatch(/RUNTIME:/);
    expect(problem({ K8S_API_SERVER: "http://10.0.0.1:6443" })).toMatch(/K8S_API_SERVER: must be an https:\/\/ URL/);
    expect(problem({ K8S_API_SERVER: "https://k8s:6443", JOB_IMAGE: "i" })).toMatch(/K8S_TOKEN_FILE: is required with K8S_API_SERVER/);
    expect(problem({ MAX_MEMORY_LIMIT: "lots" })).toMatch(/MAX_MEMORY_LIMIT: must be a positive resource quantity/);
    expect(problem({ JOBS_NAMESPACE: "Jobs_NS" })).toMatch(/JOBS_NAMESPACE: must be a namespace name/);
    expect(problem({ JOB_TTL_SECONDS_AFTER_FINISHED: "5" })).toMatch(/JOB_TTL_SECONDS_AFTER_FINISHED/);
    expect(problem({ K8S_JOB_SCHEDULING: "{not json" })).toMatch(/K8S_JOB_SCHEDULING: must be JSON/);
    expect(problem({ K8S_JOB_SCHEDULING: '{"k6":{"nodeSelectr":{}}}' })).toMatch(/K8S_JOB_SCHEDULING: k6/);
    expect(loadConfig({ K8S_API_SERVER: "http://127.0.0.1:8001", K8S_TOKEN_FILE: "/t", JOB_IMAGE: "i" }).K8S_API_SERVER).toBe("http://127.0.0.1:8001");
    expect(loadConfig({ K8S_JOB_SCHEDULING: '{"k6":{"tolerations":[{"key":"load","operator":"Exists"}]}}' }).K8S_JOB_SCHEDULING).toEqual({
      k6: { tolerations: [{ key: "load", operator: "Exists" }] },
    });
  });
});
