import { z } from "zod";
import {
  type CompactMetric,
  type CompactSummary,
  isSubMetric,
  MetricContainsSchema,
  type MetricType,
  MetricTypeSchema,
} from "./compact-summary.js";
import {
  AGGREGATIONS_BY_TYPE,
  baseMetricName,
  BUILTIN_METRIC_TYPES,
  compare,
  evaluateOnInterval,
  findStat,
  statKey,
  type Threshold,
  tryParseThreshold,
  typeMismatch,
} from "./thresholds.js";

/** A merged figure: known exactly, or only within bounds (a missing side is unbounded). */
export const FigureSchema = z.discriminatedUnion("exact", [
  z.object({ exact: z.literal(true), value: z.number() }),
  z.object({
    exact: z.literal(false),
    lower: z.number().optional(),
    upper: z.number().optional(),
    /** A best guess, not a bound (e.g. an unweighted mean). */
    estimate: z.number().optional(),
  }),
]);
export type Figure = z.infer<typeof FigureSchema>;

export const MergedMetricSchema = z.object({
  type: MetricTypeSchema,
  contains: MetricContainsSchema,
  /** Same keys as k6's values (avg, p(95), rate, count...), each an exact figure or bounds. */
  values: z.record(z.string(), FigureSchema),
  /** Parts whose figures went into `values`. */
  reportedBy: z.array(z.string()),
  /** Parts that may have had samples but left the metric out of their compact summary. */
  missingFrom: z.array(z.string()),
});
export type MergedMetric = z.infer<typeof MergedMetricSchema>;

export const ThresholdBasisSchema = z.enum(["exact", "bound", "indeterminate"]);

export const ThresholdOutcomeSchema = z.object({
  metric: z.string(),
  expression: z.string(),
  /** False for "indeterminate" too: a threshold that cannot be shown to hold fails the run. */
  ok: z.boolean(),
  basis: ThresholdBasisSchema,
  observed: FigureSchema.nullable(),
  reason: z.string().optional(),
});
export type ThresholdOutcome = z.infer<typeof ThresholdOutcomeSchema>;

/** NOT_EVALUATED: there was nothing to judge (no thresholds); never PASSED by default. */
export const VerdictSchema = z.enum(["PASSED", "FAILED", "NOT_EVALUATED"]);
export type Verdict = z.infer<typeof VerdictSchema>;

export const PartFiguresSchema = z.object({
  /** The part's segment, or "part <index>" when it has none. */
  part: z.string(),
  testRunDurationMs: z.number(),
  reqs: z.number().nullable(),
  failedRate: z.number().nullable(),
  p95: z.number().nullable(),
  vusMax: z.number().nullable(),
  checks: z.object({ passes: z.number(), fails: z.number() }),
  /** The part's own threshold results, as k6 judged them on that part alone. */
  thresholds: z.array(z.object({ metric: z.string(), expression: z.string(), ok: z.boolean() })),
  verdict: VerdictSchema,
  droppedMetrics: z.number().int().nonnegative(),
});
export type PartFigures = z.infer<typeof PartFiguresSchema>;

export const MergeResultSchema = z.object({
  wallTimeMs: z.number().nonnegative(),
  metrics: z.record(z.string(), MergedMetricSchema),
  thresholds: z.array(ThresholdOutcomeSchema),
  verdict: VerdictSchema,
  /** One line per failed threshold, e.g. "http_req_failed: rate<0.05 (observed 0.061)". */
  failedThresholds: z.array(z.string()),
  parts: z.array(PartFiguresSchema),
});
export type MergeResult = z.infer<typeof MergeResultSchema>;

export interface MergeOptions {
  /** Wall time of the whole run; defaults to the longest part's testRunDurationMs. */
  wallTimeMs?: number;
}

/** Gauges that count something per part at the same moment, so parts add up. */
export const SUMMED_GAUGES: readonly string[] = ["vus", "vus_max"];

interface LabelledPart {
  label: string;
  summary: CompactSummary;
}

