// The stand-in k6's metrics, built by itself from the samples its VUs produced (never with the
// service's own summary or threshold code): k6 v1.2.0's built-in metrics, custom ones, thresholds
// (parsed, checked against the metric's type, judged on the samples) and the end-of-test summary
// data that handleSummary receives (../../../../shared/hackload/k6.md, "The summary data").

/** k6's built-in metrics: name → [type, contains]. */
export const BUILTIN_METRICS = {
  vus: ["gauge", "default"],
  vus_max: ["gauge", "default"],
  iterations: ["counter", "default"],
  iteration_duration: ["trend", "time"],
  dropped_iterations: ["counter", "default"],
  data_received: ["counter", "data"],
  data_sent: ["counter", "data"],
  checks: ["rate", "default"],
  group_duration: ["trend", "time"],
  http_reqs: ["counter", "default"],
  http_req_failed: ["rate", "default"],
  http_req_duration: ["trend", "time"],
  http_req_blocked: ["trend", "time"],
  http_req_connecting: ["trend", "time"],
  http_req_tls_handshaking: ["trend", "time"],
  http_req_sending: ["trend", "time"],
  http_req_waiting: ["trend", "time"],
  http_req_receiving: ["trend", "time"],
  ws_connecting: ["trend", "time"],
  ws_msgs_received: ["counter", "default"],
  ws_msgs_sent: ["counter", "default"],
  ws_ping: ["trend", "time"],
  ws_session_duration: ["trend", "time"],
  ws_sessions: ["counter", "default"],
  grpc_req_duration: ["trend", "time"],
};

export const DEFAULT_TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)"];

const AGGREGATIONS_BY_TYPE = {
  counter: ["count", "rate"],
  gauge: ["value"],
  rate: ["rate"],
  trend: ["avg", "min", "max", "med", "p"],
};

