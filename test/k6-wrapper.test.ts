// What runs inside k6 and what the service makes of it, without k6: the compact summary in plain
// JavaScript (the wrapper's) gives exactly what the TypeScript reference gives; the wrapper keeps a
// script's own handleSummary and options while adding the service's thresholds; the built-in
// scenarios run one iteration against a stubbed k6 API (the requests they make, never
// /api/reset); the k6 job's parameters are checked field by field; and runner results become one
// stored result with a verdict.
import { fileURLToPath } from "node:url";
import { dirname } from "node:path";
import { describe, expect, it } from "vitest";
import { fromZodError } from "../src/api/errors.js";
import { evaluate } from "../src/hub/evaluator.js";
import { COMPACT_SUMMARY_JS } from "../src/jobs/k6/compact-summary-js.js";
import { compactSummary, jsonByteLength } from "../src/jobs/k6/compact-summary.js";
import { k6Handler, scriptEnv, DEFAULT_K6_OPTIONS } from "../src/jobs/k6/handler.js";
import type { K6Params } from "../src/jobs/k6/params.js";
import { k6Result } from "../src/jobs/k6/result.js";
import { SCENARIOS } from "../src/jobs/k6/scenarios/index.js";
import { WRAPPER_SOURCE } from "../src/jobs/k6/wrapper.js";
import type { RunEnd } from "../src/runtime/runtime.js";
import { counter, judged, summaryData, trend, type Metric } from "./support/fake-k6/summary-data.js";
import { makeJob } from "./support/job-fixtures.js";

const FAKE_K6_DIR = dirname(fileURLToPath(new URL("./support/fake-k6/k6", import.meta.url)));

// ---- k6-shaped summary data: test/support/fake-k6/summary-data.ts ----

const jsCompact = new Function(`${COMPACT_SUMMARY_JS}\nreturn __jobschedulerCompactSummary;`)() as (data: unknown, options?: { segment?: string | null; byteBudget?: number }) => unknown;

describe("the compact summary in plain JavaScript (inside k6) matches the TypeScript reference", () => {
  const many: Record<string, Metric> = {};
  for (let i = 0; i < 60; i++) many[`http_req_duration{name:GET /api/events/${i}?page=1&pageSize=20}`] = trend(100 + i, 300 + i);
  many["custom_ünïcödé_€"] = counter(7, 30);
  many["booked_tickets"] = judged(counter(40, 30), ["count>10"]);
  const fixtures: [string, unknown, { segment?: string | null; byteBudget?: number }][] = [
    ["a typical run", summaryData({ reqs: 1200, failed: 12, p95: 850 }), {}],
    ["a split part with a failing threshold", summaryData({ reqs: 400, failed: 40, p95: 2500 }), { segment: "1/3:2/3" }],
    ["a run with too many metrics for 4 KiB", summaryData({ reqs: 900, failed: 3, p95: 700, extra: many }), { segment: "0:1/4" }],
    [
      "a budget so small that verdicts of dropped metrics are lost",
      summaryData({ reqs: 900, failed: 3, p95: 700, extra: many, thresholds: { http_req_duration: ["p(95)<2000", "avg<500"], http_req_failed: ["rate<0.05"], checks: ["rate>0.9"] } }),
      { byteBudget: 300 },
    ],
    ["checks and groups keyed by name (older k6)", { ...summaryData({ reqs: 10, failed: 0, p95: 10 }), root_group: { checks: { a: { passes: 2, fails: 1 } }, groups: { g: { checks: { b: { passes: 5, fails: 0 } } } } } }, {}],
  ];

  for (const [name, data, options] of fixtures) {
    it(name, () => {
      const reference = compactSummary(data, options);
      const js = jsCompact(JSON.parse(JSON.stringify(data)), options);
      expect(js).toEqual(reference);
      // Byte for byte: same keys in the same order, so the same budget decisions.
      expect(JSON.stringify(js)).toBe(JSON.stringify(reference));
      expect(jsonByteLength(js)).toBeLessThanOrEqual(options.byteBudget ?? 4000);
    });
  }

  it("drops metrics in the big fixture but keeps thresholded ones (so the test above means something)", () => {
    const summary = compactSummary(fixtures[2][1], fixtures[2][2]);
    expect(summary.dropped.count).toBeGreaterThan(0);
    expect(Object.keys(summary.metrics)).toEqual(expect.arrayContaining(["http_req_duration", "http_req_failed", "booked_tickets"]));
    expect(compactSummary(fixtures[3][1], fixtures[3][2]).dropped.thresholdsLost).toBeGreaterThan(0);
  });

  it("fails the same way on data without the trend stats the merge needs", () => {
    const bad = summaryData({ reqs: 1, failed: 0, p95: 1 });
    delete (bad.metrics.http_req_duration.values as Record<string, number>).med;
    expect(() => compactSummary(bad)).toThrow(/summaryTrendStats must include avg, min, med and max \(missing med\)/);
    expect(() => jsCompact(bad)).toThrow(/summaryTrendStats must include avg, min, med and max \(missing med\)/);
  });
});

