import { z } from "zod";

/** Kubernetes termination messages hold 4096 bytes; leave a little room for framing. */
export const DEFAULT_BYTE_BUDGET = 4000;

/** Metrics kept ahead of all others (after thresholded ones), in this order. */
export const CORE_METRICS = [
  "http_req_duration",
  "http_req_failed",
  "http_reqs",
  "checks",
  "iterations",
  "vus_max",
] as const;

export const MetricTypeSchema = z.enum(["trend", "rate", "counter", "gauge"]);
export type MetricType = z.infer<typeof MetricTypeSchema>;

export const MetricContainsSchema = z.enum(["time", "data", "default"]);

/** k6's per-metric threshold results: `{"p(95)<2000": {"ok": true}}`. */
export const ThresholdResultsSchema = z.record(z.string(), z.object({ ok: z.boolean() }));
export type ThresholdResults = z.infer<typeof ThresholdResultsSchema>;

const TREND_REQUIRED_STATS = ["avg", "min", "med", "max"] as const;
const PERCENTILE_STAT_KEY = /^p\(\d+(?:\.\d+)?\)$/;

/** avg, min, med, max, count and p(N): the stats `summaryTrendStats` can ask for. */
export function isTrendStatKey(key: string): boolean {
  return (
    (TREND_REQUIRED_STATS as readonly string[]).includes(key) ||
    key === "count" ||
    PERCENTILE_STAT_KEY.test(key)
  );
}

const TrendValuesSchema = z
  .object({ avg: z.number(), min: z.number(), med: z.number(), max: z.number() })
  .catchall(z.number())
  .refine((values) => Object.keys(values).every(isTrendStatKey), {
    message: "trend values may only hold avg, min, med, max, count and p(N)",
  });

const count = z.number().int().nonnegative();

const TrendMetricSchema = z.object({
  type: z.literal("trend"),
  contains: MetricContainsSchema,
  values: TrendValuesSchema,
  thresholds: ThresholdResultsSchema.optional(),
});
const RateMetricSchema = z.object({
  type: z.literal("rate"),
  contains: MetricContainsSchema,
  values: z.object({ rate: z.number(), passes: count, fails: count }),
  thresholds: ThresholdResultsSchema.optional(),
});
const CounterMetricSchema = z.object({
  type: z.literal("counter"),
  contains: MetricContainsSchema,
  values: z.object({ count: z.number(), rate: z.number() }),
  thresholds: ThresholdResultsSchema.optional(),
});
const GaugeMetricSchema = z.object({
  type: z.literal("gauge"),
  contains: MetricContainsSchema,
  values: z.object({ value: z.number(), min: z.number(), max: z.number() }),
  thresholds: ThresholdResultsSchema.optional(),
});

export const CompactMetricSchema = z.discriminatedUnion("type", [
  TrendMetricSchema,
  RateMetricSchema,
  CounterMetricSchema,
  GaugeMetricSchema,
]);
export type CompactMetric = z.infer<typeof CompactMetricSchema>;

export const DroppedMetricsSchema = z.object({
  /** How many metrics were left out to fit the byte budget. */
  count,
  /** Their names, most important first; a prefix of the full list when `names.length < count`. */
  names: z.array(z.string()),
  /** Own threshold verdicts of dropped thresholded metrics, so the merge still sees them. */
  thresholds: z.record(z.string(), ThresholdResultsSchema),
  /** Dropped thresholded metrics whose verdicts did not fit either. */
  thresholdsLost: count,
});
export type DroppedMetrics = z.infer<typeof DroppedMetricsSchema>;

export const CompactSummarySchema = z.object({
  version: z.literal(1),
  /** The part's `--execution-segment`, e.g. "0:1/3"; null for an unsplit run. */
  segment: z.string().min(1).nullable(),
  testRunDurationMs: z.number().nonnegative(),
  /** Peak of the vus_max gauge; null when k6 reported no such metric. */
  vusMax: z.number().nonnegative().nullable(),
  /** Totals over every check in the root group and its nested groups. */
  checks: z.object({ passes: count, fails: count }),
  /** Any threshold failed on this part, so k6 exits 99 for it. */
  thresholdsFailed: z.boolean(),
  metrics: z.record(z.string(), CompactMetricSchema),
  dropped: DroppedMetricsSchema,
});
export type CompactSummary = z.infer<typeof CompactSummarySchema>;

