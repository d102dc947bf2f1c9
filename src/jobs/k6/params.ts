// The k6 job's parameters: the proto's K6Job as ts-proto's toJSON gives it, checked field by
// field (every problem names its field, e.g. `k6.thresholds["http_req_duration"][0]`), with the
// scenario's defaults applied where the request leaves something out.
import { z } from "zod";
import { MAX_QUANTITY_LENGTH, parseQuantity } from "../../runtime/quantity.js";
import { protoDuration } from "../duration.js";
import { reachesReset } from "../http-check.js";
import { httpUrl, MAX_URL_LENGTH } from "../schema-helpers.js";
import { text, textProblem } from "../text-field.js";
import { findScenario, SCENARIO_NAMES, type Scenario } from "./scenarios/index.js";
import { baseMetricName, BUILTIN_METRIC_TYPES, tryParseThreshold, typeMismatch } from "./thresholds.js";

export interface K6Limits {
  maxVus: number;
  maxParallelism: number;
  /** The runner image when the request names none. */
  defaultImage: string;
}

export const MAX_SCRIPT_BYTES = 512 * 1024;
export const MAX_STAGES = 100;
export const MAX_EXTRA_ARGS = 32;
const MAX_ENV = 64;
const MAX_ENV_NAME = 128;
const MAX_ENV_VALUE = 4096;
const MAX_METRIC_KEY = 400;
const MAX_EXPRESSION = 256;
const MAX_EXTRA_ARG = 1024;
const MAX_IMAGE = 512;
const MAX_SCENARIO_NAME = 64;
const MAX_STAGE_MS = 24 * 3_600_000;
const MAX_THINK_MS = 60_000;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A k6 metric name, optionally with a sub-metric's tag selector: `http_req_duration{expected_response:true}`. */
const METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}(\{[^{}]{1,256}\})?$/;
const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,511}$/;
/** Tags the service sets on every run (the Hub's dashboards filter on them). */
const RESERVED_TAGS = ["testid", "team", "test_scenario"];

/** Env a request may not set: the target (target_url), the load shape (vus/duration/stages/think_time), k6's own K6_* settings, ours. */
function envProblem(name: string): string | null {
  if (!ENV_NAME.test(name)) return "is not an environment variable name (letters, digits and _, not starting with a digit)";
  if (name === "API_URL") return "is set from target_url";
  if (["VUS", "DURATION", "STAGES", "THINK_TIME"].includes(name)) return `is set from the request's ${name === "THINK_TIME" ? "think_time" : name.toLowerCase()} field`;
  if (name.startsWith("K6_")) return "K6_* variables configure k6 itself and are not allowed (use the request's fields and extra_args)";
  if (name.startsWith("JOB_") || name.startsWith("JOBSCHEDULER_")) return "is reserved for the service";
  if (["PATH", "HOME", "TMPDIR", "NODE_OPTIONS"].includes(name)) return "is reserved for the runtime";
  return null;
}

// ---- extra k6 flags: an allow-list, nothing that writes files, sends data elsewhere or changes the summary ----

type FlagValue = "none" | RegExp | ((value: string) => string | null);