// ---- the wrapper (main.js) ----

interface Wrapped {
  options: Record<string, unknown>;
  handleSummary(data: unknown): Record<string, string>;
}

/** main.js with its module lines replaced by a given `script` namespace, evaluated as a function. */
function loadWrapper(script: Record<string, unknown>, env: Record<string, string>): Wrapped {
  const body = WRAPPER_SOURCE.replace(/^import \* as script from .*$/m, "")
    .replace(/^export \* from .*$/m, "")
    .replace(/^export default script\.default;$/m, "")
    .replace(/^export var options/m, "var options")
    .replace(/^export function handleSummary/m, "function handleSummary");
  expect(body).not.toMatch(/^\s*(import|export)\b/m);
  return new Function("script", "__ENV", `${body}\nreturn { options: options, handleSummary: handleSummary };`)(script, env) as Wrapped;
}

describe("the wrapper around the user's script", () => {
  it("re-exports the script and keeps its module shape", () => {
    expect(WRAPPER_SOURCE).toMatch(/^import \* as script from "\.\/script\.js";$/m);
    expect(WRAPPER_SOURCE).toMatch(/^export \* from "\.\/script\.js";$/m);
    expect(WRAPPER_SOURCE).toMatch(/^export default script\.default;$/m);
  });

  it("adds the service's thresholds per metric ([] removes one) and the trend stats they need", () => {
    const wrapped = loadWrapper(
      { options: { vus: 3, thresholds: { http_req_duration: ["p(95)<500"], checks: ["rate>0.9"], http_req_failed: [{ threshold: "rate<0.1", abortOnFail: true }] }, summaryTrendStats: ["avg", "p(99.9)"] } },
      { JOBSCHEDULER_K6_THRESHOLDS: JSON.stringify({ http_req_duration: ["p(99)<800"], checks: [] }) },
    );
    expect(wrapped.options.vus).toBe(3);
    expect(wrapped.options.thresholds).toEqual({ http_req_duration: ["p(99)<800"], http_req_failed: [{ threshold: "rate<0.1", abortOnFail: true }] });
    expect(wrapped.options.summaryTrendStats).toEqual(["avg", "min", "med", "max", "p(90)", "p(95)", "p(99.9)", "p(99)"]);
  });

  it("keeps a handleSummary the script defines and adds the compact summary at JOB_RESULT_FILE", () => {
    const data = summaryData({ reqs: 100, failed: 1, p95: 300 });
    const own = (d: typeof data) => ({ stdout: "my summary\n", "/tmp/mine.json": JSON.stringify({ reqs: d.metrics.http_reqs.values.count }) });
    const wrapped = loadWrapper({ handleSummary: own }, { JOB_RESULT_FILE: "/tmp/result.json", JOBSCHEDULER_K6_SEGMENT: "0:1/2" });
    const outputs = wrapped.handleSummary(data);
    expect(outputs.stdout).toBe("my summary\n");
    expect(JSON.parse(outputs["/tmp/mine.json"])).toEqual({ reqs: 100 });
    expect(JSON.parse(outputs["/tmp/result.json"])).toEqual(compactSummary(data, { segment: "0:1/2" }));
  });

  it("without one, prints a short summary and writes the termination message by default", () => {
    const outputs = loadWrapper({}, {}).handleSummary(summaryData({ reqs: 100, failed: 1, p95: 300 }));
    expect(outputs.stdout).toMatch(/http_reqs: 100/);
    expect(outputs.stdout).toMatch(/ok {4} http_req_duration: p\(95\)<2000/);
    expect(JSON.parse(outputs["/dev/termination-log"]).segment).toBeNull();
  });

  it("reports a summary it cannot compact instead of failing the run", () => {
    const outputs = loadWrapper({}, { JOB_RESULT_FILE: "/r" }).handleSummary({ state: {}, metrics: {} });
    expect(JSON.parse(outputs["/r"]).error).toMatch(/could not compact the summary/);
  });
});

