import { z } from "zod";
import type { MetricType } from "./compact-summary.js";

export const THRESHOLD_OPERATORS = ["<", "<=", ">", ">=", "==", "===", "!="] as const;
export const AGGREGATIONS = ["avg", "min", "med", "max", "p", "count", "rate", "value"] as const;

export const ThresholdSchema = z.object({
  /** The expression as written, e.g. "p(95) < 2000". */
  expression: z.string(),
  aggregation: z.enum(AGGREGATIONS),
  /** N of p(N); null for every other aggregation. */
  percentile: z.number().min(0).max(100).nullable(),
  operator: z.enum(THRESHOLD_OPERATORS),
  target: z.number(),
});
export type Threshold = z.infer<typeof ThresholdSchema>;
export type ThresholdOperator = Threshold["operator"];
export type Aggregation = Threshold["aggregation"];

/** Which aggregations k6 accepts on which metric type (k6 docs, "Threshold syntax"). */
export const AGGREGATIONS_BY_TYPE: Record<MetricType, readonly Aggregation[]> = {
  trend: ["avg", "min", "med", "max", "p"],
  rate: ["rate"],
  counter: ["count", "rate"],
  gauge: ["value"],
};

/** Types of k6's built-in metrics, to check user thresholds before a run. */
export const BUILTIN_METRIC_TYPES: Readonly<Record<string, MetricType>> = {
  checks: "rate",
  data_received: "counter",
  data_sent: "counter",
  dropped_iterations: "counter",
  iteration_duration: "trend",
  iterations: "counter",
  vus: "gauge",
  vus_max: "gauge",
  group_duration: "trend",
  http_reqs: "counter",
  http_req_failed: "rate",
  http_req_duration: "trend",
  http_req_blocked: "trend",
  http_req_connecting: "trend",
  http_req_tls_handshaking: "trend",
  http_req_sending: "trend",
  http_req_waiting: "trend",
  http_req_receiving: "trend",
  ws_connecting: "trend",
  ws_msgs_received: "counter",
  ws_msgs_sent: "counter",
  ws_ping: "trend",
  ws_session_duration: "trend",
  ws_sessions: "counter",
  grpc_req_duration: "trend",
};

export class ThresholdSyntaxError extends Error {
  constructor(
    readonly expression: string,
    readonly reason: string,
  ) {
    super(`invalid threshold expression ${JSON.stringify(expression)}: ${reason}`);
    this.name = "ThresholdSyntaxError";
  }
}

// Leftmost operator; at one position the alternation prefers the longer token ("<=" over "<").
const ASSERTION = /^(.*?)(<=|>=|===|==|!=|<|>)(.*)$/s;
const PERCENTILE = /^p\((\d+(?:\.\d+)?)\)$/;
const NUMBER = /^-?\d+(?:\.\d+)?$/;
const PLAIN_AGGREGATIONS: readonly string[] = AGGREGATIONS.filter((method) => method !== "p");

/** Parses `aggregation operator number` as k6 does; throws ThresholdSyntaxError naming the expression. */
export function parseThreshold(expression: string): Threshold {
  const fail = (reason: string): never => {
    throw new ThresholdSyntaxError(expression, reason);
  };
  if (expression.trim() === "") fail("it is empty");
  const match = ASSERTION.exec(expression) ?? fail(`no operator (expected one of ${THRESHOLD_OPERATORS.join(" ")})`);
  const [, leftText, operatorText, rightText] = match;
  const left = leftText.trim();
  const right = rightText.trim();

  let aggregation: Aggregation;
  let percentile: number | null = null;
  const percentileMatch = PERCENTILE.exec(left);
  if (percentileMatch) {
    aggregation = "p";
    percentile = Number(percentileMatch[1]);
    if (percentile > 100) fail(`percentile ${percentile} is above 100`);
  } else if (PLAIN_AGGREGATIONS.includes(left)) {
    aggregation = left as Aggregation;
  } else {
    aggregation = fail(
      left === ""
        ? "nothing before the operator"
        : `unknown aggregation ${JSON.stringify(left)} (expected avg, min, med, max, p(N), count, rate or value)`,
    );
  }
  if (!NUMBER.test(right)) {
    fail(right === "" ? "no number after the operator" : `${JSON.stringify(right)} is not a number`);
  }
  return {
    expression,
    aggregation,
    percentile,
    operator: operatorText as ThresholdOperator,
    target: Number(right),
  };
}

export type ThresholdParse = { ok: true; threshold: Threshold } | { ok: false; error: string };

export function tryParseThreshold(expression: string): ThresholdParse {
  try {
    return { ok: true, threshold: parseThreshold(expression) };
  } catch (error) {
    if (error instanceof ThresholdSyntaxError) return { ok: false, error: error.message };
    throw error;
  }
}