/** Merges the compact summaries of a run's parts and re-evaluates every threshold on the result. */
export function mergeSummaries(parts: readonly CompactSummary[], options: MergeOptions = {}): MergeResult {
  if (parts.length === 0) throw new Error("mergeSummaries needs at least one part");
  const labelled = labelParts(parts);
  const wallTimeMs = options.wallTimeMs ?? Math.max(...parts.map((part) => part.testRunDurationMs));
  if (!Number.isFinite(wallTimeMs) || wallTimeMs < 0) {
    throw new Error(`wallTimeMs must be a non-negative number, got ${wallTimeMs}`);
  }

  const metrics: Record<string, MergedMetric> = {};
  for (const name of unionOfKeys(parts.map((part) => part.metrics))) {
    metrics[name] = mergeMetric(name, labelled, wallTimeMs);
  }
  const thresholds = [
    ...[...thresholdExpressionsByMetric(parts)].flatMap(([metric, expressions]) =>
      [...expressions].map((expression) => evaluateMergedThreshold(metric, expression, labelled, metrics[metric])),
    ),
    ...labelled.flatMap(lostThresholdsOutcome),
  ];
  const failed = thresholds.filter((outcome) => !outcome.ok);
  return {
    wallTimeMs,
    metrics,
    thresholds,
    verdict: thresholds.length === 0 ? "NOT_EVALUATED" : failed.length === 0 ? "PASSED" : "FAILED",
    failedThresholds: failed.map(describeFailure),
    parts: labelled.map(partFigures),
  };
}

function labelParts(parts: readonly CompactSummary[]): LabelledPart[] {
  const labelled = parts.map((summary, index) => ({ label: summary.segment ?? `part ${index}`, summary }));
  const seen = new Set<string>();
  for (const { label } of labelled) {
    // A part counted twice (e.g. a retried pod reporting again) would silently skew every sum.
    if (seen.has(label)) throw new Error(`two summaries for the same part ${label}`);
    seen.add(label);
  }
  return labelled;
}

function unionOfKeys(records: readonly Record<string, unknown>[]): string[] {
  return [...new Set(records.flatMap((record) => Object.keys(record)))];
}

// ---- metrics ----

interface Reported<M extends CompactMetric = CompactMetric> {
  label: string;
  summary: CompactSummary;
  metric: M;
}

function mergeMetric(name: string, parts: readonly LabelledPart[], wallTimeMs: number): MergedMetric {
  const reported = parts.flatMap(({ label, summary }): Reported[] => {
    const metric = summary.metrics[name];
    return metric ? [{ label, summary, metric }] : [];
  });
  const { type, contains } = reported[0].metric;
  const conflicting = reported.find((entry) => entry.metric.type !== type);
  if (conflicting) {
    throw new Error(
      `metric ${name} is a ${type} in part ${reported[0].label} ` +
        `but a ${conflicting.metric.type} in part ${conflicting.label}`,
    );
  }
  return {
    type,
    contains,
    values: mergeValues(name, type, reported, wallTimeMs),
    reportedBy: reported.map((entry) => entry.label),
    missingFrom: parts
      .filter(({ summary }) => !(name in summary.metrics) && mayHaveDropped(summary, name))
      .map((part) => part.label),
  };
}

function mayHaveDropped(summary: CompactSummary, name: string): boolean {
  const { dropped } = summary;
  return dropped.names.includes(name) || name in dropped.thresholds || dropped.count > dropped.names.length;
}

function mergeValues(name: string, type: MetricType, reported: Reported[], wallTimeMs: number) {
  switch (type) {
    case "trend":
      return mergeTrend(
        name,
        reported.flatMap((entry) => (entry.metric.type === "trend" ? [{ ...entry, metric: entry.metric }] : [])),
      );
    case "rate":
      return mergeRate(reported.flatMap(({ metric }) => (metric.type === "rate" ? [metric.values] : [])));
    case "counter":
      return mergeCounter(
        reported.flatMap(({ metric }) => (metric.type === "counter" ? [metric.values] : [])),
        wallTimeMs,
      );
    case "gauge":
      return mergeGauge(name, reported.flatMap(({ metric }) => (metric.type === "gauge" ? [metric.values] : [])));
  }
}

const exact = (value: number): Figure => ({ exact: true, value });
const sum = (numbers: readonly number[]) => numbers.reduce((total, n) => total + n, 0);

