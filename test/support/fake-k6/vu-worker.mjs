// One VU of the stand-in k6, on a thread of its own: it evaluates the script (its own copy, as
// every k6 VU does), then runs the scenario's function iteration after iteration. The script
// code is synchronous as in k6: http.get() blocks this thread (Atomics.wait) while the runner's
// main thread makes the request, and sleep() blocks on the stop flag, so a stop wakes it.
//
// A stop lets the request in flight finish (it is counted: the target received it) and then
// interrupts the iteration: no further request of it is sent.
//
// workerData: { scriptPath, env, vuId, mode: "vu" | "setup" | "teardown", scenario, control, counter, port, systemTags, types }
//   control (Int32Array over a SharedArrayBuffer): [0] stop flag, [1] go flag
//   counter (Int32Array): the scenario's shared iteration counter (shared-iterations, arrival rates)
// Messages to the parent: { type: "ready", metrics } | { type: "error", exitCode, message } |
//   { type: "done", samples, checks, groups, iterations, result? }
import { parentPort, receiveMessageOnPort, workerData } from "node:worker_threads";
import { BUILTIN_METRICS, SampleStore } from "./metrics.mjs";
import { EXIT, K6Error, loadScript, pathId, scriptErrorMessage } from "./script-loader.mjs";

const { scriptPath, env, vuId, mode, scenario, port, systemTags } = workerData;
const control = new Int32Array(workerData.control);
const counter = workerData.counter ? new Int32Array(workerData.counter) : undefined;
const reply = new Int32Array(new SharedArrayBuffer(4));

const INTERRUPT = Symbol("interrupted by the test's stop");
const types = new Map(Object.entries(BUILTIN_METRICS));
const store = new SampleStore();
const checks = new Map(); // path → { name, path, id, passes, fails, group }
const groups = new Set(); // group paths seen
let phase = "init";
let iteration = 0;
let groupPath = "";
let responseCallback;
let startedAt = 0;
let aborted;
/** The VU's setup data, its function and its scenario's start (runVu sets them). */
let data;
let fn;
let begin = 0;

const stopped = () => Atomics.load(control, 0) !== 0;

function sample(name, value, tags = {}) {
  const type = types.get(name)?.[0];
  if (!type) return;
  store.add(name, type, value, { ...systemTags, scenario: scenario.name, group: groupPath, ...tags });
}

/** Blocks until the stop flag is set or ms passed; true when stopped. */
function pause(ms) {
  if (ms > 0) Atomics.wait(control, 0, 0, ms);
  return stopped();
}

const ERROR_CODES = { ECONNREFUSED: 1212, ECONNRESET: 1220, ETIMEDOUT: 1050, TimeoutError: 1050, ENOTFOUND: 1101, EAI_AGAIN: 1101 };

function request(method, url, body, params) {
  if (stopped()) throw INTERRUPT;
  const headers = { "User-Agent": "k6/1.2.0 (https://k6.io/)", ...(params.headers ?? {}) };
  let payload = null;
  if (body !== null && body !== undefined) {
    if (typeof body === "string") payload = body;
    else if (body instanceof ArrayBuffer) payload = Buffer.from(body).toString("latin1");
    else if (typeof body === "object") {
      payload = new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)])).toString();
      headers["Content-Type"] ??= "application/x-www-form-urlencoded";
    } else payload = String(body);
  }
  const timeoutMs = params.timeout === undefined ? 60_000 : typeof params.timeout === "number" ? params.timeout : durationMs(String(params.timeout));
  Atomics.store(reply, 0, 0);
  port.postMessage({ method, url, headers, body: payload, timeoutMs, reply: reply.buffer });
  let answer;
  while (!(answer = receiveMessageOnPort(port))) Atomics.wait(reply, 0, 0, 1000);
  const r = answer.message;
  const accepts = params.responseCallback?.__expectedStatuses ?? responseCallback ?? ((status) => status >= 200 && status < 400);
  const expected = r.status !== 0 && accepts(r.status);
  const name = params.tags?.name ?? url;
  const tags = { method, url, name, status: String(r.status), expected_response: String(expected), proto: "HTTP/1.1", ...(params.tags ?? {}) };
  if (r.errorCode) tags.error_code = String(r.errorCode);
  const t = r.timings;
  sample("http_reqs", 1, tags);
  sample("http_req_duration", t.duration, tags);
  sample("http_req_blocked", t.blocked, tags);
  sample("http_req_connecting", t.connecting, tags);
  sample("http_req_tls_handshaking", 0, tags);
  sample("http_req_sending", t.sending, tags);
  sample("http_req_waiting", t.waiting, tags);
  sample("http_req_receiving", t.receiving, tags);
  sample("http_req_failed", expected ? 0 : 1, tags);
  sample("data_sent", r.sentBytes, {});
  sample("data_received", r.receivedBytes, {});
  return response(method, url, payload, headers, r);
}