// ---- the built-in scenarios, one iteration against a stubbed k6 ----

interface Call {
  method: string;
  url: string;
  body?: unknown;
}

function runScenario(source: string, env: Record<string, string>, answer: (call: Call) => { status: number; body?: unknown } = () => ({ status: 200, body: [] })) {
  const calls: Call[] = [];
  const respond = (method: string, url: string, body?: string) => {
    const call = { method, url, body: body === undefined ? undefined : JSON.parse(body) };
    calls.push(call);
    const { status, body: json } = answer(call);
    return { status, json: () => json };
  };
  const http = {
    get: (url: string) => respond("GET", url),
    post: (url: string, body: string) => respond("POST", url, body),
    patch: (url: string, body: string) => respond("PATCH", url, body),
    expectedStatuses: (...codes: unknown[]) => ({ codes }),
  };
  const check = (value: unknown, checks: Record<string, (v: unknown) => boolean>) => Object.values(checks).every((fn) => fn(value));
  const counters: Record<string, number> = {};
  class Counter {
    constructor(private readonly name: string) {}
    add(n: number) {
      counters[this.name] = (counters[this.name] ?? 0) + n;
    }
  }
  const encoding = { b64encode: (text: string) => Buffer.from(text).toString("base64") };
  const body = source
    .replace(/^import .*$/gm, "")
    .replace(/^export var options/m, "var options")
    .replace(/^export function setup/m, "function setup")
    .replace(/^export default function/m, "function __default");
  expect(body).not.toMatch(/^\s*(import|export)\b/m);
  const module = new Function("http", "check", "sleep", "Counter", "encoding", "__ENV", `${body}\nreturn { options: options, setup: typeof setup === "function" ? setup : undefined, run: __default };`)(
    http, check, () => {}, Counter, encoding, env,
  ) as { options: { scenarios: Record<string, Record<string, unknown>>; thresholds: unknown }; setup?: () => unknown; run: (data?: unknown) => void };
  const data = module.setup?.();
  module.run(data);
  return { calls, options: module.options, counters };
}