/** Reads a runner's compact summary, as JSON text (a termination message) or already parsed. */
export function parseCompactSummary(input: unknown): CompactSummary {
  return CompactSummarySchema.parse(typeof input === "string" ? JSON.parse(input) : input);
}

// ---- k6's full handleSummary `data`, read leniently: only what the compact form needs ----

const K6CheckSchema = z.object({ passes: z.number(), fails: z.number() });

// k6 v1 lists checks and groups as arrays; older versions keyed them by name.
const K6GroupSchema = z.object({
  checks: z.union([z.array(K6CheckSchema), z.record(z.string(), K6CheckSchema)]).default([]),
  get groups(): K6GroupListSchema {
    return z.union([z.array(K6GroupSchema), z.record(z.string(), K6GroupSchema)]).default([]);
  },
});
type K6GroupListSchema = z.ZodDefault<
  z.ZodUnion<readonly [z.ZodArray<typeof K6GroupSchema>, z.ZodRecord<z.ZodString, typeof K6GroupSchema>]>
>;
type K6Group = z.infer<typeof K6GroupSchema>;

const K6MetricSchema = z.object({
  type: MetricTypeSchema,
  contains: MetricContainsSchema,
  values: z.record(z.string(), z.number()),
  thresholds: ThresholdResultsSchema.optional(),
});
type K6Metric = z.infer<typeof K6MetricSchema>;

export const K6SummaryDataSchema = z.object({
  root_group: K6GroupSchema.optional(),
  options: z.object({ summaryTrendStats: z.array(z.string()).optional() }).optional(),
  state: z.object({ testRunDurationMs: z.number().nonnegative() }),
  metrics: z.record(z.string(), K6MetricSchema),
});
export type K6SummaryData = z.infer<typeof K6SummaryDataSchema>;

export interface CompactSummaryOptions {
  /** The part's execution segment (handleSummary's data does not carry it). */
  segment?: string | null;
  /** Maximum size of the JSON text in UTF-8 bytes. */
  byteBudget?: number;
}

/**
 * Turns k6's handleSummary `data` into the compact per-runner summary whose JSON fits
 * `byteBudget`, leaving out the least important metrics first (see `keepRank`).
 */
export function compactSummary(data: unknown, options: CompactSummaryOptions = {}): CompactSummary {
  const parsed = K6SummaryDataSchema.parse(data);
  const metrics = Object.entries(parsed.metrics).map(
    ([name, metric]): MetricEntry => [name, toCompactMetric(name, metric)],
  );
  const vusMaxMetric = parsed.metrics.vus_max;
  const envelope: Envelope = {
    version: 1,
    segment: options.segment ?? null,
    testRunDurationMs: parsed.state.testRunDurationMs,
    vusMax: vusMaxMetric ? (vusMaxMetric.values.max ?? vusMaxMetric.values.value ?? null) : null,
    checks: parsed.root_group ? sumChecks(parsed.root_group) : { passes: 0, fails: 0 },
    thresholdsFailed: metrics.some(([, metric]) => Object.values(metric.thresholds ?? {}).some((t) => !t.ok)),
  };
  return fitToBudget(envelope, rankForKeeping(metrics), options.byteBudget ?? DEFAULT_BYTE_BUDGET);
}

type MetricEntry = [name: string, metric: CompactMetric];
type Envelope = Omit<CompactSummary, "metrics" | "dropped">;

const VALUE_KEYS: Record<Exclude<MetricType, "trend">, readonly string[]> = {
  rate: ["rate", "passes", "fails"],
  counter: ["count", "rate"],
  gauge: ["value", "min", "max"],
};

function toCompactMetric(name: string, metric: K6Metric): CompactMetric {
  const keys =
    metric.type === "trend" ? Object.keys(metric.values).filter(isTrendStatKey) : VALUE_KEYS[metric.type];
  if (metric.type === "trend") {
    const missing = TREND_REQUIRED_STATS.filter((stat) => !(stat in metric.values));
    if (missing.length > 0) {
      throw new Error(
        `metric ${name}: summaryTrendStats must include avg, min, med and max (missing ${missing.join(", ")})`,
      );
    }
  }
  const values = Object.fromEntries(keys.map((key) => [key, metric.values[key]]));
  const hasThresholds = metric.thresholds !== undefined && Object.keys(metric.thresholds).length > 0;
  return CompactMetricSchema.parse({
    type: metric.type,
    contains: metric.contains,
    values,
    ...(hasThresholds ? { thresholds: metric.thresholds } : {}),
  });
}

