// k6 jobs with the local runtime, end to end through gRPC: the service runs its k6 program
// (dist/collectors/k6.js), which runs the stand-in k6 of test/support/fake-k6 (K6_BINARY) with the
// real CLI contract: execution segments, the paused start over the REST API, summaries computed
// from real HTTP requests to a local target, exit 99 when a threshold fails.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobState, ScheduleJobRequest, type Job } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { startHttpTarget } from "./support/http-target.js";
import { call, cleanup, collect, startService, tempDir, waitFor, type TestService } from "./support/service.js";

const FAKE_K6 = fileURLToPath(new URL("./support/fake-k6/k6", import.meta.url));
const TERMINAL = [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];

type Target = Awaited<ReturnType<typeof startHttpTarget>>;
type LogEvent = { event: string; segment: string | null; envSegment: string | null; at: number; pid: number; requests?: number; vus?: number; signal?: string };

/** `script` / `scenario` become ts-proto's oneof `scriptSource`. */
function k6Request(name: string, spec: Record<string, unknown>, extra: Partial<ScheduleJobRequest> = {}): ScheduleJobRequest {
  const { script, scenario, ...rest } = spec;
  const scriptSource = script !== undefined ? { $case: "script", value: script } : scenario !== undefined ? { $case: "scenario", value: scenario } : undefined;
  return ScheduleJobRequest.fromPartial({ name, ...extra, spec: { $case: "k6", value: { ...rest, scriptSource } as never } });
}

async function schedule(service: TestService, request: ScheduleJobRequest): Promise<Job> {
  return (await call(service.client, service.client.scheduleJob, request)).job!;
}

async function getJob(service: TestService, jobId: string): Promise<Job> {
  return call(service.client, service.client.getJobStatus, { jobId });
}

async function finished(service: TestService, jobId: string, timeoutMs = 90_000): Promise<Job> {
  return waitFor(async () => {
    const job = await getJob(service, jobId);
    return TERMINAL.includes(job.state) ? job : undefined;
  }, timeoutMs, 50);
}

function events(file: string): LogEvent[] {
  return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as LogEvent) : [];
}

async function rejection(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: number; details: string };
  }
  throw new Error("expected the call to fail");
}

