// The stand-in k6 (test/support/fake-k6/k6). No k6 can run here, so this one does what k6 v1.2.0
// does with a script, as far as the service can tell:
// - `k6 run [flags] SCRIPT` loads the script as k6 would (script-loader.mjs): an ES module in a
//   context without Node's globals, its imports resolved to local files or k6's built-in modules
//   (k6-modules.mjs). A syntax error or an exception in the init code exits 107, a module that
//   cannot be resolved 255, options k6 would refuse (a threshold on a metric that does not exist,
//   an unknown executor, a scenario's function missing from the exports) 104; bad flags 104.
// - Options as k6 consolidates them: --vus / --duration / --stage / --iterations replace the
//   script's scenarios; otherwise its `scenarios` (constant-vus, ramping-vus, shared-iterations,
//   per-vu-iterations, constant- and ramping-arrival-rate), else its shortcuts. VUs, iterations
//   and rates are scaled to --execution-segment (one of --execution-segment-sequence's parts).
// - Every VU runs on a thread of its own (vu-worker.mjs) with its own copy of the script and
//   really runs its function: http.* make real, synchronous requests (made by this thread, the
//   VU blocked meanwhile), sleep() sleeps, check() and group() and custom metrics are recorded.
//   setup() runs once before the VUs start (its result is their data), teardown() after.
// - --paused with --address: the REST API (GET /v1/status, PATCH /v1/status with paused:false);
//   the VUs are initialized, and the test starts only when un-paused.
// - The end-of-test summary data is built here from the samples (metrics.mjs, k6 v1.2.0's
//   handleSummary data shape), thresholds judged on them, and the script's handleSummary() runs
//   in a fresh VM with it; its outputs go to stdout, stderr or the files they name.
// - Exit 0, or 99 when a threshold failed; 108 when the script aborted the test. Signals as
//   k6 v1.2.0 takes them: the first SIGTERM/SIGINT stops the test gracefully (VUs interrupted
//   once their request in flight is answered, then the summary), exit 105; a second one while
//   stopping is a hard stop: exit 105 at once, no summary.
// FAKE_K6_LOG: a file where each runner appends JSON lines (listening, started, signal,
// hard-stop, finished) for tests. FAKE_K6_STOP_MS: how long the graceful stop takes (300 ms).
// FAKE_K6_FAIL_WRITES=1: a fault, every file handleSummary returns fails to be written (ENOSPC).
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { MessageChannel, Worker } from "node:worker_threads";
import { BUILTIN_METRICS, DEFAULT_TREND_STATS, SampleStore, parseThresholds, summaryData, textSummary } from "./metrics.mjs";
import { EXIT, K6Error, loadScript, pathId, scriptErrorMessage } from "./script-loader.mjs";

const VALUE_FLAGS = new Set([
  "--execution-segment", "--execution-segment-sequence", "--address", "-a", "--tag", "--out", "-o", "--vus", "-u",
  "--duration", "-d", "--stage", "-s", "--summary-trend-stats", "--iterations", "-i", "--batch", "--batch-per-host",
  "--rps", "--max-redirects", "--user-agent", "--setup-timeout", "--teardown-timeout", "--compatibility-mode", "--dns",
  "--system-tags", "--blacklist-ip", "--block-hostnames", "--env", "-e",
]);

function fail(code, message) {
  console.error(`time="${new Date().toISOString()}" level=error msg=${JSON.stringify(message)}`);
  process.exit(code);
}

const argv = process.argv.slice(2);
if (argv[0] === "version") {
  console.log("k6 v1.2.0 (fake, for tests)");
  process.exit(0);
}
if (argv[0] !== "run") fail(EXIT.generic, `unknown command "${argv[0] ?? ""}" for "k6"`);

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
    if (i + 1 >= argv.length) fail(EXIT.invalidConfig, `flag needs an argument: ${name}`);
    value = argv[++i];
  }
  if (!flags.has(name)) flags.set(name, []);
  flags.get(name).push(value);
}
const flag = (...names) => names.map((n) => flags.get(n)?.at(-1)).find((v) => v !== undefined);
if (positional.length !== 1) fail(EXIT.invalidConfig, `accepts 1 arg(s), received ${positional.length}`);
const scriptPath = positional[0];
if (!existsSync(scriptPath)) fail(EXIT.generic, `The moduleSpecifier "${scriptPath}" couldn't be found on local disk.`);