/** The true figure lies between the parts' own figures (k6.md: percentiles of a mixture). */
function spanOf(numbers: readonly number[]): Figure {
  return numbers.length === 1
    ? exact(numbers[0])
    : { exact: false, lower: Math.min(...numbers), upper: Math.max(...numbers) };
}

function mergeTrend(name: string, reported: Reported<Extract<CompactMetric, { type: "trend" }>>[]) {
  const valuesPerPart = reported.map((entry) => entry.metric.values);
  const single = valuesPerPart.length === 1;
  const statsInEveryPart = Object.keys(valuesPerPart[0]).filter((key) =>
    valuesPerPart.every((values) => key in values),
  );
  const weights = reported.map((entry) => trendSampleCount(name, entry.summary, entry.metric));
  const merged: Record<string, Figure> = {};
  for (const key of statsInEveryPart) {
    const perPart = valuesPerPart.map((values) => values[key]);
    if (single) merged[key] = exact(perPart[0]);
    else if (key === "min") merged[key] = exact(Math.min(...perPart));
    else if (key === "max") merged[key] = exact(Math.max(...perPart));
    else if (key === "count") merged[key] = exact(sum(perPart));
    else if (key === "avg") merged[key] = mergeAverage(perPart, weights);
    else merged[key] = spanOf(perPart);
  }
  return merged;
}

/**
 * How many samples a part's trend holds: its own `count` stat, else the counter that
 * ticks once per sample (http_reqs for the http_req_* timings, iterations for
 * iteration_duration). Sub-metrics hold a subset of samples, so no counter fits them.
 */
function trendSampleCount(name: string, summary: CompactSummary, metric: CompactMetric): number | undefined {
  if (metric.type === "trend" && metric.values.count !== undefined) return metric.values.count;
  if (isSubMetric(name)) return undefined;
  if (name === "iteration_duration") return counterCount(summary, "iterations");
  if (name.startsWith("http_req_")) return counterCount(summary, "http_reqs");
  return undefined;
}

function counterCount(summary: CompactSummary, name: string): number | undefined {
  const metric = summary.metrics[name];
  return metric?.type === "counter" ? metric.values.count : undefined;
}

function mergeAverage(averages: number[], weights: (number | undefined)[]): Figure {
  const knownWeights = weights.filter((weight): weight is number => weight !== undefined);
  const totalWeight = sum(knownWeights);
  if (knownWeights.length === weights.length && totalWeight > 0) {
    return exact(sum(averages.map((average, i) => average * knownWeights[i])) / totalWeight);
  }
  // Any weighted mean lies between the smallest and largest part average.
  return {
    exact: false,
    lower: Math.min(...averages),
    upper: Math.max(...averages),
    estimate: sum(averages) / averages.length,
  };
}

function mergeRate(valuesPerPart: { passes: number; fails: number }[]): Record<string, Figure> {
  const passes = sum(valuesPerPart.map((values) => values.passes));
  const fails = sum(valuesPerPart.map((values) => values.fails));
  const total = passes + fails;
  return { rate: exact(total === 0 ? 0 : passes / total), passes: exact(passes), fails: exact(fails) };
}

function mergeCounter(valuesPerPart: { count: number }[], wallTimeMs: number): Record<string, Figure> {
  const count = sum(valuesPerPart.map((values) => values.count));
  return {
    count: exact(count),
    rate: wallTimeMs > 0 ? exact(count / (wallTimeMs / 1000)) : { exact: false },
  };
}

function mergeGauge(name: string, valuesPerPart: { value: number; min: number; max: number }[]) {
  const values = valuesPerPart.map((part) => part.value);
  const mins = valuesPerPart.map((part) => part.min);
  const maxes = valuesPerPart.map((part) => part.max);
  if (valuesPerPart.length === 1) return { value: exact(values[0]), min: exact(mins[0]), max: exact(maxes[0]) };
  if (!SUMMED_GAUGES.includes(name)) {
    // Other gauges: the union of samples has the smallest min and largest max; the last
    // value is one of the parts' last values.
    return { value: spanOf(values), min: exact(Math.min(...mins)), max: exact(Math.max(...maxes)) };
  }
  // Parts' peaks need not coincide: the whole run's peak is at least the largest part
  // peak and at most the sum of the peaks (the estimate k6.md settles for).
  return {
    value: { exact: false, lower: Math.max(...values), upper: sum(maxes), estimate: sum(values) },
    min: { exact: false, lower: sum(mins), estimate: sum(mins) },
    max: { exact: false, lower: Math.max(...maxes), upper: sum(maxes), estimate: sum(maxes) },
  } satisfies Record<string, Figure>;
}

