// k6 jobs on Kubernetes, end to end: the real service (RUNTIME=kubernetes) over gRPC against the
// fake Kubernetes API (test/support/fake-kube, the shipped Role). The fake runs no containers, so
// runner pods are scripted to hang until a test ends them, and the runners' REST APIs are a
// stand-in HTTP server the service reaches through K6_RUNNER_URL (one path per completion index).
// When the service un-pauses runner i (PATCH /v1/status), the stand-in ends pod i with its part's
// compact summary as termination message, as a real runner would after its run.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { JobState, ScheduleJobRequest, type Job, type JobEvent } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { kubernetesJobName } from "../src/runtime/kubernetes/names.js";
import { outcome, startFakeKube, type FakeKube, type StoredConfigMap, type StoredJob, type StoredPod } from "./support/fake-kube/index.js";
import { recordObjects, type ObjectLog } from "./support/fake-kube/object-log.js";
import { terminationMessage, type PartFigures } from "./support/fake-k6/summary-data.js";
import { startHttpTarget } from "./support/http-target.js";
import { call, cleanup, collect, startService, waitFor, type TestService } from "./support/service.js";
import { kubeServiceEnv } from "./support/kube-service.js";

const NS = "jobscheduler-jobs";
const INDEX = "batch.kubernetes.io/job-completion-index";
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
const SEGMENTS = ["0:1/3", "1/3:2/3", "2/3:1"];
const dirs: string[] = [];

interface Start {
  index: number;
  pod: string;
  at: number;
  /** How many runner pods of the Job were Running when this runner was started. */
  runningPods: number;
}

/**
 * The runners' REST APIs: paused until PATCHed. Once every runner of the Job was started, each
 * pod ends with its part's summary (so a runner's end never overtakes another's start).
 */
class StandInRunners {
  readonly starts: Start[] = [];
  readonly statusCalls: number[] = [];
  /** Each runner's figures; null: it ends 0 without a summary (its handleSummary failed). */
  parts: Array<PartFigures | null> = [];
  private readonly started = new Set<string>();
  server!: Server;