const logFile = process.env.FAKE_K6_LOG;
const segmentText = flag("--execution-segment");
const note = (event, extra = {}) => {
  if (logFile) appendFileSync(logFile, `${JSON.stringify({ event, segment: segmentText ?? null, envSegment: process.env.JOBSCHEDULER_K6_SEGMENT || null, pid: process.pid, at: Date.now(), ...extra })}\n`);
};

// ---- durations and the execution segment ----
function durationMs(value, what) {
  if (typeof value === "number") return value * 1000;
  const text = String(value ?? "").trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) return Number(text) * 1000;
  let total = 0;
  let rest = text;
  if (!rest) throw new K6Error(EXIT.invalidConfig, `${what}: invalid duration ""`);
  while (rest) {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(rest);
    if (!match) throw new K6Error(EXIT.invalidConfig, `${what}: invalid duration "${text}"`);
    total += Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2]];
    rest = rest.slice(match[0].length);
  }
  return total;
}
function rat(text) {
  const [num, den = "1"] = text.split("/");
  return Number(num) / Number(den);
}
let from = 0;
let to = 1;
if (segmentText) {
  const sequenceText = flag("--execution-segment-sequence");
  [from, to] = segmentText.split(":").map(rat);
  if (sequenceText) {
    const sequence = sequenceText.split(",").map(rat);
    const i = sequence.findIndex((v) => Math.abs(v - from) < 1e-12);
    if (i < 0 || !(Math.abs(sequence[i + 1] - to) < 1e-12)) fail(EXIT.invalidConfig, `segment ${segmentText} is not a part of the sequence ${sequenceText}`);
  }
}
/** This segment's share of a whole number, as k6 splits it: no overlap, nothing lost. */
const scaled = (value) => Math.floor(value * to + 1e-9) - Math.floor(value * from + 1e-9);

// ---- load the script once (the init check) and consolidate its options ----
const env = { ...process.env };
for (const pair of flags.get("--env") ?? flags.get("-e") ?? []) {
  const i = String(pair).indexOf("=");
  if (i > 0) env[pair.slice(0, i)] = pair.slice(i + 1);
}
const systemTags = Object.fromEntries((flags.get("--tag") ?? []).map((t) => [String(t).slice(0, String(t).indexOf("=")), String(t).slice(String(t).indexOf("=") + 1)]));
const customMetrics = new Map();
const initHost = {
  phase: () => "init",
  vuId: () => 0,
  iteration: () => 0,
  env: () => ({ ...env }),
  log: (level, text) => process.stderr.write(`level=${level} msg=${JSON.stringify(text)} source=console\n`),
  request: () => {
    throw new Error("Making http requests in the init context is not supported");
  },
  sleep: () => {},
  check: () => true,
  group: (name, fn) => fn(),
  defineMetric: (name, type, isTime) => customMetrics.set(name, [type, type === "trend" && isTime ? "time" : "default"]),
  addSample: () => {},
  setResponseCallback: () => {},
  execution: () => undefined,
  abort: () => {},
  options: () => ({}),
};

let exports;
try {
  exports = await loadScript(scriptPath, initHost);
} catch (error) {
  fail(error instanceof K6Error ? error.exitCode : EXIT.scriptException, scriptErrorMessage(error));
}
const options = exports.options && typeof exports.options === "object" ? JSON.parse(JSON.stringify(exports.options)) : {};
const types = new Map([...Object.entries(BUILTIN_METRICS), ...customMetrics]);

let thresholds;
let scenarios;
try {
  thresholds = parseThresholds(options.thresholds, types);
  scenarios = consolidate(options);
} catch (error) {
  fail(error instanceof K6Error ? error.exitCode : EXIT.invalidConfig, error.message);
}
const trendStats = [...(flag("--summary-trend-stats")?.split(",") ?? options.summaryTrendStats ?? DEFAULT_TREND_STATS)];

