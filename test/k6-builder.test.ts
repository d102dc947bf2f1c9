// The k6 runner Job (src/runtime/kubernetes/runner-job-builder.ts) and the command every runner runs
// (src/shared/k6/command.ts, segments.ts): for N = 1, 3, 4 the execution segments and the sequence
// are exactly right, the runner's shell program really passes them to k6 (run here with sh and a
// recording `k6`), the Job is one Indexed Job with completions = parallelism = N, backoffLimit 0
// and requests = limits, and the Job and its ConfigMap validate against the Kubernetes schemas
// (kubernetes-models), survive a client-node ObjectSerializer round trip unchanged, and are
// accepted by the fake API server with fieldValidation=Strict.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { V1Job } from "@kubernetes/client-node";
import { expectValidObject } from "./support/k8s-schema.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobRecord } from "../src/jobs/job.js";
import { commonArgs, kubernetesRunnerCommand, localRunnerArgs, runnerShellScript } from "../src/shared/k6/command.js";
import { k6Handler, RUNNER_CONTAINER } from "../src/jobs/k6/handler.js";
import type { K6Params } from "../src/jobs/k6/params.js";
import { executionSegment, executionSegments, executionSegmentSequence, fraction } from "../src/shared/k6/segments.js";
import { SCRIPT_FILE, WRAPPER_FILE } from "../src/shared/k6/wrapper-names.js";
import { FILES_MOUNT_PATH, buildFilesConfigMap, buildJob, type JobBuildInput, type JobBuilderSettings } from "../src/runtime/kubernetes/job-builder.js";
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
  maxLimits: { cpu: "4", memory: "8Gi" },
  scheduling: { k6: { nodeSelector: { "hackload.io/pool": "load" } } },
};

const handler = k6Handler({ runtime: "kubernetes", startTimeoutMs: 60_000 });

function k6Job(spec: Record<string, unknown>, overrides: Partial<JobRecord> = {}): JobRecord & { params: K6Params } {
  const parsed = handler.paramsSchema.safeParse(spec);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return makeJob({
    id: JOB_ID,
    type: "k6",
    name: "load test",
    params: parsed.data,
    timeoutMs: 15 * 60_000,
    team: { slug: "Team_X", hackathonId: "hack-1" },
    resources: { cpuRequest: "1", cpuLimit: "1", memoryRequest: "1Gi", memoryLimit: "1Gi" },
    ...overrides,
  }) as JobRecord & { params: K6Params };
}

function input(job: JobRecord & { params: K6Params }): JobBuildInput {
  return { job, workload: handler.buildWorkload(job), hints: handler.kubernetes, defaultResources: handler.defaultResources };
}


const runnerContainer = (job: V1Job) => job.spec!.template.spec!.containers[0];
const envOf = (job: V1Job) => Object.fromEntries((runnerContainer(job).env ?? []).map((e) => [e.name, e.value]));

describe("execution segments", () => {
  it("writes fractions in lowest terms, as k6 prints them", () => {
    expect([fraction(0, 4), fraction(1, 4), fraction(2, 4), fraction(3, 4), fraction(4, 4)]).toEqual(["0", "1/4", "1/2", "3/4", "1"]);
    expect(() => fraction(5, 4)).toThrow();
  });

  it("splits N = 1, 3, 4 into exactly these segments and sequences", () => {
    expect(executionSegments(1)).toEqual(["0:1"]);
    expect(executionSegmentSequence(1)).toBe("0,1");
    expect(executionSegments(3)).toEqual(["0:1/3", "1/3:2/3", "2/3:1"]);
    expect(executionSegmentSequence(3)).toBe("0,1/3,2/3,1");
    expect(executionSegments(4)).toEqual(["0:1/4", "1/4:1/2", "1/2:3/4", "3/4:1"]);
    expect(executionSegmentSequence(4)).toBe("0,1/4,1/2,3/4,1");
    expect(() => executionSegment(3, 3)).toThrow(/outside/);
  });

  it("gives local runner i its segment and the common sequence, paused on its own address", () => {
    const common = ["--quiet"];
    expect(localRunnerArgs(common, { parallelism: 3, index: 1, address: "127.0.0.1:7001", paused: true, scriptPath: "/f/main.js" })).toEqual([
      "run", "--execution-segment", "1/3:2/3", "--execution-segment-sequence", "0,1/3,2/3,1", "--paused", "--address", "127.0.0.1:7001", "--quiet", "/f/main.js",
    ]);
    expect(localRunnerArgs(common, { parallelism: 1, index: 0, address: "127.0.0.1:7002", paused: false, scriptPath: "/f/main.js" })).toEqual([
      "run", "--quiet", "--address", "127.0.0.1:7002", "/f/main.js",
    ]);
  });
});