describe("the built-in scenarios", () => {
  const env = { API_URL: "https://team.example/" };

  it("are the five the issue lists, each parameterised by API_URL, VUS, DURATION or STAGES and THINK_TIME", () => {
    expect(SCENARIOS.map((s) => s.name)).toEqual(["http-get-smoke", "event-search", "archive-search", "auth-login", "ticket-booking"]);
    for (const scenario of SCENARIOS) {
      const constant = runScenario(scenario.source, { ...env, VUS: "7", DURATION: "45s", THINK_TIME: "0" });
      const shape = constant.options.scenarios[scenario.name];
      expect(shape.vus).toBe(7);
      expect(shape.duration ?? shape.maxDuration).toBe("45s");
      expect(constant.options.thresholds).toEqual(scenario.thresholds);
      const staged = runScenario(scenario.source, { ...env, STAGES: JSON.stringify([{ duration: "10s", target: 5 }, { duration: "20s", target: 0 }]) });
      expect(staged.options.scenarios[scenario.name]).toMatchObject({ executor: "ramping-vus", stages: [{ duration: "10s", target: 5 }, { duration: "20s", target: 0 }] });
      expect(() => runScenario(scenario.source, {})).toThrow(/API_URL is required/);
      for (const call of constant.calls) expect(call.url).not.toMatch(/\/api\/reset/i);
    }
  });

  it("search with read-only GETs of the event list", () => {
    const events = runScenario(SCENARIOS[1].source, env).calls;
    expect(events).toHaveLength(1);
    expect(events[0].method).toBe("GET");
    expect(events[0].url).toMatch(/^https:\/\/team\.example\/api\/events\?query=[^&]+&page=\d&pageSize=20$/);
    const archive = runScenario(SCENARIOS[2].source, { ...env, ARCHIVE_FROM: "2023-05-01", ARCHIVE_TO: "2023-05-01" }).calls;
    expect(archive.map((c) => c.method)).toEqual(["GET"]);
    expect(archive[0].url).toMatch(/\/api\/events\?query=[^&]+&date=2023-05-01&page=1&pageSize=20$/);
    expect(runScenario(SCENARIOS[0].source, { ...env, SMOKE_PATH: "/api/analytics?id=1" }).calls).toEqual([{ method: "GET", url: "https://team.example/api/analytics?id=1", body: undefined }]);
  });

  it("auth-login sends HTTP Basic credentials of the configured users, a fixed number of iterations", () => {
    const run = runScenario(SCENARIOS[3].source, { ...env, USERS: "a@x.io:pw1", ITERATIONS: "250" });
    expect(run.options.scenarios["auth-login"]).toMatchObject({ executor: "shared-iterations", iterations: 250 });
    expect(run.calls).toEqual([{ method: "GET", url: "https://team.example/api/bookings", body: undefined }]);
  });

  it("ticket-booking books: create, free seat, select, initiate payment; counts booked tickets", () => {
    const run = runScenario(SCENARIOS[4].source, env, (call) => {
      if (call.method === "GET" && call.url.includes("/api/events")) return { status: 200, body: [{ id: 11 }] };
      if (call.method === "POST") return { status: 201, body: { id: 501 } };
      if (call.url.includes("/api/seats?")) return { status: 200, body: [{ id: "s-9", status: "FREE" }] };
      return { status: 200, body: {} };
    });
    expect(run.calls.map((c) => `${c.method} ${c.url.replace("https://team.example", "").split("?")[0]}`)).toEqual([
      "GET /api/events",
      "POST /api/bookings",
      "GET /api/seats",
      "PATCH /api/seats/select",
      "PATCH /api/bookings/initiatePayment",
    ]);
    expect(run.calls[1].body).toEqual({ event_id: 11 });
    expect(run.calls[3].body).toEqual({ booking_id: 501, seat_id: "s-9" });
    expect(run.calls[4].body).toEqual({ booking_id: 501 });
    expect(run.counters.booked_tickets).toBe(1);
  });
});

// ---- parameters ----

const handler = k6Handler({ runtime: "kubernetes", maxVus: 100, maxParallelism: 5 });

function problem(spec: Record<string, unknown>): string {
  const parsed = handler.paramsSchema.safeParse(spec);
  if (parsed.success) return "valid";
  return fromZodError(parsed.error, ["k6"]).message;
}

function params(spec: Record<string, unknown>): K6Params {
  const parsed = handler.paramsSchema.safeParse(spec);
  if (!parsed.success) throw new Error(fromZodError(parsed.error, ["k6"]).message);
  return parsed.data;
}