function consolidate(opts) {
  const cliVus = flag("--vus", "-u");
  const cliDuration = flag("--duration", "-d");
  const cliStages = flags.get("--stage") ?? flags.get("-s");
  const cliIterations = flag("--iterations", "-i");
  const cli = cliVus !== undefined || cliDuration !== undefined || cliStages !== undefined || cliIterations !== undefined;
  const vus = cliVus !== undefined ? Number(cliVus) : opts.vus;
  const duration = cliDuration ?? opts.duration;
  const stages = cliStages ? cliStages.map((s) => ({ duration: s.slice(0, s.lastIndexOf(":")), target: Number(s.slice(s.lastIndexOf(":") + 1)) })) : opts.stages;
  const iterations = cliIterations !== undefined ? Number(cliIterations) : opts.iterations;
  const shortcuts = cli || vus !== undefined || duration !== undefined || stages !== undefined || iterations !== undefined;
  let raw;
  if (shortcuts && (cli || !opts.scenarios)) {
    if (stages?.length) raw = { default: { executor: "ramping-vus", startVUs: vus ?? 1, stages } };
    else if (iterations !== undefined) raw = { default: { executor: "shared-iterations", vus: vus ?? 1, iterations, maxDuration: duration ?? "10m" } };
    else if (duration !== undefined && durationMs(duration, "duration") > 0) raw = { default: { executor: "constant-vus", vus: vus ?? 1, duration } };
    else raw = { default: { executor: "per-vu-iterations", vus: vus ?? 1, iterations: 1 } };
  } else raw = opts.scenarios ?? { default: { executor: "per-vu-iterations", vus: 1, iterations: 1 } };

  const implicit = !opts.scenarios || cli;
  const list = [];
  for (const [name, s] of Object.entries(raw)) {
    const exec = s.exec ?? "default";
    if (typeof exports[exec] !== "function") {
      if (implicit && exec === "default") throw new K6Error(EXIT.scriptException, "could not initialize the script: no exported functions in script");
      throw new K6Error(EXIT.invalidConfig, `error validating scenario "${name}": function '${exec}' not found in exports`);
    }
    const base = { name, exec, executor: s.executor, env: s.env, startTimeMs: s.startTime ? durationMs(s.startTime, `scenarios.${name}.startTime`) : 0 };
    const positive = (value, field) => {
      if (!Number.isInteger(value) || value < 0) throw new K6Error(EXIT.invalidConfig, `scenario "${name}": ${field} must be a non-negative integer, got ${JSON.stringify(value)}`);
      return value;
    };
    switch (s.executor) {
      case "constant-vus":
        list.push({ ...base, vus: scaled(positive(s.vus ?? 1, "vus")), durationMs: durationMs(s.duration, `scenarios.${name}.duration`) });
        break;
      case "ramping-vus": {
        if (!Array.isArray(s.stages) || s.stages.length === 0) throw new K6Error(EXIT.invalidConfig, `scenario "${name}": ramping-vus needs stages`);
        const staged = s.stages.map((st, i) => ({ durationMs: durationMs(st.duration, `scenarios.${name}.stages[${i}].duration`), target: scaled(positive(st.target, `stages[${i}].target`)) }));
        const startVUs = scaled(positive(s.startVUs ?? 1, "startVUs"));
        list.push({ ...base, stages: staged, startVUs, vus: Math.max(startVUs, ...staged.map((st) => st.target)) });
        break;
      }
      case "shared-iterations": {
        const total = positive(s.iterations ?? 1, "iterations");
        const allVus = positive(s.vus ?? 1, "vus");
        if (total < allVus) throw new K6Error(EXIT.invalidConfig, `scenario "${name}": the number of iterations (${total}) can't be less than the number of VUs (${allVus})`);
        list.push({ ...base, vus: scaled(allVus), iterations: scaled(total), maxDurationMs: durationMs(s.maxDuration ?? "10m", `scenarios.${name}.maxDuration`) });
        break;
      }
      case "per-vu-iterations":
        list.push({ ...base, vus: scaled(positive(s.vus ?? 1, "vus")), iterations: positive(s.iterations ?? 1, "iterations"), maxDurationMs: durationMs(s.maxDuration ?? "10m", `scenarios.${name}.maxDuration`) });
        break;
      case "constant-arrival-rate":
        list.push({
          ...base,
          vus: scaled(positive(s.preAllocatedVUs ?? 1, "preAllocatedVUs")),
          rate: Number(s.rate) * (to - from),
          timeUnitMs: durationMs(s.timeUnit ?? "1s", `scenarios.${name}.timeUnit`),
          durationMs: durationMs(s.duration, `scenarios.${name}.duration`),
        });
        break;
      case "ramping-arrival-rate": {
        const staged = (s.stages ?? []).map((st, i) => ({ durationMs: durationMs(st.duration, `scenarios.${name}.stages[${i}].duration`), target: Number(st.target) * (to - from) }));
        list.push({
          ...base,
          vus: scaled(positive(s.preAllocatedVUs ?? 1, "preAllocatedVUs")),
          startRate: Number(s.startRate ?? 0) * (to - from),
          stages: staged,
          timeUnitMs: durationMs(s.timeUnit ?? "1s", `scenarios.${name}.timeUnit`),
          durationMs: staged.reduce((sum, st) => sum + st.durationMs, 0),
        });
        break;
      }
      default:
        throw new K6Error(EXIT.invalidConfig, `error parsing scenario "${name}": unknown executor type '${s.executor}'`);
    }
  }
  return list;
}