function sumChecks(group: K6Group): { passes: number; fails: number } {
  const checks = Array.isArray(group.checks) ? group.checks : Object.values(group.checks);
  const groups = Array.isArray(group.groups) ? group.groups : Object.values(group.groups);
  return [...checks, ...groups.map(sumChecks)].reduce(
    (total, item) => ({ passes: total.passes + item.passes, fails: total.fails + item.fails }),
    { passes: 0, fails: 0 },
  );
}

export function isSubMetric(name: string): boolean {
  return name.includes("{");
}

function hasThresholds(metric: CompactMetric): boolean {
  return metric.thresholds !== undefined && Object.keys(metric.thresholds).length > 0;
}

/**
 * Lower ranks are kept longer: thresholded metrics (the verdict needs them), then the
 * core metrics, then other metrics, then unthresholded sub-metrics (often one per URL).
 */
function keepRank(name: string, metric: CompactMetric): number {
  if (hasThresholds(metric)) return isSubMetric(name) ? 1 : 0;
  if ((CORE_METRICS as readonly string[]).includes(name)) return 2;
  return isSubMetric(name) ? 4 : 3;
}

function rankForKeeping(entries: MetricEntry[]): MetricEntry[] {
  const coreIndex = (name: string) => {
    const index = (CORE_METRICS as readonly string[]).indexOf(name);
    return index === -1 ? CORE_METRICS.length : index;
  };
  return [...entries].sort(
    ([nameA, metricA], [nameB, metricB]) =>
      keepRank(nameA, metricA) - keepRank(nameB, metricB) ||
      coreIndex(nameA) - coreIndex(nameB) ||
      (nameA < nameB ? -1 : nameA > nameB ? 1 : 0),
  );
}

/**
 * Keeps the longest prefix of `ranked` that fits (a metric stays only if every more
 * important one does). Dropped thresholded metrics keep their verdicts while those fit,
 * then the names of dropped metrics fill whatever room is left.
 */
function fitToBudget(envelope: Envelope, ranked: MetricEntry[], budget: number): CompactSummary {
  const build = (keptMetrics: number, keptVerdicts: number): CompactSummary => {
    const droppedEntries = ranked.slice(keptMetrics);
    const droppedWithThresholds = droppedEntries.filter(([, metric]) => hasThresholds(metric));
    const verdicts = droppedWithThresholds.slice(0, keptVerdicts);
    return {
      ...envelope,
      metrics: Object.fromEntries(ranked.slice(0, keptMetrics)),
      dropped: {
        count: droppedEntries.length,
        names: [],
        thresholds: Object.fromEntries(verdicts.map(([name, metric]) => [name, metric.thresholds ?? {}])),
        thresholdsLost: droppedWithThresholds.length - verdicts.length,
      },
    };
  };
  const fits = (summary: CompactSummary) => jsonByteLength(summary) <= budget;

  const keptMetrics = largestFitting(ranked.length, (k) => fits(build(k, Infinity)));
  const droppedVerdictCount = ranked.slice(keptMetrics).filter(([, metric]) => hasThresholds(metric)).length;
  const keptVerdicts =
    keptMetrics > 0 ? droppedVerdictCount : largestFitting(droppedVerdictCount, (v) => fits(build(0, v)));
  const summary = build(keptMetrics, keptVerdicts);
  if (!fits(summary)) {
    throw new Error(`a compact k6 summary cannot fit in ${budget} bytes, not even without metrics`);
  }

  let room = budget - jsonByteLength(summary);
  for (const [name] of ranked.slice(keptMetrics)) {
    const cost = jsonByteLength(name) + (summary.dropped.names.length > 0 ? 1 : 0);
    if (cost > room) break;
    summary.dropped.names.push(name);
    room -= cost;
  }
  return summary;
}

/** Largest n in [0, max] with fitsWith(n), for a predicate true up to some n and false after. */
function largestFitting(max: number, fitsWith: (n: number) => boolean): number {
  let low = 0;
  let high = max;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (fitsWith(middle)) low = middle;
    else high = middle - 1;
  }
  return low;
}

export function jsonByteLength(value: unknown): number {
  return utf8ByteLength(JSON.stringify(value));
}

// Written out rather than Buffer/TextEncoder so the module also runs inside k6 (goja).
function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (const char of text) {
    const codePoint = char.codePointAt(0) ?? 0;
    bytes += codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
  }
  return bytes;
}
