// The stand-in k6 (test/support/fake-k6/k6). It honours the parts of k6's CLI contract the service
// relies on (k6.md), with real HTTP load:
// - `k6 run [flags] SCRIPT`: --execution-segment / --execution-segment-sequence (the segment must be
//   one of the sequence's parts), --vus / --duration / --stage, or VUS / DURATION / STAGES from env
//   as the built-in scenarios read them; VUs are scaled to the segment as k6 does (no overlap, none lost);
// - --paused with --address: the REST API (GET /v1/status, PATCH /v1/status with paused:false) and
//   the test starts only when un-paused;
// - like the wrapper's handleSummary: makes k6-shaped summary data from the requests it really made
//   (GET API_URL + SMOKE_PATH per iteration, THINK_TIME between), judges the thresholds of
//   JOBSCHEDULER_K6_THRESHOLDS, and writes the compact summary (the reference implementation,
//   dist/jobs/k6/compact-summary.js) to JOB_RESULT_FILE;
// - exit 0, or 99 when a threshold failed; 105 when stopped by SIGTERM/SIGINT (a second signal
//   while stopping: 105 without a summary, as k6 does); 104 on bad flags.
// FAKE_K6_LOG: a file where each runner appends JSON lines (listening, started, signal, hard-stop,
// finished) for tests.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";

const dist = new URL("../../../dist/jobs/k6/", import.meta.url);
const { compactSummary } = await import(new URL("compact-summary.js", dist).href);
const { evaluateThreshold, parseThreshold } = await import(new URL("thresholds.js", dist).href);

const VALUE_FLAGS = new Set([
  "--execution-segment", "--execution-segment-sequence", "--address", "-a", "--tag", "--out", "-o", "--vus", "-u",
  "--duration", "-d", "--stage", "-s", "--summary-trend-stats", "--iterations", "-i", "--batch", "--batch-per-host",
  "--rps", "--max-redirects", "--user-agent", "--setup-timeout", "--teardown-timeout", "--compatibility-mode", "--dns",
  "--system-tags", "--blacklist-ip", "--block-hostnames", "--env", "-e",
]);

function fail(code, message) {
  console.error(`fake k6: ${message}`);
  process.exit(code);
}

const argv = process.argv.slice(2);
if (argv[0] === "version") {
  console.log("k6 v1.2.0 (fake, for tests)");
  process.exit(0);
}
if (argv[0] !== "run") fail(255, `unknown command ${argv[0] ?? "(none)"}`);

const flags = new Map();
const positional = [];
for (let i = 1; i < argv.length; i++) {
  const token = argv[i];
  if (!token.startsWith("-")) {
    positional.push(token);
    continue;
  }
  const eq = token.indexOf("=");
  const name = eq >= 0 ? token.slice(0, eq) : token;
  let value = true;
  if (eq >= 0) value = token.slice(eq + 1);
  else if (VALUE_FLAGS.has(name)) {
    if (i + 1 >= argv.length) fail(104, `flag needs an argument: ${name}`);
    value = argv[++i];
  }
  if (!flags.has(name)) flags.set(name, []);
  flags.get(name).push(value);
}
const flag = (name) => flags.get(name)?.at(-1);
if (positional.length !== 1) fail(104, `run needs exactly one script, got ${positional.length}`);
const scriptPath = positional[0];
if (!existsSync(scriptPath)) fail(104, `the script ${scriptPath} does not exist`);
const mainSource = readFileSync(scriptPath, "utf8");
for (const match of mainSource.matchAll(/from\s+"(\.\/[^"]+)"/g)) {
  if (!existsSync(join(dirname(scriptPath), match[1]))) fail(107, `the script imports ${match[1]}, which does not exist`);
}

// ---- execution segment ----
function rat(text) {
  const [num, den = "1"] = text.split("/");
  return Number(num) / Number(den);
}
const segmentText = flag("--execution-segment");
const sequenceText = flag("--execution-segment-sequence");
let from = 0;
let to = 1;
if (segmentText) {
  if (!sequenceText) fail(104, "--execution-segment needs --execution-segment-sequence");
  [from, to] = segmentText.split(":").map(rat);
  const sequence = sequenceText.split(",").map(rat);
  const i = sequence.findIndex((v) => Math.abs(v - from) < 1e-12);
  if (i < 0 || Math.abs(sequence[i + 1] - to) < 1e-12 === false) fail(104, `segment ${segmentText} is not a part of the sequence ${sequenceText}`);
}
const scaled = (value) => Math.floor(value * to + 1e-9) - Math.floor(value * from + 1e-9);