  constructor(private readonly fake: FakeKube) {}

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => this.answer(req.method ?? "", req.url ?? "", body, res));
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/runner-{index}`;
  }

  reset(parts: Array<PartFigures | null>): void {
    this.parts = parts;
    this.starts.length = 0;
    this.statusCalls.length = 0;
  }

  /** The running runner pod of this index (the one live k6 Job at a time). */
  private pod(index: number): StoredPod | undefined {
    return this.fake.list<StoredPod>("Pod", NS).find((p) => p.metadata.labels?.[INDEX] === String(index) && p.metadata.labels?.["jobscheduler.hackload.io/type"] === "k6" && p.status?.phase === "Running" && !p.metadata.deletionTimestamp);
  }

  private answer(method: string, url: string, body: string, res: import("node:http").ServerResponse): void {
    const match = /^\/runner-(\d+)\/v1\/status$/.exec(url);
    const index = match ? Number(match[1]) : -1;
    const pod = match ? this.pod(index) : undefined;
    if (!pod) return void res.writeHead(503).end("no runner here");
    const key = pod.metadata.name;
    if (method === "PATCH") {
      expect(JSON.parse(body)).toEqual({ data: { type: "status", id: "default", attributes: { paused: false } } });
      if (!this.started.has(key)) {
        this.started.add(key);
        const job = pod.metadata.labels!["batch.kubernetes.io/job-name"];
        const runningPods = this.fake.podsOf(NS, job).filter((p) => p.status?.phase === "Running").length;
        this.starts.push({ index, pod: key, at: Date.now(), runningPods });
        const ofJob = this.starts.filter((s) => this.fake.list<StoredPod>("Pod", NS).some((p) => p.metadata.name === s.pod && p.metadata.labels?.["batch.kubernetes.io/job-name"] === job));
        if (ofJob.length === this.parts.length) {
          for (const start of ofJob) {
            const part = this.parts[start.index];
            const ending = part
              ? outcome.succeed(terminationMessage(part, SEGMENTS[start.index]), { log: `runner ${start.index}: done\n` })
              : outcome.succeed(undefined, { log: `level=error msg="failed to handle the end-of-test summary" error="TypeError: boom"\n` });
            setTimeout(() => this.fake.completePod(NS, start.pod, ending), 30);
          }
        }
      }
    } else {
      this.statusCalls.push(index);
    }
    const paused = !this.started.has(key);
    res.writeHead(200, { "Content-Type": "application/json" }).end(
      JSON.stringify({ data: { type: "status", id: "default", attributes: { status: paused ? 4 : 7, paused, vus: 0, "vus-max": 4, stopped: false, running: !paused, tainted: false } } }),
    );
  }
}

function k6Request(name: string, spec: Record<string, unknown>): ScheduleJobRequest {
  const { scenario, ...rest } = spec;
  return ScheduleJobRequest.fromPartial({
    name,
    team: { slug: "Team_X", hackathonId: "hack-1" },
    spec: { $case: "k6", value: { ...rest, scriptSource: { $case: "scenario", value: scenario } } as never },
  });
}

const stateName = (state: JobState) => JobState[state].replace("JOB_STATE_", "");
const history = (events: JobEvent[]) => events.map((e) => `${stateName(e.state)}${e.reason ? `:${e.reason}` : ""}`);

describe("k6 jobs on Kubernetes (fake API, stand-in runners)", () => {
  let fake: FakeKube;
  let service: TestService;
  let runners: StandInRunners;
  let target: Awaited<ReturnType<typeof startHttpTarget>>;
  /** Objects as last seen: a finished Job is deleted (with its ConfigMap) once its end is stored. */
  let seen: ObjectLog;

  beforeAll(async () => {
    fake = await startFakeKube({ timing: FAST });
    seen = recordObjects(fake);
    // Runner pods run until the stand-in ends them (a paused k6 waits for its start).
    fake.setDefaultOutcome(outcome.hang());
    runners = new StandInRunners(fake);
    const runnerUrl = await runners.listen();
    target = await startHttpTarget();
    const dir = mkdtempSync(join(tmpdir(), "k6-k8s-"));
    dirs.push(dir);
    service = await startService({
      ...kubeServiceEnv(fake, dir),
      K6_RUNNER_URL: runnerUrl,
      K6_START_TIMEOUT: "1500ms",
      K6_DASHBOARD_URL: "https://grafana.example/d/k6?var-testid={testid}&var-team={team}",
    });
  });

  afterAll(async () => {
    await service?.stop();
    if (service) cleanup(service.dataDir);
    await new Promise((resolve) => runners?.server.close(resolve));
    await target?.close();
    await fake?.close();
    expect(fake.internalErrors).toEqual([]);
    dirs.forEach(cleanup);
  });

  beforeEach(() => fake.clearRequests());

  const spec = (extra: Record<string, unknown> = {}) => ({
    scenario: "event-search",
    targetUrl: target.url,
    vus: 30,
    duration: { seconds: 60 },
    parallelism: 3,
    runnerResources: { cpuLimit: "500m", memoryLimit: "256Mi" },
    ...extra,
  });

  async function run(request: ScheduleJobRequest): Promise<{ job: Job; events: JobEvent[]; done: Job }> {
    const job = (await call(service.client, service.client.scheduleJob, request)).job!;
    const events = await collect(service.client.watchJob({ jobId: job.id, afterSequence: 0 }));
    return { job, events, done: events.at(-1)!.job! };
  }

  it("N = 3: runners created paused, started together once all three run, summaries merged, verdict stored", async () => {
    runners.reset([
      { reqs: 1000, failed: 5, p95: 400, vus: 10 },
      { reqs: 1100, failed: 0, p95: 700, vus: 10 },
      { reqs: 900, failed: 10, p95: 500, vus: 10 },
    ]);
    const { job, events, done } = await run(k6Request("event search, 3 runners", spec()));
    expect(history(events).filter((h) => !h.startsWith("STARTING:"))).toEqual(["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"]);
    expect(done.result, `${done.reason}: ${done.message}`).toMatchObject({ verdict: "PASSED", failedThresholds: [], parallelism: 3, testId: job.id, vusMax: 30 });

    // The Job: one Indexed Job of 3 paused runners, its script in a ConfigMap it owns.
    const name = kubernetesJobName(job.id, 1, "k6");
    const kjob = seen.last<StoredJob>("Job", NS, name)!;
    expect(kjob.spec).toMatchObject({ completions: 3, parallelism: 3, completionMode: "Indexed", backoffLimit: 0 });
    const container = kjob.spec!.template.spec!.containers[0];
    expect(container.image).toBe("grafana/k6:1.2.0");
    expect(container.command).toEqual(expect.arrayContaining(["--paused", "--address", "0.0.0.0:6565", "--execution-segment-sequence", "0,1/3,2/3,1"]));
    expect(container.resources).toEqual({ requests: { cpu: "500m", memory: "256Mi" }, limits: { cpu: "500m", memory: "256Mi" } });
    const cm = seen.last<StoredConfigMap>("ConfigMap", NS, `${name}-files`)!;
    expect(Object.keys(cm.data ?? {}).sort()).toEqual(["main.js", "script.js"]);
    expect(cm.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: "Job", name, uid: kjob.metadata.uid })]);

    // Started only when all three ran, all at once.
    expect(runners.starts.map((s) => s.index).sort()).toEqual([0, 1, 2]);
    expect(runners.starts.every((s) => s.runningPods === 3)).toBe(true);
    const times = runners.starts.map((s) => s.at);
    expect(Math.max(...times) - Math.min(...times)).toBeLessThan(200);

    // One merged result: exact counts and rates, percentile bounds, per-runner figures.
    const result = done.result as Record<string, any>;
    expect(result.metrics.http_reqs.values.count).toEqual({ exact: true, value: 3000 });
    expect(result.metrics.http_req_failed.values.rate).toEqual({ exact: true, value: 15 / 3000 });
    expect(result.metrics.http_req_duration.values["p(95)"]).toEqual({ exact: false, lower: 400, upper: 700 });
    expect(result.thresholds).toEqual(
      expect.arrayContaining([expect.objectContaining({ metric: "http_req_duration", expression: "p(95)<2000", ok: true, basis: "bound" })]),
    );
    expect(result.parts.map((p: { part: string; reqs: number }) => [p.part, p.reqs])).toEqual([["0:1/3", 1000], ["1/3:2/3", 1100], ["2/3:1", 900]]);
    expect(result.runners.map((r: { exitCode: number }) => r.exitCode)).toEqual([0, 0, 0]);
    expect(result.grafanaDashboardUrl).toBe(`https://grafana.example/d/k6?var-testid=${job.id}&var-team=Team_X`);
    // Every runner's summary came whole in its termination message: no log was read.
    expect(done.outputTail).toBe("");
    expect(fake.requests.filter((r) => r.subresource === "log")).toEqual([]);
  });

  it("N = 3: a threshold every part passes but the whole run fails makes the job FAILED, result kept", async () => {
    const thresholds = { http_reqs: ["count<2500"], http_req_failed: ["rate<0.05"] };
    runners.reset([
      { reqs: 1000, failed: 5, p95: 400, thresholds },
      { reqs: 1000, failed: 0, p95: 700, thresholds },
      { reqs: 1000, failed: 10, p95: 500, thresholds },
    ]);
    const { events, done } = await run(k6Request("too many requests", spec({ thresholds: { http_reqs: { expressions: ["count<2500"] } } })));
    expect(history(events).at(-1)).toBe("FAILED:THRESHOLDS_FAILED");
    expect(done.message).toBe("1 threshold failed: http_reqs: count<2500 (observed 3000)");
    const result = done.result as Record<string, any>;
    expect(result.verdict).toBe("FAILED");
    expect(result.parts.every((p: { verdict: string }) => p.verdict === "PASSED")).toBe(true);
    expect(done.attempts).toEqual([]);
  });

  it("N = 3: a runner that ends without a summary fails the run RUNNER_SUMMARY_MISSING, the others' figures kept", async () => {
    runners.reset([{ reqs: 1000, failed: 5, p95: 400 }, null, { reqs: 900, failed: 10, p95: 500 }]);
    const { events, done } = await run(k6Request("a summary lost", spec()));
    expect(history(events).at(-1)).toBe("FAILED:RUNNER_SUMMARY_MISSING");
    expect(done.message).toMatch(/^1 of 3 k6 runners left no summary, so the run has no verdict: runner 1 \(exit 0\) /);
    const result = done.result as Record<string, any>;
    expect(result.verdict).toBe("NOT_EVALUATED");
    expect(result.metrics.http_reqs.values.count.value).toBe(1900);
    expect(done.attempts).toEqual([]);
  });

  it("one runner that cannot start fails the run with a clear reason, and the others are cleaned up", async () => {
    runners.reset([]);
    const pull = fake.scriptPods(
      (pod) => pod.metadata.labels?.[INDEX] === "1" && pod.metadata.labels?.["jobscheduler.hackload.io/type"] === "k6",
      outcome.imagePullFailure('failed to pull and unpack image "grafana/k6:no-such-tag": not found'),
    );
    try {
      const { job, events, done } = await run(k6Request("one runner cannot start", spec({ image: "grafana/k6:no-such-tag" })));
      expect(history(events)).toContain("STARTING:IMAGE_PULL_BACKOFF");
      expect(history(events).at(-1)).toBe("FAILED:RUNNERS_NOT_STARTED");
      expect(done.message).toMatch(/^only 2 of 3 k6 runners were running after 1\.5s \(K6_START_TIMEOUT\), so the test never started \(runner 1: cannot pull image "grafana\/k6:no-such-tag"/);
      expect(done.message).toMatch(/its Job and pods were deleted$/);
      // None was started; the Job, its pods and its ConfigMap are gone.
      expect(runners.starts).toEqual([]);
      const name = kubernetesJobName(job.id, 1, "k6");
      await fake.waitFor(() => !fake.get("Job", NS, name) && fake.podsOf(NS, name).length === 0 && !fake.get("ConfigMap", NS, `${name}-files`), 5000, "the runners to be cleaned up");
      expect(fake.requests.some((r) => r.verb === "delete" && r.resource === "jobs" && r.name === name && r.code === 200)).toBe(true);
    } finally {
      pull.remove();
    }
  });

  it("an unreachable target fails fast with TARGET_UNREACHABLE and creates nothing", async () => {
    const closed = await startHttpTarget();
    await closed.close();
    const { events, done } = await run(k6Request("down", spec({ targetUrl: closed.url, preflight: true })));
    expect(history(events)).toEqual(["QUEUED", "STARTING", "FAILED:TARGET_UNREACHABLE"]);
    expect(done.message).toMatch(/is unreachable \(ECONNREFUSED/);
    expect((done.result as Record<string, any>).preflight).toMatchObject({ ok: false, url: closed.url });
    expect(fake.requests.filter((r) => r.verb === "create" && r.resource === "jobs")).toEqual([]);
    // And a reachable one lets the run go ahead.
    runners.reset([{ reqs: 10, failed: 0, p95: 10 }, { reqs: 10, failed: 0, p95: 10 }, { reqs: 10, failed: 0, p95: 10 }]);
    const ok = await run(k6Request("up", spec({ preflight: true })));
    expect(stateName(ok.done.state)).toBe("SUCCEEDED");
    expect(target.requests.at(-1)).toMatchObject({ method: "GET", url: "/" });
  });

  it("shows elapsed/total while the runners run", async () => {
    runners.reset([]);
    const job = (await call(service.client, service.client.scheduleJob, k6Request("progress", spec({ parallelism: 1, vus: 1, duration: { seconds: 90 } })))).job!;
    const running = await waitFor(async () => {
      const current = await call(service.client, service.client.getJobStatus, { jobId: job.id });
      return current.state === JobState.JOB_STATE_RUNNING ? current : undefined;
    }, 5000, 20);
    expect(running.progress).toMatchObject({ total: { seconds: 90, nanos: 0 } });
    expect(running.progress!.message).toMatch(/^\d+s of 1m30s \(\d+%\)$/);
    // A single runner is not paused and needs no start.
    const pod = fake.podsOf(NS, kubernetesJobName(job.id, 1, "k6"))[0];
    expect(pod.spec!.containers[0].command).not.toContain("--paused");
    fake.completePod(NS, pod.metadata.name, outcome.succeed(terminationMessage({ reqs: 5, failed: 0, p95: 10 }, null)));
    await waitFor(async () => {
      const current = await call(service.client, service.client.getJobStatus, { jobId: job.id });
      return current.state === JobState.JOB_STATE_SUCCEEDED ? current : undefined;
    }, 5000, 20);
    expect(runners.starts).toEqual([]);
  });
});