// ---- thresholds ----

function thresholdExpressionsByMetric(parts: readonly CompactSummary[]): Map<string, Set<string>> {
  const byMetric = new Map<string, Set<string>>();
  const add = (metric: string, results: Record<string, unknown>) => {
    const expressions = byMetric.get(metric) ?? new Set<string>();
    for (const expression of Object.keys(results)) expressions.add(expression);
    byMetric.set(metric, expressions);
  };
  for (const part of parts) {
    for (const [metric, { thresholds }] of Object.entries(part.metrics)) if (thresholds) add(metric, thresholds);
    for (const [metric, results] of Object.entries(part.dropped.thresholds)) add(metric, results);
  }
  return byMetric;
}

function indeterminate(
  metric: string,
  expression: string,
  reason: string,
  observed: Figure | null = null,
): ThresholdOutcome {
  return { metric, expression, ok: false, basis: "indeterminate", observed, reason };
}

function evaluateMergedThreshold(
  metric: string,
  expression: string,
  parts: readonly LabelledPart[],
  merged: MergedMetric | undefined,
): ThresholdOutcome {
  const parsed = tryParseThreshold(expression);
  if (!parsed.ok) return indeterminate(metric, expression, parsed.error);
  const threshold = parsed.threshold;
  const type = merged?.type ?? BUILTIN_METRIC_TYPES[baseMetricName(metric)];
  const mismatch = type === undefined ? null : typeMismatch(threshold, type);
  if (mismatch !== null) return indeterminate(metric, expression, mismatch);

  const withoutFigures = parts.filter(({ summary }) => !(metric in summary.metrics));
  const lost = withoutFigures.filter(
    ({ summary }) => !(metric in summary.dropped.thresholds) && summary.dropped.thresholdsLost > 0,
  );
  if (lost.length > 0) {
    return indeterminate(
      metric,
      expression,
      `${labels(lost)} may have dropped the metric and its threshold results to fit the summary size`,
    );
  }
  const verdictsOnly = withoutFigures.filter(({ summary }) => metric in summary.dropped.thresholds);
  if (verdictsOnly.length > 0) return fromPartVerdicts(metric, threshold, type, parts, verdictsOnly);
  if (merged === undefined) return indeterminate(metric, expression, "no part reported figures for the metric");

  const figure = findStat(merged.values, threshold);
  if (figure === undefined) {
    return indeterminate(
      metric,
      expression,
      `${statKey(threshold)} is not in every part's summary (add it to summaryTrendStats)`,
    );
  }
  return fromFigure(metric, threshold, figure);
}

function fromFigure(metric: string, threshold: Threshold, figure: Figure): ThresholdOutcome {
  const { expression } = threshold;
  if (figure.exact) {
    const ok = compare(figure.value, threshold.operator, threshold.target);
    return { metric, expression, ok, basis: "exact", observed: figure };
  }
  const outcome = evaluateOnInterval(threshold, figure);
  if (outcome !== "undecided") return { metric, expression, ok: outcome === "pass", basis: "bound", observed: figure };
  return indeterminate(
    metric,
    expression,
    `merged ${statKey(threshold)} is ${describeFigure(figure)}: ${expression} may or may not hold`,
    figure,
  );
}

/**
 * For a metric some parts only reported verdicts for. Works when the merged figure lies
 * between the parts' own figures (averages, rates, percentiles, min, max): then it
 * passes if all parts pass and the passing set is an interval (not for !=), and fails
 * if all fail and the failing set is an interval (not for ==).
 */