// Generous limits: the stand-in runners are niced child processes, slow to start on a busy machine.
describe("k6 jobs on the local runtime (stand-in k6)", { timeout: 150_000 }, () => {
  let service: TestService;
  let target: Target;
  let slowTarget: Target;
  const dirs: string[] = [];

  beforeAll(async () => {
    target = await startHttpTarget((req, res) => res.writeHead(200, { "Content-Type": "application/json" }).end("[]"));
    slowTarget = await startHttpTarget((req, res) => setTimeout(() => res.writeHead(200).end("[]"), 30));
    // A generous kill grace: a stopped run's summaries must never depend on how busy the machine is.
    service = await startService({ K6_BINARY: FAKE_K6, K6_START_TIMEOUT: "30s", KILL_GRACE_PERIOD: "60s", MAX_RUNNING_JOBS: "8", DISPATCH_POLL_INTERVAL: "50ms", K6_DASHBOARD_URL: "https://grafana.example/d/k6?var-testid={testid}" });
    dirs.push(service.dataDir);
  });

  afterAll(async () => {
    await service?.stop();
    await target?.close();
    await slowTarget?.close();
    dirs.forEach(cleanup);
  });

  it("splits a scenario over 3 runners started together and stores one merged, passing result", async () => {
    const log = join(tempDir("k6-log-"), "events.jsonl");
    dirs.push(join(log, ".."));
    const before = target.requests.length;
    const job = await schedule(service, k6Request("smoke split", {
      scenario: "http-get-smoke",
      targetUrl: target.url,
      vus: 4,
      duration: { seconds: 2 },
      thinkTime: { nanos: 100_000_000 },
      parallelism: 3,
      preflight: true,
      env: { FAKE_K6_LOG: log },
    }));
    expect(job.concurrencyKey).toBe(`k6:${new URL(target.url).host}`);

    // While it runs, the status shows elapsed/total from the test's length.
    const running = await waitFor(async () => {
      const current = await getJob(service, job.id);
      return current.state === JobState.JOB_STATE_RUNNING && current.progress ? current : undefined;
    }, 60_000, 50);
    expect(running.progress!.total).toEqual({ seconds: 2, nanos: 0 });
    expect(running.progress!.message).toMatch(/of 2s/);

    const done = await finished(service, job.id);
    expect(JobState[done.state], `${done.reason}: ${done.message}\n${done.outputTail}`).toBe("JOB_STATE_SUCCEEDED");
    expect(done.progress).toBeUndefined();
    const result = done.result as Record<string, any>;
    expect(result).toMatchObject({ verdict: "PASSED", failedThresholds: [], scenario: "http-get-smoke", parallelism: 3, testId: job.id });
    expect(result.dashboardUrl).toBe(`https://grafana.example/d/k6?var-testid=${job.id}`);
    expect(result.runners.map((r: { segment: string }) => r.segment)).toEqual(["0:1/3", "1/3:2/3", "2/3:1"]);
    expect(result.preflight).toMatchObject({ ok: true, url: target.url, status: 200 });

    // The merged count is every request the runners made (the target saw them, plus the pre-flight GET).
    const made = target.requests.length - before - 1;
    expect(result.metrics.http_reqs.values.count).toEqual({ exact: true, value: made });
    expect(made).toBeGreaterThan(0);
    // Percentiles of a split run are bounds, counts and rates exact.
    expect(result.metrics.http_req_duration.values["p(95)"].exact).toBe(false);
    expect(result.metrics.http_req_failed.values.rate).toEqual({ exact: true, value: 0 });
    // 4 VUs over 3 parts: none lost, none doubled.
    expect(result.vusMax).toBe(4);

    const seen = events(log);
    const listening = seen.filter((e) => e.event === "listening");
    const started = seen.filter((e) => e.event === "started");
    expect(listening.map((e) => e.segment).sort()).toEqual(["0:1/3", "1/3:2/3", "2/3:1"]);
    expect(started).toHaveLength(3);
    // Started only once all three were up, and together.
    expect(Math.min(...started.map((e) => e.at))).toBeGreaterThanOrEqual(Math.max(...listening.map((e) => e.at)));
    expect(Math.max(...started.map((e) => e.at)) - Math.min(...started.map((e) => e.at))).toBeLessThan(500);
    expect(seen.filter((e) => e.event === "finished").map((e) => e.envSegment).sort()).toEqual(["0:1/3", "1/3:2/3", "2/3:1"]);
    // RUNNING (and progress) from the moment the runners were started together, not their spawn.
    expect(running.startTime!.getTime()).toBeGreaterThanOrEqual(Math.max(...started.map((e) => e.at)));
    const history = await collect(service.client.watchJob({ jobId: job.id, afterSequence: 0 }));
    expect(history.map((e) => JobState[e.state])).toEqual(["JOB_STATE_QUEUED", "JOB_STATE_STARTING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]);
  });

  it("records a failed threshold (k6 exit 99) as the verdict FAILED with the merged result, never retried", async () => {
    const job = await schedule(service, k6Request("too strict", {
      scenario: "http-get-smoke",
      targetUrl: slowTarget.url,
      vus: 2,
      duration: { seconds: 1 },
      parallelism: 2,
      thinkTime: {},
      thresholds: { http_req_duration: { expressions: ["p(95)<1"] } },
    }, { retryPolicy: { maxAttempts: 3, backoffMultiplier: 0, retryOnTimeout: false } }));
    const done = await finished(service, job.id);
    expect(JobState[done.state]).toBe("JOB_STATE_FAILED");
    expect(done.reason).toBe("THRESHOLDS_FAILED");
    expect(done.message).toMatch(/^1 threshold failed: http_req_duration: p\(95\)<1 \(observed (between|at least) /);
    expect(done.attempt).toBe(1);
    expect(done.attempts).toEqual([]);
    const result = done.result as Record<string, any>;
    expect(result.verdict).toBe("FAILED");
    expect(result.failedThresholds).toHaveLength(1);
    expect(result.parts.map((p: { verdict: string }) => p.verdict)).toEqual(["FAILED", "FAILED"]);
    expect(result.metrics.http_reqs.values.count.value).toBeGreaterThan(0);
  });

  it("runs one k6 process, unpaused, for parallelism 1 and an inline script", async () => {
    const job = await schedule(service, k6Request("inline", {
      script: "import http from 'k6/http';\nexport default function () { http.get(__ENV.API_URL); }\n",
      targetUrl: target.url,
      vus: 2,
      duration: { seconds: 1 },
      thresholds: { http_req_failed: { expressions: ["rate<0.01"] } },
    }));
    const done = await finished(service, job.id);
    expect(JobState[done.state], `${done.reason}: ${done.message}\n${done.outputTail}`).toBe("JOB_STATE_SUCCEEDED");
    const result = done.result as Record<string, any>;
    expect(result).toMatchObject({ verdict: "PASSED", scenario: "script", parallelism: 1 });
    expect(result.runners).toEqual([{ index: 0, exitCode: 0, segment: null }]);
    expect(result.metrics.http_req_duration.values["p(95)"].exact).toBe(true);
    expect(result.thresholds).toEqual([expect.objectContaining({ metric: "http_req_failed", expression: "rate<0.01", ok: true, basis: "exact" })]);
  });

  it("keeps the run's result when the script's own handleSummary throws (the wrapper catches it)", async () => {
    const job = await schedule(service, k6Request("own summary throws", {
      script: "import http from 'k6/http';\nexport default function () { http.get(__ENV.API_URL); }\nexport function handleSummary(data) { throw new Error('my summary broke'); }\n",
      targetUrl: target.url,
      vus: 1,
      duration: { seconds: 1 },
    }));
    const done = await finished(service, job.id);
    expect(JobState[done.state], `${done.reason}: ${done.message}\n${done.outputTail}`).toBe("JOB_STATE_SUCCEEDED");
    expect((done.result as Record<string, any>).metrics.http_reqs.values.count.value).toBeGreaterThan(0);
    expect(done.outputTail).toContain("the script's handleSummary failed (its outputs are lost, the run's result is kept): my summary broke");
  });

  it("fails RUNNER_SUMMARY_MISSING when the runner ends 0 without leaving its summary (the disk refused it)", async () => {
    const job = await schedule(service, k6Request("summary lost", {
      script: "import http from 'k6/http';\nexport default function () { http.get(__ENV.API_URL); }\n",
      targetUrl: target.url,
      vus: 1,
      duration: { seconds: 1 },
      env: { FAKE_K6_FAIL_WRITES: "1" },
    }));
    const done = await finished(service, job.id);
    expect([JobState[done.state], done.reason], done.message).toEqual(["JOB_STATE_FAILED", "RUNNER_SUMMARY_MISSING"]);
    expect(done.message).toMatch(/^no k6 runner left a summary: runner 0 \(exit 0\) /);
    expect(done.outputTail).toContain("failed to handle the end-of-test summary");
    expect(done.attempts).toEqual([]);
  });

  it("stores the verdict NOT_EVALUATED, not PASSED, for a script without thresholds whose every request failed", async () => {
    const broken = await startHttpTarget((req, res) => res.writeHead(500).end("down"));
    try {
      const job = await schedule(service, k6Request("no thresholds", {
        script: "import http from 'k6/http';\nexport default function () { http.get(__ENV.API_URL); }\n",
        targetUrl: broken.url,
        vus: 1,
        duration: { seconds: 1 },
      }));
      const done = await finished(service, job.id, 60_000);
      expect(JobState[done.state], `${done.reason}: ${done.message}\n${done.outputTail}`).toBe("JOB_STATE_SUCCEEDED");
      const result = done.result as Record<string, any>;
      expect(result.metrics.http_req_failed.values.rate).toEqual({ exact: true, value: 1 });
      expect(result).toMatchObject({ verdict: "NOT_EVALUATED", verdictNote: "no thresholds were set: nothing was judged", thresholds: [], failedThresholds: [] });
      expect(result.parts.map((p: { verdict: string }) => p.verdict)).toEqual(["NOT_EVALUATED"]);
    } finally {
      await broken.close();
    }
  });

  it("holds each runner process to the runners' memory limit, as a pod, not the job's limit over all of them", async () => {
    // Three stand-in runners (node, ~80 MiB each) and the coordinator hold more than 200Mi
    // together, but each stays within it: the job's limit is the coordinator's, each runner's its own.
    const fits = await schedule(service, k6Request("runners fit", {
      scenario: "http-get-smoke", targetUrl: target.url, vus: 3, duration: { seconds: 1 }, parallelism: 3,
      // Judged on nothing (a busy machine's latency is not what this is about).
      thresholds: { http_req_duration: { expressions: [] }, http_req_failed: { expressions: [] } },
    }, { resources: { cpuRequest: "", cpuLimit: "", memoryRequest: "200Mi", memoryLimit: "200Mi" } }));
    const done = await finished(service, fits.id, 60_000);
    expect(JobState[done.state], `${done.reason}: ${done.message}`).toBe("JOB_STATE_SUCCEEDED");

    const tight = await schedule(service, k6Request("runners over", {
      scenario: "http-get-smoke", targetUrl: target.url, vus: 2, duration: { seconds: 30 }, parallelism: 2,
      runnerResources: { cpuLimit: "500m", memoryLimit: "32Mi" },
    }));
    const killed = await finished(service, tight.id, 60_000);
    expect([JobState[killed.state], killed.reason]).toEqual(["JOB_STATE_FAILED", "OOM_KILLED"]);
    expect(killed.message).toMatch(/^killed after one of its runners \(process group \d+\) used \d+ MiB, over the runners' memory limit of 32Mi$/);
  });

  it("fails fast with TARGET_UNREACHABLE when the pre-flight request gets no answer", async () => {
    const closed = await startHttpTarget();
    const url = closed.url;
    await closed.close();
    const log = join(tempDir("k6-log-"), "events.jsonl");
    dirs.push(join(log, ".."));
    const job = await schedule(service, k6Request("down", { scenario: "event-search", targetUrl: url, vus: 2, duration: { seconds: 30 }, preflight: true, env: { FAKE_K6_LOG: log } }));
    const done = await finished(service, job.id);
    expect(JobState[done.state]).toBe("JOB_STATE_FAILED");
    expect(done.reason).toBe("TARGET_UNREACHABLE");
    expect(done.message).toMatch(new RegExp(`^the target ${url.replace(/[.]/g, "\\.")} is unreachable \\(ECONNREFUSED`));
    expect(events(log)).toEqual([]);
    expect((done.result as Record<string, any>).preflight).toMatchObject({ ok: false, url });
    expect((done.result as Record<string, any>).verdict).toBe("NOT_EVALUATED");
    // Never RUNNING: the runners never started.
    const history = await collect(service.client.watchJob({ jobId: job.id, afterSequence: 0 }));
    expect(history.map((e) => JobState[e.state])).toEqual(["JOB_STATE_QUEUED", "JOB_STATE_STARTING", "JOB_STATE_FAILED"]);
  });

  // A stopped run keeps every runner's summary: each k6 gets exactly one SIGTERM (a second one is a
  // hard stop without summary), so the merged partial counts are what the target really received.
  for (const parallelism of [1, 3]) {
    for (const stop of ["cancel", "timeout"] as const) {
      it(`keeps the merged partial result of a ${stop === "cancel" ? "cancelled" : "timed-out"} run at parallelism ${parallelism}, counts equal to the target's`, async () => {
        const log = join(tempDir("k6-log-"), "events.jsonl");
        dirs.push(join(log, ".."));
        const path = `/stop-${stop}-${parallelism}`;
        const received = () => target.requests.filter((r) => r.url === path).length;
        const job = await schedule(service, k6Request(`${stop} p${parallelism}`, {
          scenario: "http-get-smoke",
          targetUrl: target.url,
          vus: parallelism,
          duration: { seconds: 600 },
          thinkTime: { nanos: 20_000_000 },
          parallelism,
          env: { FAKE_K6_LOG: log, SMOKE_PATH: path },
        }, stop === "timeout" ? { timeout: { seconds: 15, nanos: 0 } } : {}));
        if (stop === "cancel") {
          await waitFor(async () => (await getJob(service, job.id)).state === JobState.JOB_STATE_RUNNING, 60_000);
          await waitFor(async () => received() >= 5 * parallelism, 60_000);
          await call(service.client, service.client.cancelJob, { jobId: job.id, reason: "enough" });
        }
        const done = await finished(service, job.id, 90_000);
        if (stop === "cancel") expect(JobState[done.state], done.message).toBe("JOB_STATE_CANCELLED");
        else expect([JobState[done.state], done.reason]).toEqual(["JOB_STATE_FAILED", "TIMED_OUT"]);

        const result = done.result as Record<string, any>;
        expect(result.metrics?.http_reqs?.values.count ?? { exact: true, value: 0 }).toEqual({ exact: true, value: received() });
        expect(result.verdict).toBe("NOT_EVALUATED");
        expect(result.verdictNote).toMatch(/stopped before the end of the test/);

        const seen = events(log);
        const started = seen.filter((e) => e.event === "started");
        // A cancel waited for the load; a timeout may (on a very busy machine) hit a runner still
        // loading its script, before k6 traps signals: it then ends at once, having sent nothing.
        if (stop === "cancel") expect(started).toHaveLength(parallelism);
        expect(seen.filter((e) => e.event === "hard-stop")).toEqual([]);
        for (const { pid, segment } of started) {
          // One stop signal per k6, never a second (a hard stop), and so its summary.
          expect(seen.filter((e) => e.pid === pid && e.event === "signal").map((e) => e.signal), `k6 ${pid}`).toEqual(["SIGTERM"]);
          expect(result.runners.find((r: { segment: string | null }) => r.segment === segment)).toMatchObject({ exitCode: 105 });
        }
        expect(seen.filter((e) => e.event === "finished").reduce((sum, e) => sum + e.requests!, 0)).toBe(received());
        if (stop === "cancel") expect(received()).toBeGreaterThanOrEqual(5 * parallelism);
      });
    }
  }

  it("refuses invalid requests with INVALID_ARGUMENT naming the field", async () => {
    const bad = await rejection(schedule(service, k6Request("bad", { scenario: "event-search", targetUrl: target.url, thresholds: { http_req_duration: { expressions: ["p(95)<<2"] } } })));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/^k6\.thresholds\["http_req_duration"\]\[0\]: invalid threshold expression "p\(95\)<<2": /);
    const flag = await rejection(schedule(service, k6Request("bad", { scenario: "event-search", targetUrl: target.url, extraArgs: ["--out", "csv=/etc/passwd"] })));
    expect(flag.details).toMatch(/^k6\.extra_args\[0\]: --out is not an allowed k6 flag/);
  });
});

describe("k6 jobs on the local runtime without k6", () => {
  let service: TestService;
  beforeAll(async () => {
    service = await startService({ K6_BINARY: "k6-not-installed-here" });
  });
  afterAll(async () => {
    await service?.stop();
    if (service) cleanup(service.dataDir);
  });

  it("answers FAILED_PRECONDITION saying so", async () => {
    const error = await rejection(schedule(service, k6Request("no k6", { scenario: "http-get-smoke", targetUrl: "http://127.0.0.1:9" })));
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toBe('k6 is not available on this server: K6_BINARY "k6-not-installed-here" is not in PATH');
  });
});