// ---- load shape ----
function durationMs(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text);
  if (!match) fail(104, `bad duration ${text}`);
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2]];
}
let stages = (flags.get("--stage") ?? []).map((s) => {
  const [d, target] = s.split(":");
  return { durationMs: durationMs(d), target: Number(target) };
});
if (!stages.length && !flag("--vus") && !flag("--duration") && process.env.STAGES) {
  stages = JSON.parse(process.env.STAGES).map((s) => ({ durationMs: durationMs(s.duration), target: Number(s.target) }));
}
const totalVus = stages.length ? Math.max(...stages.map((s) => s.target)) : Number(flag("--vus") ?? process.env.VUS ?? 1);
const runMs = stages.length ? stages.reduce((sum, s) => sum + s.durationMs, 0) : durationMs(flag("--duration") ?? process.env.DURATION ?? "10s");
const vus = scaled(totalVus);
const thinkMs = Number(process.env.THINK_TIME ?? "0") * 1000;
const segment = process.env.JOBSCHEDULER_K6_SEGMENT || null;
const logFile = process.env.FAKE_K6_LOG;
const note = (event, extra = {}) => {
  if (logFile) appendFileSync(logFile, `${JSON.stringify({ event, segment: segmentText ?? null, envSegment: segment, pid: process.pid, at: Date.now(), ...extra })}\n`);
};

// ---- the REST API and the paused start ----
const paused = flags.has("--paused");
let state = { paused, running: false, stopped: false };
let resolveStart;
const started = new Promise((resolve) => (resolveStart = resolve));
if (!paused) resolveStart();
let api;
const address = flag("--address") ?? flag("-a");
if (address) {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  const status = () => ({
    data: { type: "status", id: "default", attributes: { status: state.running ? 7 : 4, paused: state.paused, vus: state.running ? vus : 0, "vus-max": vus, stopped: state.stopped, running: state.running, tainted: false } },
  });
  api = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      if (req.url !== "/v1/status") return res.writeHead(404).end();
      if (req.method === "PATCH") {
        let attributes;
        try {
          attributes = JSON.parse(body).data.attributes;
        } catch {
          return res.writeHead(400).end('{"errors":[{"title":"bad body"}]}');
        }
        if (attributes.paused === false && state.paused) {
          state.paused = false;
          note("started");
          resolveStart();
        }
      } else if (req.method !== "GET") return res.writeHead(405).end();
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(status()));
    });
  });
  await new Promise((resolve, reject) => {
    api.once("error", (error) => reject(error));
    api.listen(port, host === "0.0.0.0" ? undefined : host, resolve);
  }).catch((error) => fail(255, `cannot listen on ${address}: ${error.message}`));
  note("listening", { address, paused });
}

// Signals as k6 v1.2.0 takes them (cmd/run.go, handleTestAbortSignals): the first SIGTERM/SIGINT
// stops the test gracefully (VUs interrupted, then handleSummary, exit 105); a second one while it
// does that is a hard stop: exit 105 at once, no summary. Once the summary is written the trap is
// released, and a signal then kills the process outright. The graceful stop takes k6 a moment
// (metrics flushed, handleSummary run in a fresh VM): FAKE_K6_STOP_MS, 300 ms by default.
const stopWorkMs = Number(process.env.FAKE_K6_STOP_MS ?? "300");
let stopSignal = null;
let resolveStopped;
const stopped = new Promise((resolve) => (resolveStopped = resolve));
function onSignal(signal) {
  note("signal", { signal });
  if (stopSignal) {
    console.error(`fake k6: received ${signal} again while stopping: hard stop, no summary`);
    note("hard-stop", { signal });
    process.exit(105);
  }
  stopSignal = signal;
  resolveStopped();
}
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, onSignal);
await Promise.race([started, stopped]);

// ---- the load ----
const target = (process.env.API_URL ?? "").replace(/\/+$/, "");
if (!target && vus > 0) fail(107, "API_URL is required");
let path = process.env.SMOKE_PATH || "/api/events?page=1&pageSize=20";
if (!path.startsWith("/")) path = `/${path}`;
const durations = [];
const iterationDurations = [];
let failed = 0;
let received = 0;
let checkPasses = 0;
let checkFails = 0;
const begin = Date.now();
state.running = true;
if (!paused) note("started");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function vu() {
  while (!stopSignal && Date.now() - begin < runMs) {
    const iterationStart = Date.now();
    const t0 = performance.now();
    let status = 0;
    try {
      const response = await fetch(target + path, { headers: { "User-Agent": "k6/1.2.0 (fake)" }, signal: AbortSignal.timeout(10_000) });
      const text = await response.text();
      received += Buffer.byteLength(text);
      status = response.status;
    } catch {
      status = 0;
    }
    durations.push(performance.now() - t0);
    if (status < 200 || status >= 400) failed++;
    if (status >= 200 && status < 300) checkPasses++;
    else checkFails++;
    if (thinkMs > 0) await Promise.race([sleep(thinkMs), stopped]);
    iterationDurations.push(Date.now() - iterationStart);
  }
}
await Promise.all(Array.from({ length: vus }, () => vu()));
const testRunDurationMs = Date.now() - begin;
if (stopSignal) await sleep(stopWorkMs);
state = { paused: false, running: false, stopped: true };

