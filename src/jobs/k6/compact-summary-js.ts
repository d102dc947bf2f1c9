// The compact summary (compact-summary.ts) as plain JavaScript, for the one place TypeScript
// modules cannot go: inside k6, in the handleSummary of the wrapper (wrapper.ts) every runner
// runs. No imports, no zod, nothing newer than k6's JavaScript runtime accepts. compact-summary.ts
// stays the reference (the service and the test stand-in use it); test/k6-wrapper.test.ts checks
// that both give the same summary, byte for byte, on k6-shaped fixtures.

/** Defines `function __jobschedulerCompactSummary(data, options)` → the compact summary object. */
export const COMPACT_SUMMARY_JS = String.raw`
function __jobschedulerCompactSummary(data, options) {
  var CORE_METRICS = ["http_req_duration", "http_req_failed", "http_reqs", "checks", "iterations", "vus_max"];
  var TREND_REQUIRED = ["avg", "min", "med", "max"];
  var VALUE_KEYS = { rate: ["rate", "passes", "fails"], counter: ["count", "rate"], gauge: ["value", "min", "max"] };
  var PERCENTILE = /^p\(\d+(?:\.\d+)?\)$/;
  var TYPES = ["trend", "rate", "counter", "gauge"];
  var CONTAINS = ["time", "data", "default"];
  options = options || {};
  var budget = options.byteBudget === undefined ? 4000 : options.byteBudget;

  function own(object, key) { return Object.prototype.hasOwnProperty.call(object, key); }
  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }
  function isTrendStatKey(key) { return TREND_REQUIRED.indexOf(key) >= 0 || key === "count" || PERCENTILE.test(key); }
  function fail(message) { throw new Error("compact summary: " + message); }
  function number(value, what) {
    if (typeof value !== "number" || value !== value) fail(what + " is not a number");
    return value;
  }

  function utf8ByteLength(text) {
    var bytes = 0;
    for (var i = 0; i < text.length; i++) {
      var code = text.charCodeAt(i);
      if (code < 0x80) bytes += 1;
      else if (code < 0x800) bytes += 2;
      else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    }
    return bytes;
  }
  function jsonByteLength(value) { return utf8ByteLength(JSON.stringify(value)); }

  function thresholdResults(thresholds, name) {
    var out = {};
    for (var expression in thresholds) {
      if (!own(thresholds, expression)) continue;
      var result = thresholds[expression];
      if (!isObject(result) || typeof result.ok !== "boolean") fail("metric " + name + ": threshold " + expression + " has no ok flag");
      out[expression] = { ok: result.ok };
    }
    return out;
  }

  function toCompactMetric(name, metric) {
    if (!isObject(metric)) fail("metric " + name + " is not an object");
    if (TYPES.indexOf(metric.type) < 0) fail("metric " + name + " has an unknown type");
    if (CONTAINS.indexOf(metric.contains) < 0) fail("metric " + name + " has an unknown contains");
    if (!isObject(metric.values)) fail("metric " + name + " has no values");
    var values = {};
    var key;
    if (metric.type === "trend") {
      var missing = TREND_REQUIRED.filter(function (stat) { return !own(metric.values, stat); });
      if (missing.length > 0) {
        throw new Error("metric " + name + ": summaryTrendStats must include avg, min, med and max (missing " + missing.join(", ") + ")");
      }
      for (var r = 0; r < TREND_REQUIRED.length; r++) values[TREND_REQUIRED[r]] = number(metric.values[TREND_REQUIRED[r]], name + " " + TREND_REQUIRED[r]);
      for (key in metric.values) {
        if (own(metric.values, key) && TREND_REQUIRED.indexOf(key) < 0 && isTrendStatKey(key)) values[key] = number(metric.values[key], name + " " + key);
      }
    } else {
      var keys = VALUE_KEYS[metric.type];
      for (var k = 0; k < keys.length; k++) values[keys[k]] = number(metric.values[keys[k]], name + " " + keys[k]);
    }
    var compact = { type: metric.type, contains: metric.contains, values: values };
    if (isObject(metric.thresholds) && Object.keys(metric.thresholds).length > 0) compact.thresholds = thresholdResults(metric.thresholds, name);
    return compact;
  }

  function list(value) {
    if (value === undefined) return [];
    if (Array.isArray(value)) return value;
    if (isObject(value)) return Object.keys(value).map(function (key) { return value[key]; });
    return fail("checks and groups must be lists");
  }
  function sumChecks(group) {
    var total = { passes: 0, fails: 0 };
    var checks = list(group.checks);
    for (var i = 0; i < checks.length; i++) {
      total.passes += number(checks[i].passes, "check passes");
      total.fails += number(checks[i].fails, "check fails");
    }
    var groups = list(group.groups);
    for (var j = 0; j < groups.length; j++) {
      var inner = sumChecks(groups[j]);
      total.passes += inner.passes;
      total.fails += inner.fails;
    }
    return total;
  }

  function hasThresholds(metric) { return metric.thresholds !== undefined && Object.keys(metric.thresholds).length > 0; }
  function isSubMetric(name) { return name.indexOf("{") >= 0; }
  function keepRank(name, metric) {
    if (hasThresholds(metric)) return isSubMetric(name) ? 1 : 0;
    if (CORE_METRICS.indexOf(name) >= 0) return 2;
    return isSubMetric(name) ? 4 : 3;
  }
  function coreIndex(name) {
    var index = CORE_METRICS.indexOf(name);
    return index === -1 ? CORE_METRICS.length : index;
  }

  if (!isObject(data)) fail("the summary data is not an object");
  if (!isObject(data.state) || typeof data.state.testRunDurationMs !== "number" || data.state.testRunDurationMs < 0) fail("state.testRunDurationMs is missing");
  if (!isObject(data.metrics)) fail("metrics are missing");

  var entries = [];
  for (var metricName in data.metrics) {
    if (own(data.metrics, metricName)) entries.push([metricName, toCompactMetric(metricName, data.metrics[metricName])]);
  }
  var vusMaxMetric = data.metrics.vus_max;
  var vusMax = null;
  if (vusMaxMetric) {
    vusMax = vusMaxMetric.values.max !== undefined && vusMaxMetric.values.max !== null ? vusMaxMetric.values.max
      : vusMaxMetric.values.value !== undefined && vusMaxMetric.values.value !== null ? vusMaxMetric.values.value : null;
  }
  var envelope = {
    version: 1,
    segment: options.segment === undefined || options.segment === null || options.segment === "" ? null : options.segment,
    testRunDurationMs: data.state.testRunDurationMs,
    vusMax: vusMax,
    checks: data.root_group ? sumChecks(data.root_group) : { passes: 0, fails: 0 },
    thresholdsFailed: entries.some(function (entry) {
      var thresholds = entry[1].thresholds || {};
      return Object.keys(thresholds).some(function (expression) { return !thresholds[expression].ok; });
    }),
  };

  var ranked = entries.slice().sort(function (a, b) {
    return keepRank(a[0], a[1]) - keepRank(b[0], b[1]) || coreIndex(a[0]) - coreIndex(b[0]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  });

  function build(keptMetrics, keptVerdicts) {
    var droppedEntries = ranked.slice(keptMetrics);
    var withThresholds = droppedEntries.filter(function (entry) { return hasThresholds(entry[1]); });
    var verdicts = withThresholds.slice(0, keptVerdicts);
    var metrics = {};
    ranked.slice(0, keptMetrics).forEach(function (entry) { metrics[entry[0]] = entry[1]; });
    var droppedThresholds = {};
    verdicts.forEach(function (entry) { droppedThresholds[entry[0]] = entry[1].thresholds || {}; });
    return {
      version: envelope.version,
      segment: envelope.segment,
      testRunDurationMs: envelope.testRunDurationMs,
      vusMax: envelope.vusMax,
      checks: envelope.checks,
      thresholdsFailed: envelope.thresholdsFailed,
      metrics: metrics,
      dropped: { count: droppedEntries.length, names: [], thresholds: droppedThresholds, thresholdsLost: withThresholds.length - verdicts.length },
    };
  }
  function fits(summary) { return jsonByteLength(summary) <= budget; }
  function largestFitting(max, fitsWith) {
    var low = 0;
    var high = max;
    while (low < high) {
      var middle = Math.ceil((low + high) / 2);
      if (fitsWith(middle)) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  var keptMetrics = largestFitting(ranked.length, function (k) { return fits(build(k, Infinity)); });
  var droppedVerdictCount = ranked.slice(keptMetrics).filter(function (entry) { return hasThresholds(entry[1]); }).length;
  var keptVerdicts = keptMetrics > 0 ? droppedVerdictCount : largestFitting(droppedVerdictCount, function (v) { return fits(build(0, v)); });
  var summary = build(keptMetrics, keptVerdicts);
  if (!fits(summary)) throw new Error("a compact k6 summary cannot fit in " + budget + " bytes, not even without metrics");
  var room = budget - jsonByteLength(summary);
  var rest = ranked.slice(keptMetrics);
  for (var d = 0; d < rest.length; d++) {
    var cost = jsonByteLength(rest[d][0]) + (summary.dropped.names.length > 0 ? 1 : 0);
    if (cost > room) break;
    summary.dropped.names.push(rest[d][0]);
    room -= cost;
  }
  return summary;
}
`;
