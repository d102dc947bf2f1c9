// The script k6 actually runs: main.js, next to the test script (script.js). It re-exports
// everything the script exports (default, setup, teardown, scenario functions), adds the
// service's thresholds and the trend stats the merge needs to the script's options, and wraps
// handleSummary: a handleSummary the script defines still runs and its outputs are kept, and the
// runner's compact summary is written to JOB_RESULT_FILE (/dev/termination-log on Kubernetes).
import { SCRIPT_FILE, WRAPPER_ENV } from "../../shared/k6/wrapper-names.js";
import { COMPACT_SUMMARY_JS } from "./compact-summary-js.js";
import { DEFAULT_BYTE_BUDGET } from "./compact-summary.js";

/** Trend stats every runner reports (the merge needs avg, min, med and max). */
export const BASE_TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)"];

export const WRAPPER_SOURCE = `// Written by jobscheduler (docs/k6.md): runs ./${SCRIPT_FILE} and writes its compact summary.
import * as script from "./${SCRIPT_FILE}";
export * from "./${SCRIPT_FILE}";
export default script.default;

export var options = __jobschedulerOptions(script.options, __ENV.${WRAPPER_ENV.thresholds});

export function handleSummary(data) {
  var outputs = {};
  if (typeof script.handleSummary === "function") {
    var own;
    try {
      own = script.handleSummary(data);
    } catch (error) {
      // k6 would drop every output of a handleSummary that throws, this runner's result with them.
      outputs.stderr = "jobscheduler: the script's handleSummary failed (its outputs are lost, the run's result is kept): " + String(error && error.message ? error.message : error) + "\\n";
      outputs.stdout = __jobschedulerText(data);
    }
    if (own && typeof own === "object") {
      for (var key in own) if (Object.prototype.hasOwnProperty.call(own, key)) outputs[key] = own[key];
    }
  } else {
    outputs.stdout = __jobschedulerText(data);
  }
  var path = __ENV.JOB_RESULT_FILE || "/dev/termination-log";
  var compact;
  try {
    compact = __jobschedulerCompactSummary(data, { segment: __ENV.${WRAPPER_ENV.segment} || null, byteBudget: ${DEFAULT_BYTE_BUDGET} });
  } catch (error) {
    compact = { error: "could not compact the summary: " + String(error && error.message ? error.message : error) };
  }
  outputs[path] = JSON.stringify(compact);
  return outputs;
}

function __jobschedulerOptions(own, thresholdsJson) {
  var options = {};
  if (own && typeof own === "object") for (var key in own) if (Object.prototype.hasOwnProperty.call(own, key)) options[key] = own[key];
  var thresholds = {};
  if (options.thresholds) for (var metric in options.thresholds) thresholds[metric] = options.thresholds[metric];
  var replaced = thresholdsJson ? JSON.parse(thresholdsJson) : {};
  for (var name in replaced) {
    if (replaced[name].length === 0) delete thresholds[name];
    else thresholds[name] = replaced[name];
  }
  options.thresholds = thresholds;
  var stats = ${JSON.stringify(BASE_TREND_STATS)};
  function add(stat) { if (stats.indexOf(stat) < 0) stats.push(stat); }
  (options.summaryTrendStats || []).forEach(add);
  for (var m in thresholds) {
    var list = Array.isArray(thresholds[m]) ? thresholds[m] : [thresholds[m]];
    list.forEach(function (entry) {
      var text = typeof entry === "string" ? entry : entry && entry.threshold;
      var match = typeof text === "string" ? /^\\s*(p\\(\\d+(?:\\.\\d+)?\\))/.exec(text) : null;
      if (match) add(match[1]);
    });
  }
  options.summaryTrendStats = stats;
  return options;
}

function __jobschedulerText(data) {
  var m = data.metrics || {};
  var lines = ["k6 run ended after " + Math.round((data.state && data.state.testRunDurationMs) || 0) + " ms"];
  if (m.http_reqs) lines.push("  http_reqs: " + m.http_reqs.values.count + " (" + m.http_reqs.values.rate.toFixed(2) + "/s)");
  if (m.http_req_failed) lines.push("  http_req_failed: " + (m.http_req_failed.values.rate * 100).toFixed(2) + "%");
  if (m.http_req_duration) lines.push("  http_req_duration: avg " + m.http_req_duration.values.avg.toFixed(1) + " ms, p(95) " + (m.http_req_duration.values["p(95)"] || 0).toFixed(1) + " ms");
  if (m.checks) lines.push("  checks: " + m.checks.values.passes + " passed, " + m.checks.values.fails + " failed");
  for (var name in m) {
    var thresholds = m[name].thresholds || {};
    for (var expression in thresholds) lines.push("  " + (thresholds[expression].ok ? "ok    " : "FAILED") + " " + name + ": " + expression);
  }
  return lines.join("\\n") + "\\n";
}
${COMPACT_SUMMARY_JS}`;
