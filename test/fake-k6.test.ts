// The stand-in k6 itself (test/support/fake-k6): it loads a script as k6 v1.2.0 would (an ES
// module without Node's globals, imports resolved to files or k6's modules, options checked) and
// exits with k6's codes when k6 could not run it; and it runs what it loads for real, the
// service's wrapper and every built-in scenario included, building the end-of-test summary data
// itself from the requests its VUs made. Real child processes, a real HTTP target on loopback.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { K6SummaryDataSchema, parseCompactSummary } from "../src/jobs/k6/compact-summary.js";
import { SCENARIOS } from "../src/jobs/k6/scenarios/index.js";
import { SCRIPT_FILE, WRAPPER_FILE } from "../src/shared/k6/wrapper-names.js";
import { WRAPPER_SOURCE } from "../src/jobs/k6/wrapper.js";
import { startHttpTarget } from "./support/http-target.js";
import { cleanup } from "./support/service.js";

const FAKE_K6 = fileURLToPath(new URL("./support/fake-k6/k6", import.meta.url));
const dirs: string[] = [];
afterAll(() => dirs.forEach(cleanup));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function k6(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(FAKE_K6, ["run", ...args], { env: { PATH: process.env.PATH ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A directory with the given files; returns its path. */
function files(contents: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "fake-k6-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(contents)) writeFileSync(join(dir, name), text);
  return dir;
}

describe("the stand-in k6 refuses what k6 could not load, with k6's exit codes", { timeout: 60_000 }, () => {
  const cases: Array<[string, Record<string, string>, number, RegExp]> = [
    ["a syntax error", { "s.js": "export default function () { let = ; }\n" }, 107, /SyntaxError/],
    ["an import of a file that is not there", { "s.js": 'import helper from "./helpers.js";\nexport default function () {}\n' }, 255, /The moduleSpecifier \\?"\.\/helpers\.js\\?" couldn't be found on local disk/],
    ["an unknown k6 module", { "s.js": 'import x from "k6/nonsense";\nexport default function () {}\n' }, 255, /unknown module: k6\/nonsense/],
    ["a remote module (nothing leaves this machine)", { "s.js": 'import { x } from "https://jslib.k6.io/x/1.0.0/index.js";\nexport default function () {}\n' }, 255, /remote module/],
    ["a name a module does not export", { "s.js": 'import { fetchAll } from "k6/http";\nexport default function () {}\n' }, 107, /does not provide an export named 'fetchAll'/],
    ["Node's globals (k6 has no process)", { "s.js": "var target = process.env.API_URL;\nexport default function () {}\n" }, 107, /ReferenceError: process is not defined/],
    ["require (k6 scripts are ES modules)", { "s.js": 'var http = require("k6/http");\nexport default function () {}\n' }, 107, /ReferenceError: require is not defined/],
    ["a request in the init context", { "s.js": 'import http from "k6/http";\nhttp.get("http://127.0.0.1:9/");\nexport default function () {}\n' }, 107, /Making http requests in the init context is not supported/],
    ["an exception in the init code", { "s.js": 'if (!__ENV.API_URL) throw new Error("API_URL is required");\nexport default function () {}\n' }, 107, /Error: API_URL is required/],
    ["no function to run", { "s.js": "export const options = {};\n" }, 107, /no exported functions in script/],
    ["a threshold on a metric that does not exist", { "s.js": 'export const options = { thresholds: { booked: ["count>1"] } };\nexport default function () {}\n' }, 104, /no metric name \\?"booked\\?" found/],
    ["a threshold whose aggregation does not suit the metric", { "s.js": 'export const options = { thresholds: { http_reqs: ["p(95)<100"] } };\nexport default function () {}\n' }, 104, /not supported for metrics of type counter/],
    ["a threshold that does not parse", { "s.js": 'export const options = { thresholds: { http_req_duration: ["p95<100"] } };\nexport default function () {}\n' }, 104, /failed parsing threshold expression/],
    ["a scenario whose function is not exported", { "s.js": 'export const options = { scenarios: { a: { executor: "constant-vus", vus: 1, duration: "1s", exec: "browse" } } };\nexport default function () {}\n' }, 104, /function 'browse' not found in exports/],
    ["an unknown executor", { "s.js": 'export const options = { scenarios: { a: { executor: "constant-velocity", vus: 1 } } };\nexport default function () {}\n' }, 104, /unknown executor type 'constant-velocity'/],
    ["the service's wrapper around a script with a syntax error", { [WRAPPER_FILE]: WRAPPER_SOURCE, [SCRIPT_FILE]: "export default function () { http.get( }\n" }, 107, /SyntaxError/],
  ];
  for (const [what, contents, code, message] of cases) {
    it(`${what}: exit ${code}`, async () => {
      const dir = files(contents);
      const main = Object.keys(contents)[0];
      const run = await k6(["--quiet", join(dir, main)], { JOB_RESULT_FILE: join(dir, "result.json") });
      expect(run.code, run.stderr).toBe(code);
      expect(run.stderr).toMatch(message);
    });
  }
});

describe("the stand-in k6 runs what it loads, and summarises it by itself", { timeout: 90_000 }, () => {
  let target: Awaited<ReturnType<typeof startHttpTarget>>;
  beforeAll(async () => {
    // Enough of the ticketing API (../shared/hackload/hub-api.md) for every built-in scenario.
    target = await startHttpTarget((req, res) => {
      const json = (status: number, body: unknown) => res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
      const path = req.url.split("?")[0];
      if (path === "/missing") return json(404, { error: "not found" });
      if (req.method === "POST" && path === "/api/bookings") return json(201, { id: 501 });
      if (path === "/api/seats") return json(200, [{ id: "s-1", status: "FREE" }]);
      if (path === "/api/events") return json(200, [{ id: 11 }]);
      return json(200, req.method === "GET" ? [] : {});
    });
  });
  afterAll(() => target?.close());

  it("runs the wrapper around a script: the requests the target received, checks in groups, custom metrics and sub-metric thresholds", async () => {
    const dir = files({
      [WRAPPER_FILE]: WRAPPER_SOURCE,
      [SCRIPT_FILE]: `import http from "k6/http";
import { check, group, sleep } from "k6";
import { Counter, Trend } from "k6/metrics";
const hits = new Counter("hits");
const sizes = new Trend("sizes");
export const options = { thresholds: { "http_req_duration{name:home}": ["p(99)<10000"], hits: ["count>0"], checks: ["rate>0.5"] } };
export default function () {
  group("home page", function () {
    const r = http.get(__ENV.API_URL + "/home", { tags: { name: "home" } });
    check(r, { "status 200": (x) => x.status === 200 });
    hits.add(1);
    sizes.add(r.body.length);
  });
  http.get(__ENV.API_URL + "/missing");
  sleep(0.01);
}
export function handleSummary(data) {
  return { [__ENV.RAW_SUMMARY]: JSON.stringify(data) };
}
`,
    });
    const before = target.requests.length;
    const run = await k6(["--quiet", "--vus", "2", "--iterations", "6", "--tag", "testid=t-1", join(dir, WRAPPER_FILE)], {
      API_URL: target.url,
      JOB_RESULT_FILE: join(dir, "result.json"),
      RAW_SUMMARY: join(dir, "raw.json"),
      JOBSCHEDULER_K6_THRESHOLDS: "{}",
    });
    expect(run.code, run.stderr).toBe(0);
    const received = target.requests.slice(before);
    expect(received.map((r) => r.url).sort()).toEqual([...Array(6).fill("/home"), ...Array(6).fill("/missing")]);
    expect(received.every((r) => r.headers["user-agent"]?.startsWith("k6/1.2.0"))).toBe(true);

    // handleSummary's data, in k6 v1.2.0's shape, from what the VUs did.
    const raw = JSON.parse(readFileSync(join(dir, "raw.json"), "utf8"));
    expect(() => K6SummaryDataSchema.parse(raw)).not.toThrow();
    const m = raw.metrics;
    expect(m.http_reqs).toMatchObject({ type: "counter", contains: "default", values: { count: 12 } });
    expect(m.http_req_failed).toMatchObject({ type: "rate", values: { passes: 6, fails: 6, rate: 0.5 } });
    expect(m.iterations.values.count).toBe(6);
    expect(m.hits).toMatchObject({ type: "counter", values: { count: 6 }, thresholds: { "count>0": { ok: true } } });
    expect(m.sizes).toMatchObject({ type: "trend", contains: "default" });
    expect(m.checks).toMatchObject({ values: { passes: 6, fails: 0 }, thresholds: { "rate>0.5": { ok: true } } });
    expect(m["http_req_duration{name:home}"]).toMatchObject({ type: "trend", contains: "time", thresholds: { "p(99)<10000": { ok: true } } });
    expect(Object.keys(m["http_req_duration{name:home}"].values).sort()).toEqual(["avg", "max", "med", "min", "p(90)", "p(95)", "p(99)"].sort());
    expect(m["http_req_duration{expected_response:true}"].type).toBe("trend");
    expect(m.vus_max.values.value).toBe(2);
    expect(m.data_received.values.count).toBeGreaterThan(0);
    // The wrapper asked for p(99) because a threshold uses it.
    expect(raw.options.summaryTrendStats).toEqual(["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"]);
    expect(raw.root_group.groups).toEqual([
      { name: "home page", path: "::home page", id: expect.stringMatching(/^[0-9a-f]{32}$/), groups: [], checks: [{ name: "status 200", path: "::home page::status 200", id: expect.any(String), passes: 6, fails: 0 }] },
    ]);
    expect(raw.state.testRunDurationMs).toBeGreaterThan(0);

    // ...and the wrapper's own output: the compact summary at JOB_RESULT_FILE, next to the script's.
    const compact = parseCompactSummary(readFileSync(join(dir, "result.json"), "utf8"));
    expect(compact).toMatchObject({ segment: null, vusMax: 2, checks: { passes: 6, fails: 0 }, thresholdsFailed: false });
    expect(compact.metrics.http_reqs).toMatchObject({ values: { count: 12 } });
  });

  it("exits 99 with the failed threshold judged on its own figures", async () => {
    const dir = files({ "s.js": 'import http from "k6/http";\nexport const options = { thresholds: { http_req_failed: ["rate<0.1"] } };\nexport default function () { http.get(__ENV.API_URL + "/missing"); }\n' });
    const run = await k6(["--iterations", "3", join(dir, "s.js")], { API_URL: target.url });
    expect(run.code, run.stderr).toBe(99);
    // Without handleSummary, k6's text summary goes to stdout.
    expect(run.stdout).toMatch(/http_req_failed: rate=1 passes=3 fails=0 {2}✗ rate<0\.1/);
  });

  it("runs setup once and hands its data to every iteration and to teardown; executors run the iterations they promise, per segment", async () => {
    const dir = files({
      "s.js": `import http from "k6/http";
import exec from "k6/execution";
export const options = {
  scenarios: {
    each: { executor: "per-vu-iterations", vus: 2, iterations: 3, exec: "each" },
    paced: { executor: "constant-arrival-rate", rate: 20, timeUnit: "1s", duration: "1s", preAllocatedVUs: 2, exec: "paced" },
  },
};
export function setup() {
  return { token: http.get(__ENV.API_URL + "/setup").status + "-ok" };
}
export function each(data) {
  http.get(__ENV.API_URL + "/each?token=" + data.token + "&scenario=" + exec.scenario.name);
}
export function paced(data) {
  http.get(__ENV.API_URL + "/paced?token=" + data.token);
}
export function teardown(data) {
  http.get(__ENV.API_URL + "/teardown?token=" + data.token);
}
`,
    });
    const before = target.requests.length;
    const run = await k6([join(dir, "s.js")], { API_URL: target.url });
    expect(run.code, run.stderr).toBe(0);
    const paths = target.requests.slice(before).map((r) => r.url);
    expect(paths.filter((p) => p === "/setup")).toHaveLength(1);
    expect(paths.filter((p) => p === "/each?token=200-ok&scenario=each")).toHaveLength(6);
    // 20 iterations per second for 1 s.
    expect(paths.filter((p) => p === "/paced?token=200-ok")).toHaveLength(20);
    expect(paths.at(-1)).toBe("/teardown?token=200-ok");
    expect(paths).toHaveLength(28);

    // The same test split in two parts: each part runs its share, none twice, none lost.
    const parts = await Promise.all(
      ["0:1/2", "1/2:1"].map((segment) => k6(["--execution-segment", segment, "--execution-segment-sequence", "0,1/2,1", join(dir, "s.js")], { API_URL: target.url })),
    );
    expect(parts.map((p) => p.code)).toEqual([0, 0]);
    const split = target.requests.slice(before + 28).map((r) => r.url);
    expect(split.filter((p) => p.startsWith("/each"))).toHaveLength(6);
    expect(split.filter((p) => p.startsWith("/paced"))).toHaveLength(20);
  });

  for (const scenario of SCENARIOS) {
    it(`loads and runs the built-in scenario ${scenario.name} inside the wrapper, every request counted`, async () => {
      const dir = files({ [WRAPPER_FILE]: WRAPPER_SOURCE, [SCRIPT_FILE]: scenario.source });
      const before = target.requests.length;
      const run = await k6(["--quiet", "--tag", `test_scenario=${scenario.name}`, join(dir, WRAPPER_FILE)], {
        API_URL: target.url,
        VUS: "2",
        DURATION: "1s",
        THINK_TIME: "0.05",
        ITERATIONS: "4",
        USERS: "a@example.com:pw1,b@example.com:pw2",
        JOBSCHEDULER_K6_THRESHOLDS: JSON.stringify({ http_req_duration: ["p(95)<10000"] }),
        JOB_RESULT_FILE: join(dir, "result.json"),
      });
      expect(run.code, run.stderr).toBe(0);
      const compact = parseCompactSummary(readFileSync(join(dir, "result.json"), "utf8"));
      const sent = target.requests.length - before;
      expect(sent).toBeGreaterThan(0);
      expect(compact.metrics.http_reqs).toMatchObject({ values: { count: sent } });
      expect(compact.thresholdsFailed).toBe(false);
      expect(target.requests.slice(before).some((r) => /\/api\/reset/i.test(r.url))).toBe(false);
    });
  }
});