const INT = /^\d{1,9}$/;
const DURATION = /^\d+(\.\d+)?(ms|s|m|h)$/;
const LIST = /^[\w.,:/*\-[\]]{1,1024}$/;

export const ALLOWED_FLAGS: Readonly<Record<string, FlagValue>> = {
  "--no-connection-reuse": "none",
  "--no-vu-connection-reuse": "none",
  "--insecure-skip-tls-verify": "none",
  "--discard-response-bodies": "none",
  "--no-setup": "none",
  "--no-teardown": "none",
  "--throw": "none",
  "--verbose": "none",
  "--batch": INT,
  "--batch-per-host": INT,
  "--rps": INT,
  "--max-redirects": INT,
  "--iterations": INT,
  "--setup-timeout": DURATION,
  "--teardown-timeout": DURATION,
  "--user-agent": /^[\x20-\x7e]{1,256}$/,
  "--http-debug": /^(headers|full)$/,
  "--compatibility-mode": /^(extended|base)$/,
  "--dns": /^[a-z]+=[\w.]+(,[a-z]+=[\w.]+)*$/,
  "--system-tags": LIST,
  "--blacklist-ip": LIST,
  "--block-hostnames": LIST,
  "--tag": (value) => {
    const match = /^([A-Za-z_][A-Za-z0-9_.-]{0,127})=([\x20-\x7e]{0,256})$/.exec(value);
    if (!match) return "must be --tag NAME=VALUE";
    return RESERVED_TAGS.includes(match[1]) ? `the tag ${match[1]} is set by the service` : null;
  },
};

/** Flags with an optional value: `--http-debug` alone means headers. */
const OPTIONAL_VALUE = new Set(["--http-debug"]);

/** Checks `extra_args` token by token; returns the flags normalised to `--flag` / `--flag=value`, or the first problem. */
export function checkExtraArgs(args: readonly string[]): { ok: true; args: string[] } | { ok: false; index: number; message: string } {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const token = args[i];
    const eq = token.indexOf("=");
    const flag = eq >= 0 ? token.slice(0, eq) : token;
    const rule = ALLOWED_FLAGS[flag];
    if (!token.startsWith("--") || rule === undefined) {
      const allowed = Object.keys(ALLOWED_FLAGS).join(" ");
      const what = token.startsWith("-") ? `${flag} is not an allowed k6 flag` : `"${token.slice(0, 64)}" is not a flag`;
      return { ok: false, index: i, message: `${what} (allowed: ${allowed})` };
    }
    if (rule === "none") {
      if (eq >= 0) return { ok: false, index: i, message: `${flag} takes no value` };
      out.push(flag);
      continue;
    }
    let value: string;
    if (eq >= 0) value = token.slice(eq + 1);
    else if (OPTIONAL_VALUE.has(flag) && (i + 1 >= args.length || args[i + 1].startsWith("-"))) {
      out.push(flag);
      continue;
    } else if (i + 1 < args.length) value = args[++i];
    else return { ok: false, index: i, message: `${flag} needs a value` };
    const problem = typeof rule === "function" ? rule(value) : rule.test(value) ? null : `${flag} value "${value.slice(0, 64)}" is not valid`;
    if (problem) return { ok: false, index: i, message: problem };
    out.push(`${flag}=${value}`);
  }
  return { ok: true, args: out };
}

// ---- the schema ----

const quantityText = text({ max: MAX_QUANTITY_LENGTH });

const rawK6 = z.object({
  // Characters here; the size in bytes (MAX_SCRIPT_BYTES) is checked below.
  script: text({ max: MAX_SCRIPT_BYTES, multiline: true }).optional(),
  scenario: text({ max: MAX_SCENARIO_NAME }).optional(),
  targetUrl: text({ max: MAX_URL_LENGTH }).optional(),
  env: z.record(z.string(), text({ max: MAX_ENV_VALUE, multiline: true })).default({}),
  vus: z.number().int().default(0),
  duration: protoDuration({ min: 1000, max: MAX_STAGE_MS }).optional(),
  stages: z.array(z.object({ duration: protoDuration({ min: 0, max: MAX_STAGE_MS }).optional(), target: z.number().int().default(0) })).default([]),
  thresholds: z.record(z.string(), z.object({ expressions: z.array(text({ max: MAX_EXPRESSION })).default([]) })).default({}),
  parallelism: z.number().int().default(0),
  runnerResources: z
    .object({ cpuRequest: quantityText.optional(), cpuLimit: quantityText.optional(), memoryRequest: quantityText.optional(), memoryLimit: quantityText.optional() })
    .optional(),
  image: text({ max: MAX_IMAGE }).optional(),
  extraArgs: z.array(text({ max: MAX_EXTRA_ARG })).default([]),
  preflight: z.boolean().default(false),
  thinkTime: protoDuration({ min: 0, max: MAX_THINK_MS }).optional(),
});

type RawK6 = z.infer<typeof rawK6>;