/** The values key a threshold reads: "p(95)", "avg", "rate"... */
export function statKey(threshold: Threshold): string {
  return threshold.aggregation === "p" ? `p(${threshold.percentile})` : threshold.aggregation;
}

/** Null when k6 accepts the threshold on this metric type, else why not. */
export function typeMismatch(threshold: Threshold, type: MetricType): string | null {
  const accepted = AGGREGATIONS_BY_TYPE[type];
  if (accepted.includes(threshold.aggregation)) return null;
  const names = accepted.map((method) => (method === "p" ? "p(N)" : method));
  return `${threshold.expression}: a ${type} metric only takes ${names.join(", ")}`;
}

/** "http_req_duration{expected_response:true}" → "http_req_duration". */
export function baseMetricName(metric: string): string {
  const brace = metric.indexOf("{");
  return brace === -1 ? metric : metric.slice(0, brace);
}

/**
 * Checks user thresholds (`{metric: [expressions]}`) before a run. Every message names
 * the metric and the expression; built-in metrics are also checked against their type.
 */
export function validateThresholds(thresholdsByMetric: Readonly<Record<string, readonly string[]>>): string[] {
  return Object.entries(thresholdsByMetric).flatMap(([metric, expressions]) =>
    expressions.flatMap((expression) => {
      const parsed = tryParseThreshold(expression);
      if (!parsed.ok) return [`${metric}: ${parsed.error}`];
      const type = BUILTIN_METRIC_TYPES[baseMetricName(metric)];
      const mismatch = type === undefined ? null : typeMismatch(parsed.threshold, type);
      return mismatch === null ? [] : [`${metric}: ${mismatch}`];
    }),
  );
}

/**
 * Trend stats k6 must put in the summary for the merge to re-check these thresholds
 * (percentiles are only reported when `summaryTrendStats` lists them).
 */
export function summaryTrendStatsFor(
  expressions: Iterable<string>,
  baseStats: readonly string[] = ["avg", "min", "med", "max", "p(90)", "p(95)"],
): string[] {
  const stats = new Set(baseStats);
  for (const expression of expressions) {
    const threshold = parseThreshold(expression);
    if (AGGREGATIONS_BY_TYPE.trend.includes(threshold.aggregation)) stats.add(statKey(threshold));
  }
  return [...stats];
}

export function compare(observed: number, operator: ThresholdOperator, target: number): boolean {
  switch (operator) {
    case "<":
      return observed < target;
    case "<=":
      return observed <= target;
    case ">":
      return observed > target;
    case ">=":
      return observed >= target;
    case "==":
    case "===":
      return observed === target;
    case "!=":
      return observed !== target;
  }
}

/**
 * Finds the threshold's stat in a metric's values; percentiles match by number, so
 * p(99.90) reads the "p(99.9)" key.
 */
export function findStat<T>(values: Readonly<Record<string, T>>, threshold: Threshold): T | undefined {
  const key = statKey(threshold);
  if (key in values) return values[key];
  if (threshold.aggregation !== "p") return undefined;
  const match = Object.keys(values).find((candidate) => {
    const percentile = PERCENTILE.exec(candidate);
    return percentile !== null && Number(percentile[1]) === threshold.percentile;
  });
  return match === undefined ? undefined : values[match];
}

/** Evaluates a threshold on one metric's exact values; undefined when the stat is absent. */
export function evaluateThreshold(
  threshold: Threshold,
  values: Readonly<Record<string, number>>,
): { ok: boolean; observed: number } | undefined {
  const observed = findStat(values, threshold);
  if (observed === undefined) return undefined;
  return { ok: compare(observed, threshold.operator, threshold.target), observed };
}

export type IntervalOutcome = "pass" | "fail" | "undecided";

/**
 * Decides a threshold when only an interval holding the true figure is known (a missing
 * side is unbounded): "pass" if every value in it passes, "fail" if every value fails.
 */
export function evaluateOnInterval(
  threshold: Threshold,
  interval: { lower?: number; upper?: number },
): IntervalOutcome {
  const lower = interval.lower ?? -Infinity;
  const upper = interval.upper ?? Infinity;
  const target = threshold.target;
  const targetInside = lower <= target && target <= upper;
  const pinnedToTarget = lower === target && upper === target;
  const allAndNone = (): [boolean, boolean] => {
    switch (threshold.operator) {
      case "<":
        return [upper < target, lower >= target];
      case "<=":
        return [upper <= target, lower > target];
      case ">":
        return [lower > target, upper <= target];
      case ">=":
        return [lower >= target, upper < target];
      case "==":
      case "===":
        return [pinnedToTarget, !targetInside];
      case "!=":
        return [!targetInside, pinnedToTarget];
    }
  };
  const [allPass, nonePass] = allAndNone();
  return allPass ? "pass" : nonePass ? "fail" : "undecided";
}
