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
import { call, cleanup, startService, tempDir, waitFor, type TestService } from "./support/service.js";

const FAKE_K6 = fileURLToPath(new URL("./support/fake-k6/k6", import.meta.url));
const TERMINAL = [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];

type Target = Awaited<ReturnType<typeof startHttpTarget>>;
type LogEvent = { event: string; segment: string | null; envSegment: string | null; at: number; pid: number; requests?: number; vus?: number };

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

async function finished(service: TestService, jobId: string, timeoutMs = 20_000): Promise<Job> {
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

describe("k6 jobs on the local runtime (stand-in k6)", () => {
  let service: TestService;
  let target: Target;
  let slowTarget: Target;
  const dirs: string[] = [];

  beforeAll(async () => {
    target = await startHttpTarget((req, res) => res.writeHead(200, { "Content-Type": "application/json" }).end("[]"));
    slowTarget = await startHttpTarget((req, res) => setTimeout(() => res.writeHead(200).end("[]"), 30));
    service = await startService({ K6_BINARY: FAKE_K6, K6_START_TIMEOUT: "10s", MAX_RUNNING_JOBS: "8", DISPATCH_POLL_INTERVAL: "50ms", K6_DASHBOARD_URL: "https://grafana.example/d/k6?var-testid={testid}" });
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
    }, 10_000, 50);
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
    expect(made).toBeGreaterThan(10);
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

  it("fails fast with TARGET_UNREACHABLE when the pre-flight request gets no answer", async () => {
    const closed = await startHttpTarget();
    const url = closed.url;
    await closed.close();
    const log = join(tempDir("k6-log-"), "events.jsonl");
    dirs.push(join(log, ".."));
    const started = Date.now();
    const job = await schedule(service, k6Request("down", { scenario: "event-search", targetUrl: url, vus: 2, duration: { seconds: 30 }, preflight: true, env: { FAKE_K6_LOG: log } }));
    const done = await finished(service, job.id, 10_000);
    expect(JobState[done.state]).toBe("JOB_STATE_FAILED");
    expect(done.reason).toBe("TARGET_UNREACHABLE");
    expect(done.message).toMatch(new RegExp(`^the target ${url.replace(/[.]/g, "\\.")} is unreachable \\(ECONNREFUSED`));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(events(log)).toEqual([]);
    expect((done.result as Record<string, any>).preflight).toMatchObject({ ok: false, url });
  });

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
