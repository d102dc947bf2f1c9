// k6's handleSummary `data` as k6 v1 hands it over (k6.md), for tests that need a runner's
// summary without running k6: trends with the default stats, rates with passes/fails (for
// http_req_failed a pass is a failed request), counters, gauges, nested groups of checks, and
// each threshold judged on the part's own figures, as k6 does.
import { compactSummary } from "../../../src/jobs/k6/compact-summary.js";
import { evaluateThreshold, parseThreshold } from "../../../src/jobs/k6/thresholds.js";

export type Metric = { type: string; contains: string; values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> };

export function trend(avg: number, p95: number, extra: Record<string, number> = {}): Metric {
  return { type: "trend", contains: "time", values: { avg, min: avg / 10, med: avg * 0.9, max: p95 * 3, "p(90)": p95 * 0.8, "p(95)": p95, ...extra } };
}
export const counter = (count: number, seconds: number): Metric => ({ type: "counter", contains: "default", values: { count, rate: count / seconds } });
export const rate = (passes: number, fails: number): Metric => ({ type: "rate", contains: "default", values: { rate: passes / (passes + fails), passes, fails } });

export function judged(metric: Metric, expressions: string[]): Metric {
  return {
    ...metric,
    thresholds: Object.fromEntries(expressions.map((e) => [e, { ok: evaluateThreshold(parseThreshold(e), metric.values)?.ok ?? false }])),
  };
}

export interface PartFigures {
  reqs: number;
  failed: number;
  p95: number;
  seconds?: number;
  vus?: number;
  extra?: Record<string, Metric>;
  /** Default: p(95)<2000 on http_req_duration and rate<0.05 on http_req_failed. */
  thresholds?: Record<string, string[]>;
}

export function summaryData(options: PartFigures) {
  const seconds = options.seconds ?? 30;
  const vus = options.vus ?? 10;
  const metrics: Record<string, Metric> = {
    http_reqs: counter(options.reqs, seconds),
    http_req_failed: rate(options.failed, options.reqs - options.failed),
    http_req_duration: trend(120, options.p95),
    "http_req_duration{expected_response:true}": trend(118, options.p95 * 0.98),
    iterations: counter(options.reqs, seconds),
    iteration_duration: trend(1100, 1500),
    checks: rate(options.reqs - options.failed, options.failed),
    vus: { type: "gauge", contains: "default", values: { value: 0, min: 0, max: vus } },
    vus_max: { type: "gauge", contains: "default", values: { value: vus, min: vus, max: vus } },
    data_received: { type: "counter", contains: "data", values: { count: options.reqs * 2000, rate: (options.reqs * 2000) / seconds } },
    ...options.extra,
  };
  for (const [name, expressions] of Object.entries(options.thresholds ?? { http_req_duration: ["p(95)<2000"], http_req_failed: ["rate<0.05"] })) {
    metrics[name] = judged(metrics[name], expressions);
  }
  return {
    root_group: {
      name: "",
      path: "",
      id: "d41d8cd98f00b204e9800998ecf8427e",
      groups: [{ name: "flow", path: "::flow", id: "x", groups: [], checks: [{ name: "inner", path: "::flow::inner", id: "y", passes: 3, fails: 1 }] }],
      checks: [{ name: "status is 200", path: "::status is 200", id: "z", passes: options.reqs - options.failed, fails: options.failed }],
    },
    options: { summaryTrendStats: ["avg", "min", "med", "max", "p(90)", "p(95)"], summaryTimeUnit: "", noColor: false },
    state: { isStdOutTTY: false, isStdErrTTY: false, testRunDurationMs: seconds * 1000 },
    metrics,
  };
}

/** A runner's termination message: the compact summary of its part. */
export function terminationMessage(figures: PartFigures, segment: string | null): string {
  return JSON.stringify(compactSummary(summaryData(figures), { segment }));
}