const vusMax = scenarios.reduce((n, s) => n + s.vus, 0);

// ---- the REST API and the paused start ----
const paused = flags.has("--paused");
let state = { paused, running: false, stopped: false };
let activeVus = 0;
let resolveStart;
const started = new Promise((resolve) => (resolveStart = resolve));
if (!paused) resolveStart();
let api;
const address = flag("--address", "-a");
if (address) {
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  const status = () => ({
    data: { type: "status", id: "default", attributes: { status: state.running ? 7 : 4, paused: state.paused, vus: activeVus, "vus-max": vusMax, stopped: state.stopped, running: state.running, tainted: false } },
  });
  api = http.createServer((req, res) => {
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
    api.listen(port, host === "0.0.0.0" || host === "" ? undefined : host, resolve);
  }).catch((error) => fail(106, `could not start the REST API on ${address}: ${error.message}`));
  note("listening", { address, paused });
}

// Signals as k6 v1.2.0 takes them (cmd/run.go, handleTestAbortSignals): the first SIGTERM/SIGINT
// stops the test gracefully; a second one while it does that is a hard stop: exit 105 at once, no
// summary. Once the summary is written the trap is released.
const stopWorkMs = Number(process.env.FAKE_K6_STOP_MS ?? "300");
let stopSignal = null;
let resolveStopped;
const stopped = new Promise((resolve) => (resolveStopped = resolve));
const controls = [];
function stopVus() {
  for (const control of controls) {
    Atomics.store(control, 0, 1);
    Atomics.notify(control, 0);
    Atomics.notify(control, 1);
  }
}
function onSignal(signal) {
  note("signal", { signal });
  if (stopSignal) {
    console.error(`time="${new Date().toISOString()}" level=error msg="Aborting k6 in response to signal ${signal}" (a second one: hard stop)`);
    note("hard-stop", { signal });
    process.exit(EXIT.externalAbort);
  }
  stopSignal = signal;
  stopVus();
  resolveStopped();
}
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, onSignal);

// ---- the VUs' requests, made here while each VU's thread waits ----
const agents = new Map();
function agentFor(vuId, protocol) {
  const key = `${vuId}:${protocol}`;
  if (!agents.has(key)) agents.set(key, new (protocol === "https:" ? https : http).Agent({ keepAlive: true }));
  return agents.get(key);
}
const ERROR_CODES = { ECONNREFUSED: 1212, ECONNRESET: 1220, ETIMEDOUT: 1050, ENOTFOUND: 1101, EAI_AGAIN: 1101, ERR_INVALID_URL: 1020 };