export interface K6Stage {
  durationMs: number;
  target: number;
}

/** The validated parameters, as stored with the job. */
export type K6Params = {
  scenario: string | null;
  script: string | null;
  targetUrl: string | null;
  env: Record<string, string>;
  /** As requested (null: not given, the scenario's default or the script's own options apply). */
  vus: number | null;
  durationMs: number | null;
  stages: K6Stage[];
  thinkTimeMs: number | null;
  /** The thresholds the run is judged on: a scenario's defaults replaced per metric by the request's; for a script, the request's (the script adds its own). */
  thresholds: Record<string, string[]>;
  parallelism: number;
  /** Per runner, requests = limits; null: the job's limits. */
  runnerResources: { cpu: string; memory: string } | null;
  image: string;
  extraArgs: string[];
  preflight: boolean;
  /** The test's planned length (duration or the stages' sum), for progress; null when the script decides. */
  expectedRunMs: number | null;
};

const toMs = (d: { seconds: number; nanos: number }) => d.seconds * 1000 + Math.floor(d.nanos / 1e6);

function checkDuration(
  ctx: z.RefinementCtx,
  path: (string | number)[],
  d: { seconds: number; nanos: number } | undefined,
  bounds: { min: number; max: number },
): number | null {
  if (!d) return null;
  if (d.seconds < 0 || d.nanos < 0) {
    ctx.addIssue({ code: "custom", path, message: "must not be negative" });
    return null;
  }
  const ms = toMs(d);
  if (ms < bounds.min || ms > bounds.max) {
    ctx.addIssue({ code: "custom", path, message: `must be between ${bounds.min / 1000}s and ${bounds.max / 3_600_000}h` });
    return null;
  }
  return ms;
}

function runnerResources(raw: RawK6["runnerResources"], ctx: z.RefinementCtx): { cpu: string; memory: string } | null {
  if (!raw) return null;
  const pick = (kind: "cpu" | "memory"): string | null => {
    const request = raw[`${kind}Request`] || undefined;
    const limit = raw[`${kind}Limit`] || undefined;
    for (const [field, value] of [[`${kind}Request`, request], [`${kind}Limit`, limit]] as const) {
      if (value === undefined) continue;
      const parsed = parseQuantity(value);
      if (parsed === null || parsed <= 0) {
        ctx.addIssue({ code: "custom", path: ["runnerResources", field], message: `"${value}" is not a positive resource quantity (e.g. 500m, 2, 512Mi)` });
        return null;
      }
    }
    if (request !== undefined && limit !== undefined && parseQuantity(request) !== parseQuantity(limit)) {
      ctx.addIssue({ code: "custom", path: ["runnerResources", `${kind}Request`], message: `must equal ${kind}_limit: k6 runners run with requests = limits, so none is throttled more than another` });
      return null;
    }
    return limit ?? request ?? null;
  };
  const cpu = pick("cpu");
  const memory = pick("memory");
  if (cpu === null && memory === null) return null;
  if (cpu === null || memory === null) {
    ctx.addIssue({ code: "custom", path: ["runnerResources", cpu === null ? "cpuLimit" : "memoryLimit"], message: "is required when runner_resources is given (cpu and memory)" });
    return null;
  }
  return { cpu, memory };
}

function checkThresholds(raw: RawK6["thresholds"], ctx: z.RefinementCtx): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const entries = Object.entries(raw);
  if (entries.length > 64) ctx.addIssue({ code: "custom", path: ["thresholds"], message: "at most 64 metrics" });
  for (const [metric, { expressions }] of entries) {
    const keyProblem = textProblem(metric, { max: MAX_METRIC_KEY });
    if (keyProblem) {
      ctx.addIssue({ code: "custom", path: ["thresholds", metric], message: keyProblem });
      continue;
    }
    if (!METRIC_NAME.test(metric)) {
      ctx.addIssue({ code: "custom", path: ["thresholds", metric], message: "is not a k6 metric name (optionally with a {tag:value} selector)" });
      continue;
    }
    if (expressions.length > 16) ctx.addIssue({ code: "custom", path: ["thresholds", metric], message: "at most 16 expressions per metric" });
    const type = BUILTIN_METRIC_TYPES[baseMetricName(metric)];
    expressions.forEach((expression, i) => {
      const parsed = tryParseThreshold(expression);
      if (!parsed.ok) {
        ctx.addIssue({ code: "custom", path: ["thresholds", metric, i], message: parsed.error });
        return;
      }
      const mismatch = type === undefined ? null : typeMismatch(parsed.threshold, type);
      if (mismatch) ctx.addIssue({ code: "custom", path: ["thresholds", metric, i], message: mismatch });
    });
    out[metric] = [...expressions];
  }
  return out;
}