function response(method, url, body, headers, r) {
  return {
    status: r.status,
    status_text: r.statusText,
    body: r.body,
    headers: r.headers,
    url: r.url || url,
    proto: r.status ? "HTTP/1.1" : "",
    error: r.error ?? "",
    error_code: r.errorCode ?? 0,
    timings: { duration: r.timings.duration, blocked: r.timings.blocked, connecting: r.timings.connecting, tls_handshaking: 0, sending: r.timings.sending, waiting: r.timings.waiting, receiving: r.timings.receiving },
    request: { method, url, body: body ?? "", headers },
    cookies: {},
    json(selector) {
      let value;
      try {
        value = JSON.parse(r.body);
      } catch (error) {
        throw new Error(`cannot parse json due to an error: ${error.message}`);
      }
      if (!selector) return value;
      return String(selector).split(".").reduce((v, key) => (v === undefined || v === null ? undefined : v[key]), value);
    },
    html() {
      throw new Error("fake k6: Response.html() is not simulated");
    },
  };
}

function durationMs(text) {
  let total = 0;
  let rest = text.trim();
  const part = /^(\d+(?:\.\d+)?)(ms|s|m|h)/;
  if (/^\d+(?:\.\d+)?$/.test(rest)) return Number(rest) * 1000;
  while (rest) {
    const match = part.exec(rest);
    if (!match) throw new Error(`invalid duration "${text}"`);
    total += Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2]];
    rest = rest.slice(match[0].length);
  }
  return total;
}

const host = {
  phase: () => phase,
  vuId: () => (mode === "vu" ? vuId : 0),
  iteration: () => iteration,
  env: () => ({ ...env, ...(scenario.env ?? {}) }),
  log: (level, text) => process.stderr.write(`time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(text)} source=console\n`),
  request,
  sleep(seconds) {
    if (stopped() || pause(seconds * 1000)) throw INTERRUPT;
  },
  check(value, sets, tags) {
    let all = true;
    for (const [name, test] of Object.entries(sets)) {
      let ok;
      try {
        ok = Boolean(typeof test === "function" ? test(value) : test);
      } catch (error) {
        if (error === INTERRUPT) throw error;
        ok = false;
      }
      const path = `${groupPath}::${name}`;
      let entry = checks.get(path);
      if (!entry) checks.set(path, (entry = { name, path, id: pathId(path), passes: 0, fails: 0, group: groupPath }));
      if (ok) entry.passes++;
      else entry.fails++;
      sample("checks", ok ? 1 : 0, { check: name, ...tags });
      all &&= ok;
    }
    return all;
  },
  group(name, fn) {
    const outer = groupPath;
    groupPath = `${outer}::${name}`;
    groups.add(groupPath);
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      sample("group_duration", performance.now() - t0, {});
      groupPath = outer;
    }
  },
  defineMetric(name, type, isTime) {
    const existing = types.get(name);
    if (existing && existing[0] !== type) throw new Error(`metric '${name}' already exists but with type ${existing[0]}, instead of ${type}`);
    types.set(name, [type, type === "trend" && isTime ? "time" : "default"]);
  },
  addSample: (name, value, tags) => sample(name, value, tags),
  setResponseCallback(callback) {
    responseCallback = callback?.__expectedStatuses;
  },
  execution: () =>
    phase === "init" ? undefined : { vuId, iteration, scenario: scenario.name, executor: scenario.executor, scenarioStart: startedAt, progress: 0, elapsedMs: Date.now() - startedAt, vusActive: 1 },
  abort(reason) {
    aborted = reason;
    throw INTERRUPT;
  },
  options: () => workerData.options ?? {},
};

/** Blocks until the runner says go (its message: the setup data and the start time), or the test stops. */
function awaitGo() {
  while (Atomics.load(control, 1) === 0 && !stopped()) Atomics.wait(control, 1, 0, 1000);
  for (let tries = 0; tries < 100 && !stopped(); tries++) {
    const message = receiveMessageOnPort(port);
    if (message) return message.message;
    Atomics.wait(control, 0, 0, 10);
  }
  return receiveMessageOnPort(port)?.message ?? {};
}

function finish(extra = {}) {
  parentPort.postMessage({
    type: "done",
    samples: store.toJSON(),
    checks: [...checks.values()],
    groups: [...groups],
    iterations: iteration,
    metrics: [...types.entries()].filter(([name]) => !(name in BUILTIN_METRICS)),
    aborted,
    ...extra,
  });
}