const THRESHOLD = /^\s*(count|rate|value|avg|min|max|med|p\((\d+(?:\.\d+)?)\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i;

/** "http_req_duration{expected_response:true}" → { metric, tags }. */
export function parseMetricName(name) {
  const match = /^([^{]+)(?:\{(.*)\})?$/.exec(name);
  if (!match) return undefined;
  const tags = {};
  if (match[2] !== undefined) {
    for (const part of match[2].split(",")) {
      const i = part.indexOf(":");
      if (i <= 0) return undefined;
      tags[part.slice(0, i).trim()] = part.slice(i + 1).trim().replace(/^"(.*)"$/, "$1");
    }
  }
  return { metric: match[1].trim(), tags };
}

/**
 * The thresholds of options, checked as k6 checks them before the test starts: each metric must
 * exist (built-in, or created in the init context), each expression parse, and its aggregation
 * suit the metric's type. Returns [{ name, metric, tags, expression, aggregation, percentile, op, value }]
 * or throws with the message k6 gives (exit 104).
 */
export function parseThresholds(thresholds, types) {
  const parsed = [];
  for (const [name, list] of Object.entries(thresholds ?? {})) {
    const metricName = parseMetricName(name);
    if (!metricName) throw new Error(`invalid threshold defined on ${name}; reason: invalid metric name`);
    const type = types.get(metricName.metric)?.[0];
    if (!type) throw new Error(`invalid threshold defined on ${name}; reason: no metric name "${metricName.metric}" found`);
    for (const entry of Array.isArray(list) ? list : [list]) {
      const expression = typeof entry === "string" ? entry : entry?.threshold;
      const match = typeof expression === "string" ? THRESHOLD.exec(expression) : null;
      if (!match) throw new Error(`invalid threshold defined on ${name}; reason: failed parsing threshold expression "${String(expression)}"`);
      const aggregation = match[2] !== undefined ? "p" : match[1].toLowerCase();
      if (!AGGREGATIONS_BY_TYPE[type].includes(aggregation)) {
        throw new Error(`invalid threshold defined on ${name}; reason: the "${match[1]}" aggregation method is not supported for metrics of type ${type}`);
      }
      parsed.push({ name, ...metricName, expression, aggregation, percentile: match[2] === undefined ? undefined : Number(match[2]), op: match[3], value: Number(match[4]) });
    }
  }
  return parsed;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  if (sorted.length === 1) return sorted[0];
  const i = (p / 100) * (sorted.length - 1);
  const low = sorted[Math.floor(i)];
  const high = sorted[Math.ceil(i)];
  return low + (high - low) * (i - Math.floor(i));
}

function compare(observed, op, value) {
  switch (op) {
    case "<": return observed < value;
    case "<=": return observed <= value;
    case ">": return observed > value;
    case ">=": return observed >= value;
    case "==": case "===": return observed === value;
    default: return observed !== value;
  }
}

/**
 * Every sample the VUs produced, by metric and tag set. Each VU keeps one (worker side) and the
 * runner merges them: trends keep their values, the rest running aggregates.
 */
export class SampleStore {
  constructor() {
    /** key "name\u0000tagsJson" → { name, tags, values?: number[], count, sum, nonZero, last, min, max } */
    this.series = new Map();
  }

  add(name, type, value, tags) {
    const tagText = JSON.stringify(tags, Object.keys(tags).sort());
    const key = `${name}\u0000${tagText}`;
    let s = this.series.get(key);
    if (!s) {
      s = { name, tags, values: type === "trend" ? [] : undefined, count: 0, sum: 0, nonZero: 0, last: 0, min: Infinity, max: -Infinity };
      this.series.set(key, s);
    }
    s.count++;
    s.sum += value;
    if (value !== 0) s.nonZero++;
    s.last = value;
    s.min = Math.min(s.min, value);
    s.max = Math.max(s.max, value);
    s.values?.push(value);
  }

  /** The series as plain data, for postMessage. */
  toJSON() {
    return [...this.series.values()];
  }

  merge(list) {
    for (const s of list) {
      const key = `${s.name}\u0000${JSON.stringify(s.tags, Object.keys(s.tags).sort())}`;
      const mine = this.series.get(key);
      if (!mine) {
        this.series.set(key, { ...s, values: s.values ? [...s.values] : undefined });
        continue;
      }
      mine.count += s.count;
      mine.sum += s.sum;
      mine.nonZero += s.nonZero;
      mine.last = s.last;
      mine.min = Math.min(mine.min, s.min);
      mine.max = Math.max(mine.max, s.max);
      if (mine.values && s.values) for (const v of s.values) mine.values.push(v);
    }
  }

  /** The aggregate of a metric, optionally only its samples with the given tags (a sub-metric). */
  aggregate(name, tags = {}) {
    const picked = [...this.series.values()].filter((s) => s.name === name && Object.entries(tags).every(([k, v]) => String(s.tags[k]) === v));
    if (picked.length === 0) return undefined;
    const values = picked.some((s) => s.values) ? picked.flatMap((s) => s.values ?? []).sort((a, b) => a - b) : undefined;
    return {
      count: picked.reduce((n, s) => n + s.count, 0),
      sum: picked.reduce((n, s) => n + s.sum, 0),
      nonZero: picked.reduce((n, s) => n + s.nonZero, 0),
      last: picked.at(-1).last,
      min: Math.min(...picked.map((s) => s.min)),
      max: Math.max(...picked.map((s) => s.max)),
      values,
    };
  }
}

/** The values k6 reports for a metric of the type. */
function valuesOf(type, agg, trendStats, seconds) {
  switch (type) {
    case "counter":
      return { count: agg.sum, rate: agg.sum / seconds };
    case "gauge":
      return { value: agg.last, min: agg.min, max: agg.max };
    case "rate":
      return { rate: agg.count ? agg.nonZero / agg.count : 0, passes: agg.nonZero, fails: agg.count - agg.nonZero };
    default: {
      const values = {};
      for (const stat of trendStats) {
        if (stat === "avg") values.avg = agg.count ? agg.sum / agg.count : 0;
        else if (stat === "min") values.min = agg.min;
        else if (stat === "max") values.max = agg.max;
        else if (stat === "med") values.med = percentile(agg.values, 50);
        else if (stat === "count") values.count = agg.count;
        else {
          const p = /^p\((\d+(?:\.\d+)?)\)$/.exec(stat);
          if (p) values[stat] = percentile(agg.values, Number(p[1]));
        }
      }
      return values;
    }
  }
}

function observedFor(threshold, agg, seconds) {
  switch (threshold.aggregation) {
    case "count": return agg.sum;
    case "rate": return threshold.type === "rate" ? (agg.count ? agg.nonZero / agg.count : 0) : agg.sum / seconds;
    case "value": return agg.last;
    case "avg": return agg.count ? agg.sum / agg.count : 0;
    case "min": return agg.min;
    case "max": return agg.max;
    case "med": return percentile(agg.values, 50);
    default: return percentile(agg.values, threshold.percentile);
  }
}

/**
 * handleSummary's data from the samples, with each threshold judged: metrics with samples (and
 * the sub-metrics thresholds name, and http_req_duration{expected_response:true} as k6 adds it).
 */
export function summaryData({ store, types, thresholds, trendStats, testRunDurationMs, rootGroup }) {
  const seconds = Math.max(testRunDurationMs, 1) / 1000;
  const metrics = {};
  const add = (name, metric, tags) => {
    const [type, contains] = types.get(metric);
    const agg = store.aggregate(metric, tags);
    if (!agg) return;
    metrics[name] = { type, contains, values: valuesOf(type, agg, trendStats, seconds) };
  };
  for (const name of new Set([...store.series.values()].map((s) => s.name))) add(name, name, {});
  if (metrics.http_req_duration) add("http_req_duration{expected_response:true}", "http_req_duration", { expected_response: "true" });
  let failed = false;
  for (const t of thresholds) {
    const type = types.get(t.metric)[0];
    const agg = store.aggregate(t.metric, t.tags);
    // A metric without samples is not in the summary, and its thresholds are not judged.
    if (!agg) continue;
    if (!metrics[t.name]) add(t.name, t.metric, t.tags);
    const ok = compare(observedFor({ ...t, type }, agg, seconds), t.op, t.value);
    failed ||= !ok;
    (metrics[t.name].thresholds ??= {})[t.expression] = { ok };
  }
  const data = {
    root_group: rootGroup,
    options: { summaryTrendStats: trendStats, summaryTimeUnit: "", noColor: false },
    state: { isStdOutTTY: false, isStdErrTTY: false, testRunDurationMs },
    metrics,
  };
  return { data, thresholdsFailed: failed };
}

/** k6's end-of-test text summary, short: what a script without handleSummary prints. */
export function textSummary(data) {
  const lines = [];
  for (const [name, metric] of Object.entries(data.metrics).sort(([a], [b]) => a.localeCompare(b))) {
    const values = Object.entries(metric.values).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(2)}`).join(" ");
    const marks = Object.entries(metric.thresholds ?? {}).map(([e, t]) => `${t.ok ? "✓" : "✗"} ${e}`).join(" ");
    lines.push(`     ${name}: ${values}${marks ? `  ${marks}` : ""}`);
  }
  return `${lines.join("\n")}\n`;
}