function perform(vuId, { method, url, headers, body }, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const marks = { socket: t0, connect: t0, sent: t0, firstByte: t0 };
    const failed = (error) => {
      const now = performance.now();
      resolve({ status: 0, statusText: "", headers: {}, body: "", url, error: error.message, errorCode: ERROR_CODES[error.code] ?? 1000, sentBytes: 0, receivedBytes: 0, timings: { duration: now - t0, blocked: 0, connecting: 0, sending: 0, waiting: now - t0, receiving: 0 } });
    };
    let target;
    try {
      target = new URL(url);
    } catch (error) {
      return failed(Object.assign(error, { code: "ERR_INVALID_URL" }));
    }
    const payload = body === null || body === undefined ? undefined : Buffer.from(body, "latin1");
    const allHeaders = { ...headers, ...(payload ? { "Content-Length": String(payload.length) } : {}) };
    const sentBytes = Buffer.byteLength(`${method} ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n${Object.entries(allHeaders).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`) + (payload?.length ?? 0);
    const req = (target.protocol === "https:" ? https : http).request(target, { method, headers: allHeaders, agent: agentFor(vuId, target.protocol), timeout: timeoutMs }, (res) => {
      marks.firstByte = performance.now();
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("error", failed);
      res.on("end", () => {
        const end = performance.now();
        const buffer = Buffer.concat(chunks);
        const headerBytes = Buffer.byteLength(`HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`) + res.rawHeaders.reduce((n, h) => n + Buffer.byteLength(h) + 2, 0) + 2;
        resolve({
          status: res.statusCode,
          statusText: `${res.statusCode} ${res.statusMessage}`,
          headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k.replace(/(^|-)([a-z])/g, (m) => m.toUpperCase()), Array.isArray(v) ? v.join(", ") : v])),
          body: buffer.toString("utf8"),
          url,
          sentBytes,
          receivedBytes: headerBytes + buffer.length,
          timings: {
            duration: end - marks.connect,
            blocked: marks.socket - t0,
            connecting: marks.connect - marks.socket,
            sending: marks.sent - marks.connect,
            waiting: marks.firstByte - marks.sent,
            receiving: end - marks.firstByte,
          },
        });
      });
    });
    req.on("socket", (socket) => {
      marks.socket = performance.now();
      if (socket.connecting) socket.once("connect", () => (marks.connect = performance.now()));
      else marks.connect = marks.socket;
    });
    req.on("finish", () => (marks.sent = performance.now()));
    req.on("timeout", () => req.destroy(Object.assign(new Error(`request timeout after ${timeoutMs} ms`), { code: "ETIMEDOUT" })));
    req.on("error", failed);
    req.end(payload);
  });
}

// ---- VU threads ----
const workerUrl = new URL("./vu-worker.mjs", import.meta.url);
const store = new SampleStore();
const checkEntries = new Map();
const groupPaths = new Set();
let requestCount = 0;
let failedCount = 0;
let aborted;

function startWorker(vuId, mode, scenario, counter) {
  const control = new Int32Array(new SharedArrayBuffer(8));
  controls.push(control);
  if (stopSignal) Atomics.store(control, 0, 1);
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(workerUrl, {
    workerData: { scriptPath, env, vuId, mode, scenario, control: control.buffer, counter, port: port2, systemTags, options },
    transferList: [port2],
    stdout: false,
    stderr: false,
  });
  port1.on("message", async (req) => {
    const answer = await perform(vuId, req, req.timeoutMs);
    port1.postMessage(answer);
    const reply = new Int32Array(req.reply);
    Atomics.store(reply, 0, 1);
    Atomics.notify(reply, 0);
  });
  let resolveReady;
  const ready = new Promise((resolve) => (resolveReady = resolve));
  const done = new Promise((resolve) => {
    let result;
    worker.on("message", (message) => {
      if (message.type === "ready") resolveReady({ ok: true });
      else if (message.type === "error") {
        resolveReady({ ok: false, message });
        result = { error: message };
      } else if (message.type === "done") result = message;
    });
    worker.on("error", (error) => {
      resolveReady({ ok: false, message: { exitCode: EXIT.generic, message: String(error?.stack ?? error) } });
      result = { error: { exitCode: EXIT.generic, message: String(error?.message ?? error) } };
    });
    worker.on("exit", () => {
      port1.close();
      resolve(result ?? { error: { exitCode: EXIT.generic, message: "a VU thread ended without a result" } });
    });
  });
  const go = (message) => {
    port1.postMessage(message);
    Atomics.store(control, 1, 1);
    Atomics.notify(control, 1);
  };
  return { ready, done, go };
}

function collect(result) {
  if (result.error) fail(result.error.exitCode, result.error.message);
  store.merge(result.samples);
  for (const [name, type] of result.metrics ?? []) types.set(name, type);
  for (const c of result.checks) {
    const mine = checkEntries.get(c.path);
    if (mine) {
      mine.passes += c.passes;
      mine.fails += c.fails;
    } else checkEntries.set(c.path, { ...c });
  }
  for (const g of result.groups) groupPaths.add(g);
  aborted ??= result.aborted;
}

async function once(mode, data) {
  const worker = startWorker(0, mode, { name: mode, executor: mode }, undefined);
  const ready = await worker.ready;
  if (!ready.ok) fail(ready.message.exitCode, ready.message.message);
  worker.go({ data });
  const result = await worker.done;
  collect(result);
  return result.result;
}

