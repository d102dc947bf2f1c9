// What every built-in scenario script starts with: the target from API_URL (as the Hub's own k6
// scripts read it), the load shape from VUS + DURATION or STAGES, and THINK_TIME between
// iterations. The scripts are plain k6 JavaScript (no local imports), shipped as strings in
// dist/ and written next to the wrapper (main.js) as script.js.

export interface ScenarioShape {
  /** The k6 scenario name (its `scenario` tag). */
  name: string;
  defaultVus: number;
  /** k6 duration text, e.g. "1m". */
  defaultDuration: string;
  /** Seconds, e.g. 1 or 0.5. */
  defaultThinkTime: number;
  /** Thresholds the script declares itself; the service may replace them per metric (env JOBSCHEDULER_K6_THRESHOLDS). */
  thresholds: Record<string, string[]>;
  /**
   * The executor when no STAGES are given: a constant number of VUs for DURATION, or a fixed
   * number of iterations (ITERATIONS) shared by the VUs within DURATION.
   */
  executor: "constant-vus" | { sharedIterations: number };
}

/** The common head of a scenario script: imports, settings from env, `options`, helpers. */
export function prelude(shape: ScenarioShape, imports: string[] = []): string {
  const executor =
    shape.executor === "constant-vus"
      ? `{ executor: "constant-vus", vus: VUS, duration: DURATION }`
      : `{ executor: "shared-iterations", vus: VUS, iterations: intFromEnv("ITERATIONS", ${shape.executor.sharedIterations}), maxDuration: DURATION }`;
  return `import http from "k6/http";
import { check, sleep } from "k6";
${imports.join("\n")}

function intFromEnv(name, fallback) {
  var text = __ENV[name];
  if (text === undefined || text === "") return fallback;
  var value = parseInt(text, 10);
  if (!(value >= 0)) throw new Error(name + " must be a whole number, got " + JSON.stringify(text));
  return value;
}

var BASE_URL = (__ENV.API_URL || "").replace(/\\/+$/, "");
if (!BASE_URL) throw new Error("API_URL is required: the base URL of the ticketing API under test");
var VUS = intFromEnv("VUS", ${shape.defaultVus});
var DURATION = __ENV.DURATION || ${JSON.stringify(shape.defaultDuration)};
var THINK_TIME = __ENV.THINK_TIME === undefined || __ENV.THINK_TIME === "" ? ${shape.defaultThinkTime} : Number(__ENV.THINK_TIME);
var HEADERS = { Accept: "application/json", "User-Agent": __ENV.USER_AGENT || "HackLoad-LoadTest/1.0" };

function shape() {
  if (__ENV.STAGES) {
    return { executor: "ramping-vus", startVUs: 0, stages: JSON.parse(__ENV.STAGES), gracefulRampDown: "10s" };
  }
  return ${executor};
}

export var options = {
  scenarios: { ${JSON.stringify(shape.name)}: shape() },
  thresholds: ${JSON.stringify(shape.thresholds)},
};

function think() {
  if (THINK_TIME > 0) sleep(THINK_TIME);
}

function isJson(response) {
  try {
    response.json();
    return true;
  } catch (e) {
    return false;
  }
}

function pick(list) {
  return list[Math.floor(Math.random() * list.length)];
}

function listFromEnv(name, fallback) {
  return (__ENV[name] || fallback).split(",").map(function (s) { return s.trim(); }).filter(function (s) { return s !== ""; });
}
`;
}