function fromPartVerdicts(
  metric: string,
  threshold: Threshold,
  type: MetricType | undefined,
  parts: readonly LabelledPart[],
  verdictsOnly: readonly LabelledPart[],
): ThresholdOutcome {
  const { expression } = threshold;
  const verdicts = parts.flatMap(({ summary }) => {
    const ok = (summary.metrics[metric]?.thresholds ?? summary.dropped.thresholds[metric])?.[expression]?.ok;
    return ok === undefined ? [] : [ok];
  });
  const betweenParts = mergedFigureLiesBetweenParts(metric, threshold, type);
  const equality = threshold.operator === "==" || threshold.operator === "===";
  const passes = betweenParts && threshold.operator !== "!=" && verdicts.every((ok) => ok);
  const fails = betweenParts && !equality && verdicts.every((ok) => !ok);
  const reason = `${labels(verdictsOnly)} left the metric's figures out of the summary; judged from per-part results`;
  if (passes || fails) return { metric, expression, ok: passes, basis: "bound", observed: null, reason };
  return indeterminate(metric, expression, `${reason}, which do not settle it`);
}

function mergedFigureLiesBetweenParts(metric: string, threshold: Threshold, type: MetricType | undefined): boolean {
  const trendOnly = AGGREGATIONS_BY_TYPE.trend.includes(threshold.aggregation);
  switch (type) {
    case undefined:
      return trendOnly;
    case "trend":
    case "rate":
      return true;
    case "gauge":
      return !SUMMED_GAUGES.includes(metric);
    case "counter":
      return false; // counts add up across parts
  }
}

/** Thresholds a part could not even name in its summary: nothing proves they held. */
function lostThresholdsOutcome({ label, summary }: LabelledPart): ThresholdOutcome[] {
  const lost = summary.dropped.thresholdsLost;
  if (lost === 0) return [];
  const reason = `part ${label} dropped ${lost} thresholded metric(s) with their results to fit the summary size`;
  return [indeterminate("*", "*", reason)];
}

function labels(parts: readonly LabelledPart[]): string {
  return parts.map((part) => part.label).join(", ");
}

// ---- reporting ----

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

function describeFigure(figure: Figure): string {
  if (figure.exact) return formatNumber(figure.value);
  const { lower, upper, estimate } = figure;
  const range =
    lower !== undefined && upper !== undefined
      ? `between ${formatNumber(lower)} and ${formatNumber(upper)}`
      : lower !== undefined
        ? `at least ${formatNumber(lower)}`
        : upper !== undefined
          ? `at most ${formatNumber(upper)}`
          : "unknown";
  return estimate === undefined ? range : `${range} (estimate ${formatNumber(estimate)})`;
}

function describeFailure(outcome: ThresholdOutcome): string {
  const detail =
    outcome.basis === "indeterminate"
      ? `indeterminate: ${outcome.reason}`
      : outcome.observed
        ? `observed ${describeFigure(outcome.observed)}`
        : (outcome.reason ?? "failed");
  return `${outcome.metric}: ${outcome.expression} (${detail})`;
}

function partFigures({ label, summary }: LabelledPart): PartFigures {
  const { metrics } = summary;
  const ownResults = [
    ...Object.entries(metrics).map(([metric, { thresholds }]) => [metric, thresholds ?? {}] as const),
    ...Object.entries(summary.dropped.thresholds),
  ];
  const failedRequests = metrics.http_req_failed;
  const duration = metrics.http_req_duration;
  const judged = ownResults.some(([, results]) => Object.keys(results).length > 0) || summary.dropped.thresholdsLost > 0;
  return {
    part: label,
    testRunDurationMs: summary.testRunDurationMs,
    reqs: counterCount(summary, "http_reqs") ?? null,
    failedRate: failedRequests?.type === "rate" ? failedRequests.values.rate : null,
    p95: duration?.type === "trend" ? (duration.values["p(95)"] ?? null) : null,
    vusMax: summary.vusMax,
    checks: summary.checks,
    thresholds: ownResults.flatMap(([metric, results]) =>
      Object.entries(results).map(([expression, { ok }]) => ({ metric, expression, ok })),
    ),
    verdict: summary.thresholdsFailed ? "FAILED" : judged ? "PASSED" : "NOT_EVALUATED",
    droppedMetrics: summary.dropped.count,
  };
}