describe("the runner pod's shell program (run with sh and a recording k6)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "k6-sh-"));
    // Records its arguments and the segment it was given, then exits with FAKE_EXIT.
    writeFileSync(
      join(dir, "k6"),
      '#!/bin/sh\nprintf \'%s\\n\' "$@" > "$OUT"\necho "SEGMENT=${JOBSCHEDULER_K6_SEGMENT:-}" >> "$OUT"\nexit "${FAKE_EXIT:-0}"\n',
    );
    chmodSync(join(dir, "k6"), 0o755);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function runPod(command: string[], index: number | undefined, exitCode = 0): { status: number | null; args: string[]; segment: string; stderr: string } {
    const out = join(dir, `out-${index}-${exitCode}`);
    const env: NodeJS.ProcessEnv = { PATH: `${dir}:${process.env.PATH}`, OUT: out, FAKE_EXIT: String(exitCode), JOB_FILES_DIR: FILES_MOUNT_PATH };
    if (index !== undefined) env.JOB_COMPLETION_INDEX = String(index);
    const run = spawnSync(command[0], command.slice(1), { env, encoding: "utf8" });
    let lines: string[] = [];
    try {
      lines = readFileSync(out, "utf8").trimEnd().split("\n");
    } catch {
      // k6 never ran
    }
    const segment = lines.pop()?.replace(/^SEGMENT=/, "") ?? "";
    return { status: run.status, args: lines, segment, stderr: run.stderr };
  }

  for (const n of [1, 3, 4]) {
    it(`N = ${n}: runner i runs k6 with --execution-segment i/N:(i+1)/N and the common sequence`, () => {
      const command = kubernetesRunnerCommand(["--quiet", "--tag", "testid=t"], n);
      expect(command.slice(0, 2)).toEqual(["sh", "-c"]);
      for (let i = 0; i < n; i++) {
        const { status, args, segment } = runPod(command, i);
        expect(status).toBe(0);
        if (n === 1) {
          expect(args).toEqual(["run", "--quiet", "--tag", "testid=t", `${FILES_MOUNT_PATH}/${WRAPPER_FILE}`]);
          expect(segment).toBe("");
        } else {
          expect(args).toEqual([
            "run",
            "--execution-segment", executionSegment(i, n),
            "--execution-segment-sequence", executionSegmentSequence(n),
            "--paused", "--address", "0.0.0.0:6565",
            "--quiet", "--tag", "testid=t",
            `${FILES_MOUNT_PATH}/${WRAPPER_FILE}`,
          ]);
          expect(segment).toBe(executionSegment(i, n));
        }
      }
    });
  }

  it("turns k6's exit 99 (this part's thresholds failed) into 0 and passes other codes on", () => {
    const command = kubernetesRunnerCommand([], 3);
    const failed = runPod(command, 2, 99);
    expect(failed.status).toBe(0);
    expect(failed.stderr).toMatch(/exited 99/);
    expect(runPod(command, 2, 107).status).toBe(107);
    expect(runPod(command, 0, 0).status).toBe(0);
  });

  it("refuses an index it has no segment for", () => {
    const command = kubernetesRunnerCommand([], 3);
    const outside = runPod(command, 3);
    expect(outside.status).toBe(2);
    expect(outside.stderr).toMatch(/no k6 execution segment for completion index '3'/);
    expect(runPod(command, undefined).status).toBe(2);
    expect(runnerShellScript(1)).not.toMatch(/JOB_COMPLETION_INDEX/);
  });
});