// The thread ends by itself once this has run (nothing keeps it: the port has no listener), so
// every message posted is delivered.
let exports;
try {
  exports = await loadScript(scriptPath, host);
} catch (error) {
  parentPort.postMessage({ type: "error", exitCode: error instanceof K6Error ? error.exitCode : EXIT.scriptException, message: scriptErrorMessage(error) });
}
if (exports) {
  parentPort.postMessage({ type: "ready", metrics: [...types.entries()].filter(([name]) => !(name in BUILTIN_METRICS)) });
  if (mode === "setup" || mode === "teardown") runOnce();
  else runVu();
}
port.close();

/** setup() or teardown(), once, when the runner says so. */
function runOnce() {
  const go = awaitGo();
  phase = "vu";
  startedAt = Date.now();
  groupPath = mode === "setup" ? "::setup" : "::teardown";
  let result;
  try {
    result = exports[mode]?.(go.data === undefined ? undefined : JSON.parse(go.data));
  } catch (error) {
    if (error !== INTERRUPT) {
      parentPort.postMessage({ type: "error", exitCode: EXIT.scriptException, message: scriptErrorMessage(error) });
      return;
    }
  }
  groupPath = "";
  finish({ result: result === undefined ? undefined : JSON.stringify(result) });
}

/** A VU: waits for the start, then iterates as the scenario's executor says. */
function runVu() {
  const go = awaitGo();
  data = go.data === undefined ? undefined : JSON.parse(go.data);
  fn = exports[scenario.exec ?? "default"];
  startedAt = go.startedAt ?? Date.now();
  begin = startedAt + (scenario.startTimeMs ?? 0);
  if (!pause(begin - Date.now())) {
    phase = "vu";
    runExecutor();
  }
  finish();
}

function runIteration() {
  const t0 = performance.now();
  try {
    fn(data);
  } catch (error) {
    if (error === INTERRUPT) return false;
    host.log("error", scriptErrorMessage(error));
  }
  iteration++;
  sample("iterations", 1, {});
  sample("iteration_duration", performance.now() - t0, {});
  return !aborted;
}

function runExecutor() {
  const now = () => Date.now();
  const s = scenario;
  switch (s.executor) {
    case "constant-vus": {
      const end = begin + s.durationMs;
      while (!stopped() && now() < end && runIteration());
      return;
    }
    case "ramping-vus": {
      const end = begin + s.stages.reduce((sum, st) => sum + st.durationMs, 0);
      while (!stopped() && now() < end) {
        if (targetAt(s.stages, s.startVUs ?? 0, now() - begin) > s.vuIndex) {
          if (!runIteration()) return;
        } else if (pause(50)) return;
      }
      return;
    }
    case "shared-iterations": {
      const end = begin + s.maxDurationMs;
      while (!stopped() && now() < end && Atomics.add(counter, 0, 1) < s.iterations && runIteration());
      return;
    }
    case "per-vu-iterations": {
      const end = begin + s.maxDurationMs;
      for (let i = 0; i < s.iterations && !stopped() && now() < end; i++) if (!runIteration()) return;
      return;
    }
    case "constant-arrival-rate":
    case "ramping-arrival-rate": {
      const end = begin + s.durationMs;
      while (!stopped()) {
        const due = begin + arrivalAt(s, Atomics.add(counter, 0, 1));
        if (!(due < end)) return;
        if (pause(due - now())) return;
        if (!runIteration()) return;
      }
      return;
    }
    default:
      throw new Error(`executor ${s.executor} is not simulated`);
  }
}

/**
 * When the k-th iteration (from 0) of an arrival-rate scenario is due, in ms after its start:
 * constant `rate` per `timeUnitMs`, or a rate ramping linearly through `stages` from `startRate`.
 */
function arrivalAt(s, k) {
  if (s.executor === "constant-arrival-rate") return s.rate > 0 ? (k * s.timeUnitMs) / s.rate : Infinity;
  let left = k;
  let t = 0;
  let from = s.startRate ?? 0;
  for (const stage of s.stages) {
    const perMs = (r) => r / s.timeUnitMs;
    const inStage = ((perMs(from) + perMs(stage.target)) / 2) * stage.durationMs;
    if (left < inStage) {
      // Solve a·x²/2 + b·x = left for x in the stage (rate b + a·x per ms).
      const a = (perMs(stage.target) - perMs(from)) / stage.durationMs;
      const b = perMs(from);
      const x = Math.abs(a) < 1e-12 ? left / b : (-b + Math.sqrt(b * b + 2 * a * left)) / a;
      return t + x;
    }
    left -= inStage;
    t += stage.durationMs;
    from = stage.target;
  }
  return Infinity;
}

/** The ramping-vus target at ms after the start: linear within each stage, as k6 ramps. */
function targetAt(stages, start, ms) {
  let from = start;
  let t = 0;
  for (const stage of stages) {
    if (ms < t + stage.durationMs) return from + ((stage.target - from) * (ms - t)) / stage.durationMs;
    t += stage.durationMs;
    from = stage.target;
  }
  return from;
}
