import { describe, expect, it } from "vitest";
import {
  type CompactSummary,
  compactSummary,
  DEFAULT_BYTE_BUDGET,
  jsonByteLength,
  parseCompactSummary,
} from "../src/jobs/k6/compact-summary.js";
import { mergeSummaries, MergeResultSchema, type ThresholdOutcome } from "../src/jobs/k6/merge.js";
import {
  evaluateOnInterval,
  evaluateThreshold,
  parseThreshold,
  summaryTrendStatsFor,
  ThresholdSyntaxError,
  validateThresholds,
} from "../src/jobs/k6/thresholds.js";

// ---- fixtures: k6 handleSummary `data` as k6 v1 hands it over (see k6.md) ----

const SUMMARY_TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)"];

interface TrendStats {
  avg: number;
  min: number;
  med: number;
  max: number;
  p90: number;
  p95: number;
}

interface K6MetricFixture {
  type: "trend" | "rate" | "counter" | "gauge";
  contains: "time" | "data" | "default";
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

interface PartSpec {
  durationMs: number;
  reqs: number;
  failedReqs: number;
  duration: TrendStats;
  vusMax: number;
  /** metric → threshold expressions, judged on this part alone as k6 would. */
  thresholds?: Record<string, string[]>;
  extraMetrics?: Record<string, K6MetricFixture>;
}

const DEFAULT_THRESHOLDS = {
  http_req_duration: ["p(95)<2000"],
  http_req_failed: ["rate<0.05"],
};

function trend(stats: TrendStats): K6MetricFixture {
  const { avg, min, med, max, p90, p95 } = stats;
  return { type: "trend", contains: "time", values: { avg, min, med, max, "p(90)": p90, "p(95)": p95 } };
}

function scaled(stats: TrendStats, factor: number): TrendStats {
  const { avg, min, med, max, p90, p95 } = stats;
  const times = (value: number) => value * factor;
  return { avg: times(avg), min: times(min), med: times(med), max: times(max), p90: times(p90), p95: times(p95) };
}

function counter(count: number, durationMs: number, contains: "data" | "default" = "default"): K6MetricFixture {
  return { type: "counter", contains, values: { count, rate: count / (durationMs / 1000) } };
}

function rate(passes: number, fails: number): K6MetricFixture {
  return { type: "rate", contains: "default", values: { rate: passes / (passes + fails), passes, fails } };
}

function k6Data(spec: PartSpec) {
  const ok = spec.reqs - spec.failedReqs;
  const metrics: Record<string, K6MetricFixture> = {
    checks: rate(ok, spec.failedReqs),
    data_received: counter(spec.reqs * 1843, spec.durationMs, "data"),
    data_sent: counter(spec.reqs * 96, spec.durationMs, "data"),
    http_req_blocked: trend({ avg: 0.012, min: 0.001, med: 0.004, max: 3.1, p90: 0.007, p95: 0.009 }),
    http_req_connecting: trend({ avg: 0.004, min: 0, med: 0, max: 1.2, p90: 0, p95: 0 }),
    http_req_duration: trend(spec.duration),
    "http_req_duration{expected_response:true}": trend(scaled(spec.duration, 0.97)),
    http_req_failed: rate(spec.failedReqs, ok), // a "pass" here is a failed request
    http_req_receiving: trend({ avg: 0.08, min: 0.01, med: 0.06, max: 4.2, p90: 0.12, p95: 0.15 }),
    http_req_sending: trend({ avg: 0.02, min: 0.004, med: 0.015, max: 1.1, p90: 0.03, p95: 0.04 }),
    http_req_tls_handshaking: trend({ avg: 0, min: 0, med: 0, max: 0, p90: 0, p95: 0 }),
    http_req_waiting: trend(scaled(spec.duration, 0.99)),
    http_reqs: counter(spec.reqs, spec.durationMs),
    iteration_duration: trend(scaled(spec.duration, 1.02)),
    iterations: counter(spec.reqs, spec.durationMs),
    vus: { type: "gauge", contains: "default", values: { value: 1, min: 1, max: spec.vusMax } },
    vus_max: { type: "gauge", contains: "default", values: { value: spec.vusMax, min: spec.vusMax, max: spec.vusMax } },
    ...spec.extraMetrics,
  };
  for (const [name, expressions] of Object.entries(spec.thresholds ?? DEFAULT_THRESHOLDS)) {
    const metric = metrics[name];
    metric.thresholds = Object.fromEntries(
      expressions.map((expression) => [
        expression,
        { ok: evaluateThreshold(parseThreshold(expression), metric.values)?.ok ?? false },
      ]),
    );
  }
  return {
    root_group: {
      name: "",
      path: "",
      id: "d41d8cd98f00b204e9800998ecf8427e",
      groups: [],
      checks: [
        {
          name: "status is 200",
          path: "::status is 200",
          id: "6210a8cd14cd70477eba5c5e4cb3fb5f",
          passes: ok,
          fails: spec.failedReqs,
        },
      ],
    },
    options: { summaryTrendStats: SUMMARY_TREND_STATS, summaryTimeUnit: "", noColor: false },
    state: { isStdOutTTY: false, isStdErrTTY: false, testRunDurationMs: spec.durationMs },
    metrics,
  };
}

const BASE_DURATION: TrendStats = { avg: 180, min: 12, med: 150, max: 2900, p90: 600, p95: 900 };

function part(index: number, of: number, overrides: Partial<PartSpec> = {}): CompactSummary {
  const spec: PartSpec = {
    durationMs: 30_000,
    reqs: 1000,
    failedReqs: 10,
    duration: BASE_DURATION,
    vusMax: 10,
    ...overrides,
  };
  // Travels as a termination message: serialise and read back like the service does.
  const segment = of === 1 ? null : `${fraction(index, of)}:${fraction(index + 1, of)}`;
  return parseCompactSummary(JSON.stringify(compactSummary(k6Data(spec), { segment })));
}

function fraction(numerator: number, denominator: number): string {
  return numerator === 0 ? "0" : numerator === denominator ? "1" : `${numerator}/${denominator}`;
}

function withP95(p95: number): Partial<PartSpec> {
  return { duration: { ...BASE_DURATION, p90: Math.min(p95, 600), p95, max: Math.max(p95, 2900) } };
}

function outcome(results: ThresholdOutcome[], metric: string, expression: string): ThresholdOutcome {
  const found = results.find((result) => result.metric === metric && result.expression === expression);
  if (!found) throw new Error(`no outcome for ${metric}: ${expression}`);
  return found;
}

// ---- merge ----

describe("mergeSummaries: figures", () => {
  const parts = [
    part(0, 3, { reqs: 1000, failedReqs: 10, durationMs: 30_000, duration: { ...BASE_DURATION, avg: 100 } }),
    part(1, 3, { reqs: 3000, failedReqs: 60, durationMs: 30_500, duration: { ...BASE_DURATION, avg: 200 } }),
    part(2, 3, { reqs: 2000, failedReqs: 0, durationMs: 31_000, duration: { ...BASE_DURATION, avg: 300 } }),
  ];
  const merged = mergeSummaries(parts);

  it("sums counts and recomputes rates exactly", () => {
    expect(merged.metrics.http_reqs.values.count).toEqual({ exact: true, value: 6000 });
    expect(merged.metrics.iterations.values.count).toEqual({ exact: true, value: 6000 });
    expect(merged.metrics.data_sent.values.count).toEqual({ exact: true, value: 6000 * 96 });
    expect(merged.metrics.http_req_failed.values).toEqual({
      rate: { exact: true, value: 70 / 6000 },
      passes: { exact: true, value: 70 },
      fails: { exact: true, value: 5930 },
    });
    expect(merged.metrics.checks.values.rate).toEqual({ exact: true, value: 5930 / 6000 });
  });

  it("computes a counter's rate over the wall time of the whole run", () => {
    expect(merged.wallTimeMs).toBe(31_000);
    expect(merged.metrics.http_reqs.values.rate).toEqual({ exact: true, value: 6000 / 31 });
    const given = mergeSummaries(parts, { wallTimeMs: 40_000 });
    expect(given.metrics.http_reqs.values.rate).toEqual({ exact: true, value: 150 });
  });

  it("weights a request trend's avg by each part's http_reqs and keeps min/max exact", () => {
    const duration = merged.metrics.http_req_duration.values;
    expect(duration.avg).toEqual({ exact: true, value: (1000 * 100 + 3000 * 200 + 2000 * 300) / 6000 });
    expect(duration.min).toEqual({ exact: true, value: 12 });
    expect(duration.max).toEqual({ exact: true, value: 2900 });
  });

  it("marks a sub-metric's avg approximate: no counter counts its samples", () => {
    const avg = merged.metrics["http_req_duration{expected_response:true}"].values.avg;
    expect(avg).toEqual({ exact: false, lower: 97, upper: 291, estimate: 194 });
  });

  it("sums vus_max as an approximation", () => {
    expect(merged.metrics.vus_max.values.max).toEqual({ exact: false, lower: 10, upper: 30, estimate: 30 });
  });

  it("reports each part's own figures and verdicts", () => {
    expect(merged.parts.map((p) => [p.part, p.reqs, p.failedRate, p.p95, p.vusMax, p.verdict])).toEqual([
      ["0:1/3", 1000, 0.01, 900, 10, "PASSED"],
      ["1/3:2/3", 3000, 0.02, 900, 10, "PASSED"],
      ["2/3:1", 2000, 0, 900, 10, "PASSED"],
    ]);
    expect(merged.parts[0].thresholds).toEqual([
      { metric: "http_req_duration", expression: "p(95)<2000", ok: true },
      { metric: "http_req_failed", expression: "rate<0.05", ok: true },
    ]);
    expect(merged.verdict).toBe("PASSED");
    expect(MergeResultSchema.parse(merged)).toEqual(merged);
  });

  it("rejects a part counted twice", () => {
    expect(() => mergeSummaries([parts[0], parts[0]])).toThrow(/two summaries for the same part 0:1\/3/);
  });
});

describe("mergeSummaries: percentile bounds", () => {
  const p95s = (values: number[]) => values.map((p95, i) => part(i, values.length, withP95(p95)));

  it("bounds p95 and med between the smallest and the largest part figure", () => {
    const merged = mergeSummaries([
      part(0, 3, withP95(1500)),
      part(1, 3, { duration: { ...BASE_DURATION, med: 170, p95: 1800 } }),
      part(2, 3, withP95(2300)),
    ]);
    const duration = merged.metrics.http_req_duration.values;
    expect(duration["p(95)"]).toEqual({ exact: false, lower: 1500, upper: 2300 });
    expect(duration.med).toEqual({ exact: false, lower: 150, upper: 170 });
    expect(duration["p(90)"]).toEqual({ exact: false, lower: 600, upper: 600 });
  });

  it("passes p(95)<2000 on the bound when the largest part p95 is below 2000", () => {
    const merged = mergeSummaries(p95s([1500, 1800, 1900]));
    expect(outcome(merged.thresholds, "http_req_duration", "p(95)<2000")).toMatchObject({
      ok: true,
      basis: "bound",
      observed: { exact: false, lower: 1500, upper: 1900 },
    });
    expect(merged.verdict).toBe("PASSED");
  });

  it("fails p(95)<2000 on the bound when the smallest part p95 is 2000 or more", () => {
    const merged = mergeSummaries(p95s([2100, 2200, 2500]));
    expect(outcome(merged.thresholds, "http_req_duration", "p(95)<2000")).toMatchObject({
      ok: false,
      basis: "bound",
    });
    expect(merged.failedThresholds).toEqual(["http_req_duration: p(95)<2000 (observed between 2100 and 2500)"]);
  });

  it("is indeterminate (and fails) when the bounds straddle the limit", () => {
    const merged = mergeSummaries(p95s([1500, 1800, 2300]));
    const result = outcome(merged.thresholds, "http_req_duration", "p(95)<2000");
    expect(result.ok).toBe(false);
    expect(result.basis).toBe("indeterminate");
    expect(result.reason).toContain("between 1500 and 2300");
    expect(merged.verdict).toBe("FAILED");
    expect(merged.failedThresholds[0]).toMatch(/^http_req_duration: p\(95\)<2000 \(indeterminate: /);
    expect(merged.parts.map((p) => p.verdict)).toEqual(["PASSED", "PASSED", "FAILED"]);
  });

  it("keeps percentiles exact for a single part", () => {
    const merged = mergeSummaries([part(0, 1, withP95(2300))]);
    expect(merged.metrics.http_req_duration.values["p(95)"]).toEqual({ exact: true, value: 2300 });
    expect(outcome(merged.thresholds, "http_req_duration", "p(95)<2000")).toMatchObject({
      ok: false,
      basis: "exact",
      observed: { exact: true, value: 2300 },
    });
  });

  it("says which trend stat is missing instead of guessing", () => {
    const merged = mergeSummaries(
      p95s([1500, 1600]).map((summary) => ({
        ...summary,
        metrics: {
          ...summary.metrics,
          http_req_duration: {
            ...summary.metrics.http_req_duration,
            thresholds: { "p(99)<3000": { ok: true } },
          },
        },
      })),
    );
    expect(outcome(merged.thresholds, "http_req_duration", "p(99)<3000")).toMatchObject({
      ok: false,
      basis: "indeterminate",
      reason: "p(99) is not in every part's summary (add it to summaryTrendStats)",
    });
  });
});

describe("mergeSummaries: thresholds re-evaluated on the whole run", () => {
  it("fails a count threshold that every part passes: counts add up", () => {
    const thresholds = { ...DEFAULT_THRESHOLDS, http_reqs: ["count<1000", "rate<30"] };
    const parts = [0, 1, 2].map((i) => part(i, 3, { reqs: 400, failedReqs: 4, durationMs: 20_000, thresholds }));
    expect(parts.every((summary) => !summary.thresholdsFailed)).toBe(true);

    const merged = mergeSummaries(parts);
    expect(outcome(merged.thresholds, "http_reqs", "count<1000")).toMatchObject({
      ok: false,
      basis: "exact",
      observed: { exact: true, value: 1200 },
    });
    // 20 req/s per part, 60 req/s for the run.
    expect(outcome(merged.thresholds, "http_reqs", "rate<30")).toMatchObject({ ok: false, basis: "exact" });
    expect(merged.verdict).toBe("FAILED");
    expect(merged.failedThresholds).toEqual([
      "http_reqs: count<1000 (observed 1200)",
      "http_reqs: rate<30 (observed 60)",
    ]);
  });

  it("fails the merge when one part's failure rate drags the whole run over the limit", () => {
    const merged = mergeSummaries([
      part(0, 3, { reqs: 1000, failedReqs: 10 }),
      part(1, 3, { reqs: 1000, failedReqs: 10 }),
      part(2, 3, { reqs: 1000, failedReqs: 200 }),
    ]);
    expect(merged.parts.map((p) => p.verdict)).toEqual(["PASSED", "PASSED", "FAILED"]);
    expect(outcome(merged.thresholds, "http_req_failed", "rate<0.05")).toMatchObject({
      ok: false,
      basis: "exact",
      observed: { exact: true, value: 220 / 3000 },
    });
    expect(merged.failedThresholds).toEqual(["http_req_failed: rate<0.05 (observed 0.0733333)"]);
  });

  it("passes the merge when a small part fails a rate threshold that the whole run meets", () => {
    const merged = mergeSummaries([
      part(0, 3, { reqs: 10_000, failedReqs: 100 }),
      part(1, 3, { reqs: 10_000, failedReqs: 100 }),
      part(2, 3, { reqs: 100, failedReqs: 20 }),
    ]);
    expect(merged.parts[2].verdict).toBe("FAILED");
    expect(outcome(merged.thresholds, "http_req_failed", "rate<0.05")).toMatchObject({
      ok: true,
      observed: { exact: true, value: 220 / 20_100 },
    });
    expect(merged.verdict).toBe("PASSED");
  });

  it("evaluates the union of the parts' thresholds", () => {
    const merged = mergeSummaries([
      part(0, 2, { thresholds: { checks: ["rate>=0.95"] } }),
      part(1, 2, { thresholds: { http_req_failed: ["rate<0.05"] } }),
    ]);
    expect(merged.thresholds.map((t) => `${t.metric}: ${t.expression}`)).toEqual([
      "checks: rate>=0.95",
      "http_req_failed: rate<0.05",
    ]);
  });
});

// ---- compact summary ----

describe("compactSummary", () => {
  it("keeps a realistic summary whole, well under the budget", () => {
    const data = k6Data({ durationMs: 30_000, reqs: 1000, failedReqs: 10, duration: BASE_DURATION, vusMax: 10 });
    const compact = compactSummary(data, { segment: "0:1/3" });
    expect(jsonByteLength(compact)).toBeLessThanOrEqual(DEFAULT_BYTE_BUDGET);
    expect(Object.keys(compact.metrics).sort()).toEqual(Object.keys(data.metrics).sort());
    expect(compact).toMatchObject({
      segment: "0:1/3",
      testRunDurationMs: 30_000,
      vusMax: 10,
      checks: { passes: 990, fails: 10 },
      thresholdsFailed: false,
      dropped: { count: 0, names: [], thresholds: {}, thresholdsLost: 0 },
    });
    expect(compact.metrics.http_req_duration).toEqual({
      type: "trend",
      contains: "time",
      values: { avg: 180, min: 12, med: 150, max: 2900, "p(90)": 600, "p(95)": 900 },
      thresholds: { "p(95)<2000": { ok: true } },
    });
  });

  it("stays under 4000 bytes with 200 sub-metrics, dropping unthresholded sub-metrics first", () => {
    const extraMetrics: Record<string, K6MetricFixture> = {
      "http_req_duration{name:login}": trend(BASE_DURATION),
    };
    for (let i = 0; i < 200; i++) {
      const url = `https://api.example.com/items/${i}`;
      extraMetrics[`http_req_duration{name:${url}}`] = trend(scaled(BASE_DURATION, 1 + i / 100));
    }
    const data = k6Data({
      durationMs: 30_000,
      reqs: 1000,
      failedReqs: 10,
      duration: BASE_DURATION,
      vusMax: 10,
      thresholds: { ...DEFAULT_THRESHOLDS, "http_req_duration{name:login}": ["p(95)<500"] },
      extraMetrics,
    });
    expect(JSON.stringify(data).length).toBeGreaterThan(40_000);

    const compact = compactSummary(data);
    expect(jsonByteLength(compact)).toBeLessThanOrEqual(4000);
    expect(compact.metrics["http_req_duration{name:login}"].thresholds).toEqual({ "p(95)<500": { ok: false } });
    expect(compact.thresholdsFailed).toBe(true);
    for (const name of ["http_req_duration", "http_req_failed", "http_reqs", "checks", "iterations", "vus_max"]) {
      expect(compact.metrics[name], name).toBeDefined();
    }
    expect(compact.dropped.count).toBeGreaterThan(150);
    expect(compact.dropped.names.length).toBeGreaterThan(0);
    expect(compact.dropped.names.every((name) => name.startsWith("http_req_duration{name:https://"))).toBe(true);
    expect(Object.keys(compact.metrics).length + compact.dropped.count).toBe(Object.keys(data.metrics).length);
  });

  it("drops other metrics before the core ones under a tight budget", () => {
    const data = k6Data({ durationMs: 30_000, reqs: 1000, failedReqs: 10, duration: BASE_DURATION, vusMax: 10 });
    const compact = compactSummary(data, { byteBudget: 1000 });
    expect(jsonByteLength(compact)).toBeLessThanOrEqual(1000);
    expect(Object.keys(compact.metrics)).toEqual([
      "http_req_duration",
      "http_req_failed",
      "http_reqs",
      "checks",
      "iterations",
      "vus_max",
    ]);
    expect(compact.dropped.count).toBe(11);
    expect(compact.dropped.names.slice(0, 3)).toEqual(["data_received", "data_sent", "http_req_blocked"]);
  });

  it("keeps the verdicts of thresholded metrics it has to drop, and the merge judges from them", () => {
    const extraMetrics: Record<string, K6MetricFixture> = {};
    const thresholds: Record<string, string[]> = { ...DEFAULT_THRESHOLDS };
    for (let i = 0; i < 40; i++) {
      extraMetrics[`http_req_duration{name:endpoint-${i}}`] = trend(BASE_DURATION);
      thresholds[`http_req_duration{name:endpoint-${i}}`] = ["p(95)<1000"];
    }
    const spec = { durationMs: 30_000, reqs: 1000, failedReqs: 10, duration: BASE_DURATION, vusMax: 10 };
    const parts = [0, 1].map((i) =>
      parseCompactSummary(
        JSON.stringify(compactSummary(k6Data({ ...spec, thresholds, extraMetrics }), { segment: `${i}/2:${i + 1}/2` })),
      ),
    );
    const [first] = parts;
    expect(jsonByteLength(first)).toBeLessThanOrEqual(4000);
    expect(first.metrics.http_req_duration).toBeDefined();
    expect(Object.keys(first.dropped.thresholds).length).toBeGreaterThan(0);
    expect(first.dropped.thresholdsLost).toBe(0);

    const merged = mergeSummaries(parts);
    const droppedMetric = Object.keys(first.dropped.thresholds)[0];
    expect(outcome(merged.thresholds, droppedMetric, "p(95)<1000")).toMatchObject({ ok: true, basis: "bound" });
    expect(merged.metrics[droppedMetric]).toBeUndefined();
    expect(merged.thresholds).toHaveLength(42);
    expect(merged.verdict).toBe("PASSED");
  });

  it("fails the merge when thresholds had to be dropped without a trace", () => {
    const extraMetrics: Record<string, K6MetricFixture> = {};
    const thresholds: Record<string, string[]> = { ...DEFAULT_THRESHOLDS };
    for (let i = 0; i < 150; i++) {
      extraMetrics[`http_req_duration{name:endpoint-${i}}`] = trend(BASE_DURATION);
      thresholds[`http_req_duration{name:endpoint-${i}}`] = ["p(95)<1000"];
    }
    const spec = { durationMs: 30_000, reqs: 1000, failedReqs: 10, duration: BASE_DURATION, vusMax: 10 };
    const data = k6Data({ ...spec, thresholds, extraMetrics });
    const compact = compactSummary(data, { segment: "0:1" });
    expect(jsonByteLength(compact)).toBeLessThanOrEqual(4000);
    expect(compact.dropped.thresholdsLost).toBeGreaterThan(0);

    const merged = mergeSummaries([compact]);
    expect(merged.verdict).toBe("FAILED");
    expect(merged.failedThresholds.at(-1)).toMatch(/^\*: \* \(indeterminate: part 0:1 dropped \d+ thresholded metric/);
  });

  it("names the missing trend stats when summaryTrendStats lacks one", () => {
    const data = k6Data({ durationMs: 1000, reqs: 1, failedReqs: 0, duration: BASE_DURATION, vusMax: 1 });
    delete (data.metrics.http_req_duration.values as Record<string, number>).med;
    expect(() => compactSummary(data)).toThrow(
      "metric http_req_duration: summaryTrendStats must include avg, min, med and max (missing med)",
    );
  });
});

// ---- thresholds ----

describe("threshold expressions", () => {
  it.each([
    ["p(95)<2000", { aggregation: "p", percentile: 95, operator: "<", target: 2000 }],
    ["p(99.9)<=500", { aggregation: "p", percentile: 99.9, operator: "<=", target: 500 }],
    ["avg<200", { aggregation: "avg", percentile: null, operator: "<", target: 200 }],
    ["med<100", { aggregation: "med", operator: "<", target: 100 }],
    ["min>0", { aggregation: "min", operator: ">", target: 0 }],
    ["max<3000", { aggregation: "max", operator: "<", target: 3000 }],
    ["rate<0.05", { aggregation: "rate", operator: "<", target: 0.05 }],
    ["rate>=0.95", { aggregation: "rate", operator: ">=", target: 0.95 }],
    ["count>100", { aggregation: "count", operator: ">", target: 100 }],
    ["value<10", { aggregation: "value", operator: "<", target: 10 }],
    ["count==5", { aggregation: "count", operator: "==", target: 5 }],
    ["count===5", { aggregation: "count", operator: "===", target: 5 }],
    ["rate!=0", { aggregation: "rate", operator: "!=", target: 0 }],
    ["  p(95)  <  2000  ", { aggregation: "p", percentile: 95, operator: "<", target: 2000 }],
    ["avg >= 1.5", { aggregation: "avg", operator: ">=", target: 1.5 }],
  ])("parses %j", (expression, expected) => {
    expect(parseThreshold(expression)).toMatchObject({ expression, ...expected });
  });

  it.each([
    ["", "it is empty"],
    ["p95<200", 'unknown aggregation "p95"'],
    ["p(95)", "no operator"],
    ["p(95)<", "no number after the operator"],
    ["<200", "nothing before the operator"],
    ["avg<<200", '"<200" is not a number'],
    ["avg < 2s", '"2s" is not a number'],
    ["rate => 0.9", 'unknown aggregation "rate ="'],
    ["p(101)<5", "percentile 101 is above 100"],
    ["p(abc)<1", 'unknown aggregation "p(abc)"'],
    ["p( 95 )<1", 'unknown aggregation "p( 95 )"'],
    ["average<1", 'unknown aggregation "average"'],
  ])("rejects %j, naming it", (expression, reason) => {
    expect(() => parseThreshold(expression)).toThrow(ThresholdSyntaxError);
    expect(() => parseThreshold(expression)).toThrow(
      `invalid threshold expression ${JSON.stringify(expression)}: ${reason}`,
    );
  });

  it("validates user thresholds against the built-in metric types", () => {
    expect(
      validateThresholds({
        http_req_duration: ["p(95)<2000", "avg<200"],
        "http_req_duration{expected_response:true}": ["p(99)<3000"],
        http_req_failed: ["rate<0.01", "p(95)<1"],
        http_reqs: ["count>100", "rate>10"],
        vus: ["value<10"],
        my_custom_trend: ["p(90)<5", "bogus"],
      }),
    ).toEqual([
      "http_req_failed: p(95)<1: a rate metric only takes rate",
      'my_custom_trend: invalid threshold expression "bogus": no operator (expected one of < <= > >= == === !=)',
    ]);
  });

  it("evaluates against a metric's values, matching percentile keys by number", () => {
    const values = { avg: 180, min: 12, med: 150, max: 2900, "p(90)": 600, "p(99.9)": 2500 };
    expect(evaluateThreshold(parseThreshold("p(99.90)<3000"), values)).toEqual({ ok: true, observed: 2500 });
    expect(evaluateThreshold(parseThreshold("avg<100"), values)).toEqual({ ok: false, observed: 180 });
    expect(evaluateThreshold(parseThreshold("p(95)<100"), values)).toBeUndefined();
  });

  it("decides on an interval only when every value in it agrees", () => {
    const interval = { lower: 10, upper: 20 };
    const decide = (expression: string, bounds: { lower?: number; upper?: number } = interval) =>
      evaluateOnInterval(parseThreshold(expression), bounds);
    expect([decide("p(95)<21"), decide("p(95)<20"), decide("p(95)<=20"), decide("p(95)<10")]).toEqual([
      "pass",
      "undecided",
      "pass",
      "fail",
    ]);
    expect([decide("min>9"), decide("min>=10"), decide("min>20"), decide("min>15")]).toEqual([
      "pass",
      "pass",
      "fail",
      "undecided",
    ]);
    expect([decide("value==5"), decide("value==15"), decide("value==7", { lower: 7, upper: 7 })]).toEqual([
      "fail",
      "undecided",
      "pass",
    ]);
    expect([decide("value!=5"), decide("value!=15"), decide("value!=7", { lower: 7, upper: 7 })]).toEqual([
      "pass",
      "undecided",
      "fail",
    ]);
    expect([decide("max<100", { lower: 50 }), decide("max<40", { lower: 50 })]).toEqual(["undecided", "fail"]);
  });

  it("lists the trend stats a run must report for its thresholds", () => {
    expect(summaryTrendStatsFor(["p(99.9)<500", "avg<200", "rate<0.1", "p(95)<2000"])).toEqual([
      "avg",
      "min",
      "med",
      "max",
      "p(90)",
      "p(95)",
      "p(99.9)",
    ]);
  });
});