// Every VU is initialized (its own copy of the script evaluated) before the test starts.
let nextVuId = 1;
const vus = [];
for (const scenario of scenarios) {
  const counter = new SharedArrayBuffer(4);
  for (let i = 0; i < scenario.vus; i++) vus.push(startWorker(nextVuId++, "vu", { ...scenario, vuIndex: i }, counter));
}
for (const vu of vus) {
  const ready = await vu.ready;
  if (!ready.ok) fail(ready.message.exitCode, ready.message.message);
}

await Promise.race([started, stopped]);
const begin = Date.now();
state.running = true;
if (!paused) note("started");
let setupData;
if (!stopSignal && typeof exports.setup === "function" && !flags.has("--no-setup")) setupData = await once("setup");
const vuSamples = [];
const sampleVus = () => store.add("vus", "gauge", activeVus, {});
activeVus = vus.length;
sampleVus();
const ticker = setInterval(sampleVus, 1000);
for (const vu of vus) vu.go({ data: setupData, startedAt: Date.now() });
for (const vu of vus) {
  const result = await vu.done;
  activeVus--;
  vuSamples.push(result);
}
clearInterval(ticker);
for (const result of vuSamples) collect(result);
store.add("vus_max", "gauge", vusMax, {});
if (typeof exports.teardown === "function" && !flags.has("--no-teardown") && !stopSignal) await once("teardown", setupData);
const testRunDurationMs = Date.now() - begin;
if (stopSignal) await new Promise((resolve) => setTimeout(resolve, stopWorkMs));
state = { paused: false, running: false, stopped: true };
activeVus = 0;

// ---- the summary ----
function rootGroup() {
  const group = (path, name) => ({
    name,
    path,
    id: pathId(path),
    groups: [...groupPaths].filter((g) => g.startsWith(`${path}::`) && !g.slice(path.length + 2).includes("::")).sort().map((g) => group(g, g.slice(path.length + 2))),
    checks: [...checkEntries.values()].filter((c) => c.group === path).map(({ name: n, path: p, id, passes, fails }) => ({ name: n, path: p, id, passes, fails })),
  });
  return group("", "");
}
const { data, thresholdsFailed } = summaryData({ store, types, thresholds, trendStats, testRunDurationMs, rootGroup: rootGroup() });
const http_reqs = data.metrics.http_reqs?.values.count ?? 0;
requestCount = http_reqs;
failedCount = data.metrics.http_req_failed?.values.passes ?? 0;

let outputs;
if (typeof exports.handleSummary === "function") {
  // k6 runs handleSummary in a fresh VM (a new copy of the script, its init code run again).
  try {
    let phase = "init";
    const fresh = await loadScript(scriptPath, { ...initHost, phase: () => phase });
    phase = "summary";
    outputs = fresh.handleSummary(data);
  } catch (error) {
    console.error(`time="${new Date().toISOString()}" level=error msg="failed to handle the end-of-test summary" error=${JSON.stringify(scriptErrorMessage(error))}`);
  }
}
if (!outputs || typeof outputs !== "object") outputs = { stdout: textSummary(data) };
for (const [key, value] of Object.entries(outputs)) {
  const text = typeof value === "string" ? value : value instanceof ArrayBuffer ? Buffer.from(value) : String(value);
  if (key === "stdout") process.stdout.write(text);
  else if (key === "stderr") process.stderr.write(text);
  else {
    // k6 logs a summary output it cannot write and exits as it would have (no other effect).
    try {
      if (process.env.FAKE_K6_FAIL_WRITES === "1") throw Object.assign(new Error(`open ${key}: no space left on device`), { code: "ENOSPC" });
      writeFileSync(key, text);
    } catch (error) {
      console.error(`time="${new Date().toISOString()}" level=error msg="failed to handle the end-of-test summary" error=${JSON.stringify(error.message)}`);
    }
  }
}
for (const signal of ["SIGTERM", "SIGINT"]) process.off(signal, onSignal);
note("finished", { vus: vusMax, requests: requestCount, failed: failedCount, thresholdsFailed });
api?.close();
api?.closeAllConnections?.();
for (const agent of agents.values()) agent.destroy();
process.exit(stopSignal ? EXIT.externalAbort : aborted ? 108 : thresholdsFailed ? EXIT.thresholdsFailed : 0);
