// k6's built-in modules as the stand-in offers them to a script: k6, k6/http, k6/metrics,
// k6/encoding, k6/execution, k6/data and k6/crypto, backed by a host (the VU running the script):
//   host.phase()            "init" (module evaluation), "vu" (setup, iterations, teardown) or "summary"
//   host.vuId(), host.iteration(), host.env(), host.log(level, text)
//   host.request(method, url, body, params) → response (synchronous, as in k6)
//   host.sleep(seconds), host.check(value, sets, tags) → boolean, host.group(name, fn)
//   host.defineMetric(name, type, isTime), host.addSample(name, value, tags)
//   host.execution() → { vu, scenario, instance, test } facts, host.abort(reason)
// What a VU may not do in the init context (requests, checks, sleep, groups) throws there as in k6;
// custom metrics can only be created in it. Other k6 modules (k6/ws, k6/net/grpc, k6/browser...)
// exist in k6 but not here: importing one fails the load, saying so.
import { createHash, createHmac, randomBytes } from "node:crypto";
import vm from "node:vm";

const KNOWN_BUT_NOT_SIMULATED = ["k6/ws", "k6/net/grpc", "k6/html", "k6/browser", "k6/timers", "k6/secrets", "k6/websockets"];

function withDefault(exports) {
  return { ...exports, default: { ...exports } };
}

export function builtinModule(specifier, host, context) {
  const ContextError = vm.runInContext("Error", context);
  const TypeErrorInContext = vm.runInContext("TypeError", context);
  const notInInit = (what) => {
    if (host.phase() !== "vu") throw new ContextError(`${what} in the init context is not supported`);
  };
  switch (specifier) {
    case "k6":
      return withDefault({
        check(value, sets, tags) {
          notInInit("Using check()");
          return host.check(value, sets ?? {}, tags ?? {});
        },
        sleep(seconds) {
          notInInit("Using sleep()");
          host.sleep(Number(seconds));
        },
        group(name, fn) {
          notInInit("Using group()");
          if (typeof fn !== "function") throw new TypeErrorInContext("group() needs a function");
          return host.group(String(name), fn);
        },
        fail(message) {
          throw new ContextError(message === undefined ? "" : String(message));
        },
        randomSeed() {},
      });
    case "k6/http":
      return withDefault(httpModule(host, notInInit, TypeErrorInContext));
    case "k6/metrics":
      return withDefault(metricsModule(host, ContextError));
    case "k6/encoding":
      return withDefault({
        b64encode(input, encoding) {
          const b64 = Buffer.from(typeof input === "string" ? input : new Uint8Array(input)).toString(encoding === "url" || encoding === "rawurl" ? "base64url" : "base64");
          return encoding === "rawstd" ? b64.replace(/=+$/, "") : b64;
        },
        b64decode(input, encoding, format) {
          const bytes = Buffer.from(input, encoding === "url" || encoding === "rawurl" ? "base64url" : "base64");
          return format === "s" ? bytes.toString("utf8") : new Uint8Array(bytes).buffer;
        },
      });
    case "k6/execution":
      return { default: executionModule(host, ContextError) };
    case "k6/data":
      return withDefault({
        SharedArray: function SharedArray(name, fn) {
          if (host.phase() !== "init") throw new ContextError("new SharedArray must be called in the init context");
          if (typeof fn !== "function") throw new TypeErrorInContext("SharedArray needs a function that returns an array");
          const data = fn();
          if (!Array.isArray(data)) throw new TypeErrorInContext("only arrays can be made into SharedArray");
          return Object.freeze(JSON.parse(JSON.stringify(data)));
        },
      });
    case "k6/crypto":
      return withDefault(cryptoModule());
    default:
      if (KNOWN_BUT_NOT_SIMULATED.includes(specifier) || specifier.startsWith("k6/experimental/")) {
        return notSimulated(specifier, ContextError);
      }
      return undefined;
  }
}

/** A k6 module this stand-in cannot run: importing it works (as in k6), using it fails, saying why. */
function notSimulated(specifier, ContextError) {
  const fail = () => {
    throw new ContextError(`fake k6: ${specifier} is a k6 module this stand-in does not simulate`);
  };
  return { default: new Proxy({}, { get: fail }) };
}