/** The peak VUs the test asks for, when known. */
export function peakVus(params: Pick<K6Params, "vus" | "stages">, scenario: Scenario | undefined): number | null {
  if (params.stages.length) return Math.max(...params.stages.map((s) => s.target));
  return params.vus ?? scenario?.defaults.vus ?? null;
}

export function k6ParamsSchema(limits: K6Limits) {
  return rawK6.transform((raw, ctx): K6Params => {
    // Which script.
    let scenario: Scenario | undefined;
    let script: string | null = null;
    if (raw.script !== undefined && raw.scenario !== undefined) {
      ctx.addIssue({ code: "custom", path: ["script"], message: "give either script or scenario, not both" });
    } else if (raw.scenario !== undefined) {
      scenario = findScenario(raw.scenario);
      if (!scenario) ctx.addIssue({ code: "custom", path: ["scenario"], message: `"${raw.scenario.slice(0, 64)}" is not a built-in scenario (one of: ${SCENARIO_NAMES.join(", ")})` });
    } else if (raw.script !== undefined) {
      if (!raw.script.trim()) ctx.addIssue({ code: "custom", path: ["script"], message: "must not be empty" });
      else if (Buffer.byteLength(raw.script) > MAX_SCRIPT_BYTES) ctx.addIssue({ code: "custom", path: ["script"], message: `must be at most ${MAX_SCRIPT_BYTES / 1024} KiB of UTF-8 (got ${Buffer.byteLength(raw.script)} bytes)` });
      else script = raw.script;
    } else {
      ctx.addIssue({ code: "custom", path: ["scenario"], message: `a script or a scenario is required (scenarios: ${SCENARIO_NAMES.join(", ")})` });
    }

    // The target.
    let targetUrl: string | null = null;
    if (raw.targetUrl !== undefined && raw.targetUrl !== "") {
      const parsed = httpUrl.safeParse(raw.targetUrl);
      if (!parsed.success) ctx.addIssue({ code: "custom", path: ["targetUrl"], message: parsed.error.issues[0]?.message ?? "must be an absolute http(s) URL" });
      else if (reachesReset(raw.targetUrl, "/")) ctx.addIssue({ code: "custom", path: ["targetUrl"], message: "must not point at /api/reset (it wipes the team's data)" });
      else targetUrl = raw.targetUrl;
    } else if (scenario) {
      ctx.addIssue({ code: "custom", path: ["targetUrl"], message: "is required for a built-in scenario (its scripts read it as API_URL)" });
    }
    if (raw.preflight && !raw.targetUrl && !scenario) {
      ctx.addIssue({ code: "custom", path: ["preflight"], message: "needs target_url (the request it makes goes there)" });
    }

    // Env.
    const envEntries = Object.entries(raw.env);
    if (envEntries.length > MAX_ENV) ctx.addIssue({ code: "custom", path: ["env"], message: `at most ${MAX_ENV} variables` });
    for (const [name] of envEntries) {
      const problem = textProblem(name, { max: MAX_ENV_NAME }) ?? envProblem(name);
      if (problem) ctx.addIssue({ code: "custom", path: ["env", name], message: problem });
    }

    // Load shape.
    if (raw.vus < 0 || raw.vus > limits.maxVus) ctx.addIssue({ code: "custom", path: ["vus"], message: `must be between 1 and ${limits.maxVus} (K6_MAX_VUS)` });
    const durationMs = checkDuration(ctx, ["duration"], raw.duration, { min: 1000, max: MAX_STAGE_MS });
    if (raw.duration && raw.stages.length) ctx.addIssue({ code: "custom", path: ["stages"], message: "cannot be combined with duration (stages set the test's length)" });
    if (raw.stages.length > MAX_STAGES) ctx.addIssue({ code: "custom", path: ["stages"], message: `at most ${MAX_STAGES} stages` });
    const stages: K6Stage[] = [];
    raw.stages.forEach((stage, i) => {
      const ms = stage.duration ? checkDuration(ctx, ["stages", i, "duration"], stage.duration, { min: 0, max: MAX_STAGE_MS }) : null;
      if (!stage.duration) ctx.addIssue({ code: "custom", path: ["stages", i, "duration"], message: "is required" });
      if (stage.target < 0 || stage.target > limits.maxVus) ctx.addIssue({ code: "custom", path: ["stages", i, "target"], message: `must be between 0 and ${limits.maxVus} (K6_MAX_VUS)` });
      if (ms !== null) stages.push({ durationMs: ms, target: stage.target });
    });
    if (stages.length && stages.reduce((sum, s) => sum + s.durationMs, 0) < 1000) ctx.addIssue({ code: "custom", path: ["stages"], message: "must last at least 1s in total" });
    const thinkTimeMs = checkDuration(ctx, ["thinkTime"], raw.thinkTime, { min: 0, max: MAX_THINK_MS });

    // Thresholds: the scenario's defaults, replaced per metric by the request's.
    const requested = checkThresholds(raw.thresholds, ctx);
    const thresholds = scenario ? { ...scenario.thresholds, ...requested } : requested;
    for (const [metric, expressions] of Object.entries(thresholds)) if (expressions.length === 0) delete thresholds[metric];

    // Runners.
    const parallelism = raw.parallelism === 0 ? 1 : raw.parallelism;
    if (parallelism < 1 || parallelism > limits.maxParallelism) {
      ctx.addIssue({ code: "custom", path: ["parallelism"], message: `must be between 1 and ${limits.maxParallelism} (K6_MAX_PARALLELISM)` });
    }
    const resources = runnerResources(raw.runnerResources, ctx);
    const image = raw.image || limits.defaultImage;
    if (!IMAGE_REF.test(image)) ctx.addIssue({ code: "custom", path: ["image"], message: "is not an image reference" });
    if (raw.extraArgs.length > MAX_EXTRA_ARGS) ctx.addIssue({ code: "custom", path: ["extraArgs"], message: `at most ${MAX_EXTRA_ARGS} arguments` });
    const extra = checkExtraArgs(raw.extraArgs);
    if (!extra.ok) ctx.addIssue({ code: "custom", path: ["extraArgs", extra.index], message: extra.message });

    const params: K6Params = {
      scenario: scenario?.name ?? null,
      script,
      targetUrl,
      env: { ...raw.env },
      vus: raw.vus > 0 ? raw.vus : null,
      durationMs,
      stages,
      thinkTimeMs,
      thresholds,
      parallelism,
      runnerResources: resources,
      image,
      extraArgs: extra.ok ? extra.args : [],
      preflight: raw.preflight,
      expectedRunMs: stages.length ? stages.reduce((sum, s) => sum + s.durationMs, 0) : (durationMs ?? scenario?.defaults.durationMs ?? null),
    };
    // VUs: within the bound, and enough for every runner to get at least one.
    const peak = peakVus(params, scenario);
    if (peak !== null) {
      if (peak > limits.maxVus) ctx.addIssue({ code: "custom", path: ["vus"], message: `the scenario's ${peak} VUs are above K6_MAX_VUS (${limits.maxVus})` });
      else if (peak < parallelism && parallelism <= limits.maxParallelism) {
        ctx.addIssue({ code: "custom", path: ["parallelism"], message: `${parallelism} runners need at least ${parallelism} VUs, the test has ${peak}` });
      }
    }
    return params;
  });
}