describe("the runner Job", () => {
  const spec = (parallelism: number) => ({
    scenario: "event-search",
    targetUrl: "https://team-x.example.com",
    vus: 40,
    duration: { seconds: 120 },
    parallelism,
    runnerResources: { cpuLimit: "2", memoryLimit: "2Gi" },
    thresholds: { http_req_duration: { expressions: ["p(99)<3000"] } },
  });

  for (const n of [1, 3, 4]) {
    it(`N = ${n}: one Indexed Job, completions = parallelism = ${n}, backoffLimit 0, requests = limits, valid and round-trip safe`, () => {
      const job = k6Job(spec(n));
      const built = buildJob(input(job), SETTINGS);
      expect(built.metadata?.name).toBe(`k6-${JOB_ID}-1`);
      expect(built.spec).toMatchObject({ completions: n, parallelism: n, completionMode: "Indexed", backoffLimit: 0, activeDeadlineSeconds: 900 });
      expect(built.spec!.podFailurePolicy!.rules[0]).toEqual({ action: "FailJob", onExitCodes: { containerName: RUNNER_CONTAINER, operator: "NotIn", values: [0] } });
      const main = runnerContainer(built);
      expect(main.name).toBe(RUNNER_CONTAINER);
      expect(main.image).toBe("grafana/k6:1.2.0");
      expect(main.resources).toEqual({ requests: { cpu: "2", memory: "2Gi" }, limits: { cpu: "2", memory: "2Gi" } });
      expect(main.command!.slice(0, 2)).toEqual(["sh", "-c"]);
      if (n > 1) {
        expect(main.command).toEqual(expect.arrayContaining(["--paused", "--execution-segment-sequence", executionSegmentSequence(n)]));
        expect(main.ports).toEqual([{ name: "k6-api", containerPort: 6565, protocol: "TCP" }]);
      } else {
        expect(main.command).not.toContain("--paused");
        expect(main.ports).toBeUndefined();
      }
      // The same hardening as every job pod.
      expect(main.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
      expect(built.spec!.template.spec).toMatchObject({ automountServiceAccountToken: false, restartPolicy: "Never", nodeSelector: { "hackload.io/pool": "load" } });
      const env = envOf(built);
      expect(env).toMatchObject({ API_URL: "https://team-x.example.com", VUS: "40", DURATION: "120s", JOB_FILES_DIR: FILES_MOUNT_PATH, JOB_RESULT_FILE: "/dev/termination-log" });
      expect(JSON.parse(env.JOBSCHEDULER_K6_THRESHOLDS!)).toEqual({ http_req_duration: ["p(99)<3000"], http_req_failed: ["rate<0.05"] });
      expect(env.NODE_OPTIONS).toBeUndefined();
      expect(Object.keys(env).some((name) => name.startsWith("JOBSCHEDULER_K6_BINARY"))).toBe(false);
      expectValidObject(built, "V1Job");

      const cm = buildFilesConfigMap(input(job), SETTINGS, { name: built.metadata!.name!, uid: "uid-1" })!;
      expect(Object.keys(cm.data!).sort()).toEqual([WRAPPER_FILE, SCRIPT_FILE].sort());
      expect(cm.metadata!.ownerReferences).toEqual([{ apiVersion: "batch/v1", kind: "Job", name: built.metadata!.name, uid: "uid-1" }]);
      expectValidObject(cm, "V1ConfigMap");
    });
  }

  it("tags every run for the Hub's dashboards and passes the allowed extra flags", () => {
    const job = k6Job({ ...spec(3), extraArgs: ["--no-connection-reuse", "--tag", "site=eu"] });
    const command = runnerContainer(buildJob(input(job), SETTINGS)).command!;
    expect(command).toEqual(expect.arrayContaining(["--tag", `testid=${JOB_ID}`, "--tag", "test_scenario=event-search", "--tag", "team=Team_X", "--no-connection-reuse", "--tag=site=eu"]));
    expect(commonArgs({ testId: "t", team: null, scenario: "script", prometheus: true, vus: 5, durationMs: 1500, extraArgs: [] })).toEqual([
      "--quiet", "--no-usage-report", "--tag", "testid=t", "--tag", "test_scenario=script", "--out", "experimental-prometheus-rw", "--vus", "5", "--duration", "1500ms",
    ]);
  });

  it("sends metrics to Prometheus remote write when K6_PROMETHEUS_RW_URL is set", () => {
    const withOutput = k6Handler({ runtime: "kubernetes", prometheusRwUrl: "http://prometheus.monitoring:9090/api/v1/write" });
    const job = k6Job(spec(3));
    const built = buildJob({ job, workload: withOutput.buildWorkload(job), hints: withOutput.kubernetes, defaultResources: withOutput.defaultResources }, SETTINGS);
    expect(runnerContainer(built).command).toEqual(expect.arrayContaining(["--out", "experimental-prometheus-rw", "--tag", `testid=${JOB_ID}`, "--tag", "team=Team_X", "--tag", "test_scenario=event-search"]));
    expect(envOf(built)).toMatchObject({ K6_PROMETHEUS_RW_SERVER_URL: "http://prometheus.monitoring:9090/api/v1/write", K6_PROMETHEUS_RW_TREND_STATS: "p(95),p(99),min,max,avg,med" });
    expect(runnerContainer(buildJob(input(job), SETTINGS)).command).not.toContain("--out");
  });

  it("clamps runner resources to the maximum limits and is pure", () => {
    const job = k6Job({ ...spec(3), runnerResources: { cpuLimit: "16", memoryLimit: "64Gi" } });
    expect(runnerContainer(buildJob(input(job), SETTINGS)).resources).toEqual({ requests: { cpu: "4", memory: "8Gi" }, limits: { cpu: "4", memory: "8Gi" } });
    expect(buildJob(input(job), SETTINGS)).toEqual(buildJob(input(job), SETTINGS));
  });
});

describe("the runner Job against the fake API server (strict field validation)", () => {
  let fake: FakeKube;
  beforeAll(async () => {
    fake = await startFakeKube({ rbac: false, strictFields: true });
  });
  afterAll(async () => {
    await fake?.close();
    expect(fake.internalErrors).toEqual([]);
  });

  it("accepts the Job and its ConfigMap as built", async () => {
    const job = k6Job({ scenario: "http-get-smoke", targetUrl: "http://target.example", vus: 4, parallelism: 4 });
    const built = buildJob(input(job), SETTINGS);
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${fake.url}${path}?fieldValidation=Strict`, {
        method: "POST",
        headers: { Authorization: `Bearer ${fake.adminToken}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as { metadata?: { uid?: string }; message?: string } };
    };
    const created = await post(`/apis/batch/v1/namespaces/${NS}/jobs`, built);
    expect(created.status, created.body.message).toBe(201);
    const cm = buildFilesConfigMap(input(job), SETTINGS, { name: built.metadata!.name!, uid: created.body.metadata!.uid! });
    const cmCreated = await post(`/api/v1/namespaces/${NS}/configmaps`, cm);
    expect(cmCreated.status, cmCreated.body.message).toBe(201);
    // The controller makes one pod per index, each told its index.
    const pods = await fake.waitFor(() => (fake.podsOf(NS, built.metadata!.name!).length === 4 ? fake.podsOf(NS, built.metadata!.name!) : undefined), 5000, "4 runner pods");
    expect(pods.map((p) => p.metadata.labels?.["batch.kubernetes.io/job-completion-index"]).sort()).toEqual(["0", "1", "2", "3"]);
  });
});