function httpModule(host, notInInit, TypeErrorInContext) {
  const request = (method, url, body, params) => {
    notInInit("Making http requests");
    if (typeof url !== "string" && !(url && typeof url.url === "string")) throw new TypeErrorInContext(`invalid URL: ${String(url)}`);
    return host.request(method, typeof url === "string" ? url : url.url, body, params ?? {});
  };
  return {
    get: (url, params) => request("GET", url, null, params),
    head: (url, params) => request("HEAD", url, null, params),
    options: (url, body, params) => request("OPTIONS", url, body, params),
    post: (url, body, params) => request("POST", url, body, params),
    put: (url, body, params) => request("PUT", url, body, params),
    patch: (url, body, params) => request("PATCH", url, body, params),
    del: (url, body, params) => request("DELETE", url, body, params),
    request: (method, url, body, params) => request(String(method).toUpperCase(), url, body, params),
    batch(requests) {
      notInInit("Making http requests");
      const list = Array.isArray(requests) ? requests : Object.values(requests);
      const answers = list.map((r) =>
        typeof r === "string" ? request("GET", r, null, {}) : Array.isArray(r) ? request(r[0], r[1], r[2] ?? null, r[3] ?? {}) : request(r.method ?? "GET", r.url, r.body ?? null, r.params ?? {}),
      );
      if (Array.isArray(requests)) return answers;
      return Object.fromEntries(Object.keys(requests).map((key, i) => [key, answers[i]]));
    },
    expectedStatuses(...ranges) {
      const accepts = ranges.map((r) => {
        if (typeof r === "number" && Number.isInteger(r)) return (status) => status === r;
        if (r && typeof r === "object" && Number.isInteger(r.min) && Number.isInteger(r.max)) return (status) => status >= r.min && status <= r.max;
        throw new TypeErrorInContext("expectedStatuses takes status codes and {min, max} ranges");
      });
      return { __expectedStatuses: (status) => accepts.some((accept) => accept(status)) };
    },
    setResponseCallback(callback) {
      host.setResponseCallback(callback);
    },
    url: (strings, ...values) => ({ url: String.raw(strings, ...values), name: strings.join("${}") }),
  };
}

function metricsModule(host, ContextError) {
  const metric = (type) =>
    function Metric(name, isTime = false) {
      if (host.phase() !== "init") throw new ContextError("metrics must be declared in the init context");
      if (typeof name !== "string" || !/^[\p{L}\p{N}\._ !\?/&#\(\)<>%-]{1,128}$/u.test(name)) throw new ContextError(`Invalid metric name: '${name}'`);
      host.defineMetric(name, type, Boolean(isTime));
      this.name = name;
      this.add = (value, tags) => {
        if (host.phase() !== "vu") throw new ContextError("cannot add samples in the init context");
        const number = type === "rate" ? (value ? 1 : 0) : Number(value);
        host.addSample(name, number, tags ?? {});
        return true;
      };
    };
  return { Counter: metric("counter"), Gauge: metric("gauge"), Rate: metric("rate"), Trend: metric("trend") };
}

function executionModule(host, ContextError) {
  const facts = () => {
    const f = host.execution();
    if (!f) throw new ContextError("getting execution information in the init context is not supported");
    return f;
  };
  return {
    get vu() {
      const f = facts();
      return { idInInstance: f.vuId, idInTest: f.vuId, iterationInInstance: f.iteration, iterationInScenario: f.iteration, metrics: { tags: {}, metadata: {} } };
    },
    get scenario() {
      const f = facts();
      return { name: f.scenario, executor: f.executor, startTime: f.scenarioStart, progress: f.progress, iterationInInstance: f.iteration, iterationInTest: f.iteration };
    },
    get instance() {
      const f = facts();
      return { currentTestRunDuration: f.elapsedMs, iterationsCompleted: f.iteration, iterationsInterrupted: 0, vusActive: f.vusActive, vusInitialized: f.vusActive };
    },
    test: {
      abort(reason) {
        host.abort(reason === undefined ? "test aborted" : String(reason));
      },
      get options() {
        return host.options();
      },
    },
  };
}

function cryptoModule() {
  const digest = (algorithm) => (input, format) => {
    const hash = createHash(algorithm).update(typeof input === "string" ? input : new Uint8Array(input));
    return format === "binary" ? new Uint8Array(hash.digest()).buffer : hash.digest(format === "base64" ? "base64" : "hex");
  };
  return {
    md5: digest("md5"),
    sha1: digest("sha1"),
    sha256: digest("sha256"),
    sha384: digest("sha384"),
    sha512: digest("sha512"),
    hmac: (algorithm, secret, data, format) => createHmac(algorithm, secret).update(data).digest(format === "base64" ? "base64" : "hex"),
    randomBytes: (n) => new Uint8Array(randomBytes(n)).buffer,
  };
}