// ---- the summary ----
const thresholdsByMetric = JSON.parse(process.env.JOBSCHEDULER_K6_THRESHOLDS || "{}");
const trendStats = ["avg", "min", "med", "max", "p(90)", "p(95)"];
for (const expressions of Object.values(thresholdsByMetric)) {
  for (const expression of expressions) {
    const t = parseThreshold(expression);
    if (t.aggregation === "p" && !trendStats.includes(`p(${t.percentile})`)) trendStats.push(`p(${t.percentile})`);
  }
}
function percentile(sorted, p) {
  if (!sorted.length) return 0;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}
function trend(samples, contains = "time") {
  const sorted = [...samples].sort((a, b) => a - b);
  const values = {};
  for (const stat of trendStats) {
    if (stat === "avg") values.avg = sorted.reduce((a, b) => a + b, 0) / sorted.length;
    else if (stat === "min") values.min = sorted[0];
    else if (stat === "max") values.max = sorted.at(-1);
    else if (stat === "med") values.med = percentile(sorted, 50);
    else values[stat] = percentile(sorted, Number(/^p\((.*)\)$/.exec(stat)[1]));
  }
  return { type: "trend", contains, values };
}
const seconds = Math.max(testRunDurationMs, 1) / 1000;
const reqs = durations.length;
const metrics = {
  vus: { type: "gauge", contains: "default", values: { value: vus, min: vus ? 1 : 0, max: vus } },
  vus_max: { type: "gauge", contains: "default", values: { value: vus, min: vus, max: vus } },
};
if (reqs > 0) {
  Object.assign(metrics, {
    http_reqs: { type: "counter", contains: "default", values: { count: reqs, rate: reqs / seconds } },
    http_req_failed: { type: "rate", contains: "default", values: { rate: failed / reqs, passes: failed, fails: reqs - failed } },
    http_req_duration: trend(durations),
    iterations: { type: "counter", contains: "default", values: { count: iterationDurations.length, rate: iterationDurations.length / seconds } },
    iteration_duration: trend(iterationDurations),
    checks: { type: "rate", contains: "default", values: { rate: checkPasses / reqs, passes: checkPasses, fails: checkFails } },
    data_received: { type: "counter", contains: "data", values: { count: received, rate: received / seconds } },
    data_sent: { type: "counter", contains: "data", values: { count: reqs * 90, rate: (reqs * 90) / seconds } },
  });
}
let anyFailed = false;
for (const [metric, expressions] of Object.entries(thresholdsByMetric)) {
  if (!metrics[metric] || !expressions.length) continue;
  metrics[metric].thresholds = {};
  for (const expression of expressions) {
    const outcome = evaluateThreshold(parseThreshold(expression), metrics[metric].values);
    const ok = outcome ? outcome.ok : true;
    anyFailed ||= !ok;
    metrics[metric].thresholds[expression] = { ok };
  }
}
const data = {
  root_group: { name: "", path: "", id: "d41d8cd98f00b204e9800998ecf8427e", groups: [], checks: reqs ? [{ name: "status is 2xx", path: "::status is 2xx", id: "1", passes: checkPasses, fails: checkFails }] : [] },
  options: { summaryTrendStats: trendStats, summaryTimeUnit: "", noColor: false },
  state: { isStdOutTTY: false, isStdErrTTY: false, testRunDurationMs },
  metrics,
};
const resultFile = process.env.JOB_RESULT_FILE || "/dev/termination-log";
writeFileSync(resultFile, JSON.stringify(compactSummary(data, { segment })));
for (const signal of ["SIGTERM", "SIGINT"]) process.off(signal, onSignal);
console.log(`fake k6: ${vus} VUs made ${reqs} requests (${failed} failed) in ${testRunDurationMs} ms${anyFailed ? "; thresholds failed" : ""}`);
note("finished", { vus, requests: reqs, failed, thresholdsFailed: anyFailed });
api?.close();
api?.closeAllConnections?.();
process.exit(stopSignal ? 105 : anyFailed ? 99 : 0);