describe("k6 parameters", () => {
  const base = { scenario: "event-search", targetUrl: "https://team.example" };

  it("name the field at fault", () => {
    expect(problem({ ...base, thresholds: { http_req_duration: { expressions: ["p(95)<2000", "p95<<2000"] } } })).toBe(
      'k6.thresholds["http_req_duration"][1]: invalid threshold expression "p95<<2000": unknown aggregation "p95" (expected avg, min, med, max, p(N), count, rate or value)',
    );
    expect(problem({ ...base, thresholds: { http_req_failed: { expressions: ["p(95)<1"] } } })).toBe('k6.thresholds["http_req_failed"][0]: p(95)<1: a rate metric only takes rate');
    expect(problem({ ...base, thresholds: { "bad metric!": { expressions: ["rate<1"] } } })).toMatch(/^k6\.thresholds\["bad metric!"\]: is not a k6 metric name/);
    expect(problem({ targetUrl: "https://team.example" })).toMatch(/^k6\.scenario: a script or a scenario is required/);
    expect(problem({ ...base, scenario: "nope" })).toMatch(/^k6\.scenario: "nope" is not a built-in scenario \(one of: http-get-smoke, event-search/);
    expect(problem({ scenario: "event-search" })).toMatch(/^k6\.target_url: is required for a built-in scenario/);
    expect(problem({ ...base, targetUrl: "https://team.example/api/reset" })).toMatch(/^k6\.target_url: must not point at \/api\/reset/);
    expect(problem({ ...base, targetUrl: "ftp://x" })).toBe("k6.target_url: must be an absolute http(s) URL");
    expect(problem({ ...base, env: { K6_OUT: "csv=/etc/x" } })).toMatch(/^k6\.env\["K6_OUT"\]: K6_\* variables configure k6 itself/);
    expect(problem({ ...base, env: { API_URL: "x" } })).toBe('k6.env["API_URL"]: is set from target_url');
    expect(problem({ ...base, vus: 101 })).toBe("k6.vus: must be between 1 and 100 (K6_MAX_VUS)");
    expect(problem({ ...base, vus: 2, parallelism: 3 })).toBe("k6.parallelism: 3 runners need at least 3 VUs, the test has 2");
    expect(problem({ ...base, parallelism: 6 })).toBe("k6.parallelism: must be between 1 and 5 (K6_MAX_PARALLELISM)");
    expect(problem({ ...base, duration: { seconds: 10 }, stages: [{ duration: { seconds: 5 }, target: 2 }] })).toMatch(/^k6\.stages: cannot be combined with duration/);
    expect(problem({ ...base, stages: [{ duration: { seconds: 5 }, target: 200 }] })).toBe("k6.stages[0].target: must be between 0 and 100 (K6_MAX_VUS)");
    expect(problem({ ...base, extraArgs: ["--out", "json=/tmp/x"] })).toMatch(/^k6\.extra_args\[0\]: --out is not an allowed k6 flag \(allowed: /);
    expect(problem({ ...base, extraArgs: ["--rps", "ten"] })).toBe('k6.extra_args[1]: --rps value "ten" is not valid');
    expect(problem({ ...base, extraArgs: ["--tag", "testid=x"] })).toBe("k6.extra_args[1]: the tag testid is set by the service");
    expect(problem({ ...base, extraArgs: ["-e", "A=1"] })).toMatch(/^k6\.extra_args\[0\]: -e is not an allowed k6 flag/);
    expect(problem({ ...base, runnerResources: { cpuRequest: "500m", cpuLimit: "1", memoryLimit: "1Gi" } })).toMatch(/^k6\.runner_resources\.cpu_request: must equal cpu_limit/);
    expect(problem({ ...base, thinkTime: { seconds: 120 } })).toBe("k6.think_time: must be between 0s and 0.016666666666666666h");
    expect(problem({ script: "export default function () {}", preflight: true })).toMatch(/^k6\.preflight: needs target_url/);
    expect(problem({ script: "   " })).toBe("k6.script: must not be empty");
  });

  it("apply the scenario's defaults and replace its thresholds per metric", () => {
    const p = params({ ...base, thresholds: { http_req_duration: { expressions: ["p(99)<3000"] }, http_req_failed: {} }, extraArgs: ["--rps", "50", "--http-debug"] });
    expect(p).toMatchObject({ scenario: "event-search", script: null, parallelism: 1, image: "grafana/k6:1.2.0", vus: null, expectedRunMs: 60_000 });
    expect(p.thresholds).toEqual({ http_req_duration: ["p(99)<3000"] });
    expect(p.extraArgs).toEqual(["--rps=50", "--http-debug"]);
    const env = scriptEnv(p, DEFAULT_K6_OPTIONS);
    expect(env).toMatchObject({ API_URL: "https://team.example", VUS: "50", DURATION: "60s" });
    const staged = params({ ...base, stages: [{ duration: { seconds: 30 }, target: 10 }, { duration: { seconds: 15 }, target: 0 }], thinkTime: { nanos: 500_000_000 } });
    expect(staged.expectedRunMs).toBe(45_000);
    expect(scriptEnv(staged, DEFAULT_K6_OPTIONS)).toMatchObject({ STAGES: '[{"duration":"30s","target":10},{"duration":"15s","target":0}]', THINK_TIME: "0.5" });
    expect(scriptEnv(staged, DEFAULT_K6_OPTIONS).VUS).toBeUndefined();
  });

  it("default the concurrency key to the target host and never retry a verdict", () => {
    expect(handler.defaultConcurrencyKey!(params(base))).toBe("k6:team.example");
    expect(handler.defaultConcurrencyKey!(params({ script: "export default function () {}" }))).toBeNull();
    const output = { rawResult: null, outputTail: "" };
    const policy = { initialBackoffMs: 1, multiplier: 1, maxBackoffMs: 1, jitter: 0, retryOnTimeout: true };
    expect(handler.isRetryable!({ kind: "exited", exitCode: 99, output } as RunEnd, policy)).toBe(false);
    expect(handler.isRetryable!({ kind: "failed", reason: "TARGET_UNREACHABLE", message: "", output }, policy)).toBe(false);
    expect(handler.isRetryable!({ kind: "failed", reason: "RUNNERS_NOT_STARTED", message: "", output }, policy)).toBe(true);
    expect(handler.verdictExitCodes).toEqual([99]);
  });

  it("say when there is no k6 for local runs", () => {
    expect(k6Handler({ runtime: "local", pathEnv: "/nonexistent" }).unavailableReason!()).toMatch(/k6 is not available on this server: no k6 binary in PATH and K6_BINARY is not set/);
    expect(k6Handler({ runtime: "local", binary: "/nonexistent/k6" }).unavailableReason!()).toBe("k6 is not available on this server: K6_BINARY /nonexistent/k6 does not exist");
    expect(k6Handler({ runtime: "local", pathEnv: `/nonexistent:${FAKE_K6_DIR}` }).unavailableReason!()).toBeNull();
    expect(k6Handler({ runtime: "kubernetes", pathEnv: "/nonexistent" }).unavailableReason!()).toBeNull();
  });
});

// ---- results ----

describe("runner results → one stored result", () => {
  const parts = (specs: { reqs: number; failed: number; p95: number; thresholds?: Record<string, string[]> }[], exitCode = 0) =>
    JSON.stringify({
      runners: specs.map((spec, index) => ({
        index,
        exitCode,
        result: JSON.stringify(compactSummary(summaryData({ ...spec, seconds: 30 }), { segment: `${index}/${specs.length}:${index + 1}/${specs.length}`.replace(/^0\/\d+/, "0").replace(/(\d+)\/\1$/, "1") })),
      })),
    });
  const job = (extra: Record<string, unknown> = {}) =>
    makeJob({ id: "job-1", type: "k6", team: { slug: "Team X", hackathonId: "h" }, params: { scenario: "event-search", targetUrl: "https://t.example", parallelism: 3, ...extra } });

  it("merges the parts, says which figures are exact and which are bounds, and links the dashboard", () => {
    const parsed = k6Result(parts([{ reqs: 100, failed: 1, p95: 300 }, { reqs: 200, failed: 2, p95: 500 }, { reqs: 300, failed: 3, p95: 400 }]), job(), {
      dashboardUrl: "https://grafana.example/d/k6?var-testid={testid}&var-team={team}&var-scenario={scenario}",
    });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.failure).toBeUndefined();
    const result = parsed.result as Record<string, any>;
    expect(result).toMatchObject({ verdict: "PASSED", failedThresholds: [], testId: "job-1", scenario: "event-search", parallelism: 3, vusMax: 30 });
    expect(result.dashboardUrl).toBe("https://grafana.example/d/k6?var-testid=job-1&var-team=Team%20X&var-scenario=event-search");
    expect(result.grafanaDashboardUrl).toBe(result.dashboardUrl);
    expect(result.metrics.http_reqs.values.count).toEqual({ exact: true, value: 600 });
    expect(result.metrics.http_req_duration.values["p(95)"]).toEqual({ exact: false, lower: 300, upper: 500 });
    expect(result.parts.map((p: { part: string }) => p.part)).toEqual(["0:1/3", "1/3:2/3", "2/3:1"]);
    expect(result.runners).toEqual([
      { index: 0, exitCode: 0, segment: "0:1/3" },
      { index: 1, exitCode: 0, segment: "1/3:2/3" },
      { index: 2, exitCode: 0, segment: "2/3:1" },
    ]);
  });

  it("fails a threshold that passes on every part but not on the whole run", () => {
    const thresholds = { http_reqs: ["count<250"] };
    const parsed = k6Result(parts([{ reqs: 100, failed: 0, p95: 300, thresholds }, { reqs: 200, failed: 0, p95: 300, thresholds }, { reqs: 200, failed: 0, p95: 300, thresholds }]), job());
    expect(parsed.ok && parsed.failure).toEqual({ reason: "THRESHOLDS_FAILED", message: "1 threshold failed: http_reqs: count<250 (observed 500)" });
    expect(parsed.ok && (parsed.result as Record<string, any>).parts.every((p: { verdict: string }) => p.verdict === "PASSED")).toBe(true);
  });

  it("fails a run with a part missing, an unreachable target, or no summaries at all", () => {
    const two = JSON.parse(parts([{ reqs: 100, failed: 1, p95: 300 }, { reqs: 100, failed: 1, p95: 300 }]));
    const missing = k6Result(JSON.stringify({ runners: [...two.runners, { index: 2, exitCode: 107, result: null }] }), job());
    expect(missing.ok && missing.failure?.reason).toBe("RUNNER_SUMMARY_MISSING");
    expect(missing.ok && missing.failure?.message).toMatch(/1 of 3 k6 runners left no summary.*runner 2 \(exit 107\) wrote no summary/);
    const unreachable = k6Result(JSON.stringify({ runners: [], preflight: { ok: false, url: "https://t.example", error: "ECONNREFUSED", durationMs: 3 } }), job());
    expect(unreachable.ok && unreachable.failure).toEqual({ reason: "TARGET_UNREACHABLE", message: "the target https://t.example is unreachable (ECONNREFUSED); the load test was not started" });
    const none = k6Result(JSON.stringify({ runners: [{ index: 0, exitCode: 107, result: null }] }), job({ parallelism: 1 }));
    expect(none.ok && none.failure?.reason).toBe("RUNNER_SUMMARY_MISSING");
    expect(k6Result("not json", job())).toEqual({ ok: false, message: "k6 result is not JSON" });
  });

  it("says NOT_EVALUATED, never PASSED, when no threshold judged the run, and never FAILED for a stopped one", () => {
    // No thresholds: every request failed, and nothing judged it.
    const unjudged = k6Result(parts([{ reqs: 100, failed: 100, p95: 300, thresholds: {} }, { reqs: 100, failed: 100, p95: 300, thresholds: {} }]), job({ parallelism: 2 }));
    expect(unjudged.ok && unjudged.failure).toBeUndefined();
    const result = (unjudged.ok ? unjudged.result : {}) as Record<string, any>;
    expect(result).toMatchObject({ verdict: "NOT_EVALUATED", verdictNote: "no thresholds were set: nothing was judged", thresholds: [], failedThresholds: [] });
    expect(result.parts.map((p: { verdict: string }) => p.verdict)).toEqual(["NOT_EVALUATED", "NOT_EVALUATED"]);
    // The Hub judges such a run on its own criterion's figures (it ends SUCCEEDED).
    const hubInput = { criteriaType: "EVENT_SEARCH" as const, jobType: "k6", params: {} };
    expect(evaluate({ ...hubInput, state: "SUCCEEDED", reason: "", result })).toMatchObject({ status: "FAILED" });

    // Stopped (the program says so, or k6 exited 105 after a stop signal): partial, not judged, even with failed thresholds.
    const thresholds = { http_reqs: ["count<150"] };
    for (const raw of [
      JSON.stringify({ ...JSON.parse(parts([{ reqs: 100, failed: 0, p95: 300, thresholds }, { reqs: 100, failed: 0, p95: 300, thresholds }])), stopped: true }),
      parts([{ reqs: 100, failed: 0, p95: 300, thresholds }, { reqs: 100, failed: 0, p95: 300, thresholds }], 105),
    ]) {
      const stopped = k6Result(raw, job({ parallelism: 2 }));
      expect(stopped.ok && stopped.failure?.reason).toBe("RUNNERS_STOPPED");
      const partial = (stopped.ok ? stopped.result : {}) as Record<string, any>;
      expect(partial.verdict).toBe("NOT_EVALUATED");
      expect(partial.verdictNote).toMatch(/stopped before the end of the test/);
      expect(partial.metrics.http_reqs.values.count).toEqual({ exact: true, value: 200 });
      // A timed-out run (FAILED / TIMED_OUT) measured nothing the Hub may report.
      expect(evaluate({ ...hubInput, state: "FAILED", reason: "TIMED_OUT", result: partial })).toBeNull();
    }
    const stoppedEarly = k6Result(JSON.stringify({ runners: [], stopped: true }), job({ parallelism: 2 }));
    expect(stoppedEarly.ok && (stoppedEarly.result as Record<string, any>).verdict).toBe("NOT_EVALUATED");
  });
});
