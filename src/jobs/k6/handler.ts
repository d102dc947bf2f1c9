// The k6 job type (oneof member `k6`): a load test from an inline script or a built-in scenario,
// run by one k6 or split over N runners that start together, judged by its thresholds on the
// merged summaries of all runners. docs/k6.md has the whole story.
import type { HeldStart, RunnerProgram, Workload } from "../../runtime/runtime.js";
import { policyEnv } from "../../shared/egress/env.js";
import { egressPolicy, runnerBlocks, type EgressPolicy } from "../../shared/egress/policy.js";
import { COORDINATOR_ENV } from "../../shared/k6/coordinator-env.js";
import { commonArgs, K6_API_PORT, k6Duration, kubernetesRunnerCommand } from "../../shared/k6/command.js";
import { getK6Status, restError, resumeK6 } from "../../shared/k6/rest-api.js";
import { SCRIPT_FILE, WRAPPER_ENV, WRAPPER_FILE } from "../../shared/k6/wrapper-names.js";
import { PREFLIGHT_TIMEOUT_MS, TARGET_UNREACHABLE } from "../../shared/preflight.js";
import { RUNNERS_NOT_STARTED } from "../../shared/runner-results.js";
import type { JobHandler } from "../handler.js";
import type { JobRecord } from "../job.js";
import { findK6Binary } from "./binary.js";
import { k6ParamsSchema, type K6Params } from "./params.js";
import { k6Result } from "./result.js";
import { findScenario } from "./scenarios/index.js";
import { WRAPPER_SOURCE } from "./wrapper.js";

export const K6_DEFAULT_IMAGE = "grafana/k6:1.2.0";
/** The runner pods' container (their pod failure policy and log reads name it). */
export const RUNNER_CONTAINER = "k6";

/** Split runs start `--paused`; the Kubernetes runtime starts them together through k6's REST API (PATCH /v1/status). */
const PAUSED_START: HeldStart = {
  port: K6_API_PORT,
  portName: "k6-api",
  endpoint: "REST API",
  isHeld: async (url, timeoutMs) => (await getK6Status(url, timeoutMs)).paused,
  release: resumeK6,
  describeError: restError,
};

export interface K6Options {
  /** Which runtime runs the jobs: local runs need a k6 binary here. */
  runtime: "local" | "kubernetes";
  /** K6_BINARY: a path, or a name looked up in PATH. */
  binary?: string;
  /** The PATH the binary is looked up in (default: the service's own). */
  pathEnv?: string;
  image: string;
  maxVus: number;
  maxParallelism: number;
  startTimeoutMs: number;
  /** K6_PROMETHEUS_RW_URL: runs send their metrics there. */
  prometheusRwUrl?: string;
  /** K6_DASHBOARD_URL: the link stored with each result. */
  dashboardUrl?: string;
  /** K6_RUNNER_URL: where the service reaches a runner pod's REST API ({podIP}, {pod}, {namespace}, {index}, {port}). */
  runnerUrl?: string;
  /** The egress policy: runners refuse its refused ranges themselves (default: the built-in policy). */
  egress?: EgressPolicy;
}

export const DEFAULT_K6_OPTIONS: K6Options = {
  runtime: "local",
  image: K6_DEFAULT_IMAGE,
  maxVus: 5000,
  maxParallelism: 20,
  startTimeoutMs: 180_000,
};

/** Infrastructure failures before any load was sent: safe to retry when the job allows retries. */
const RETRYABLE_REASONS = new Set(["LAUNCH_FAILED", "IMAGE_PULL_FAILED", RUNNERS_NOT_STARTED]);

function targetHost(url: string | null): string | null {
  if (!url) return null;
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}

/** What the test script is told through env (the same on every runner and runtime). */
export function scriptEnv(params: K6Params, options: K6Options): Record<string, string> {
  const scenario = params.scenario ? findScenario(params.scenario) : undefined;
  const env: Record<string, string> = { ...params.env };
  if (params.targetUrl) env.API_URL = params.targetUrl;
  const vus = params.vus ?? scenario?.defaults.vus;
  if (vus !== undefined && !params.stages.length) env.VUS = String(vus);
  const durationMs = params.durationMs ?? scenario?.defaults.durationMs;
  if (durationMs && !params.stages.length) env.DURATION = k6Duration(durationMs);
  if (params.stages.length) env.STAGES = JSON.stringify(params.stages.map((s) => ({ duration: k6Duration(s.durationMs), target: s.target })));
  if (params.thinkTimeMs !== null) env.THINK_TIME = String(params.thinkTimeMs / 1000);
  env[WRAPPER_ENV.thresholds] = JSON.stringify(params.thresholds);
  if (options.prometheusRwUrl) {
    env.K6_PROMETHEUS_RW_SERVER_URL = options.prometheusRwUrl;
    // The percentiles dashboards plot (the output sends only p(99) by default).
    env.K6_PROMETHEUS_RW_TREND_STATS = "p(95),p(99),min,max,avg,med";
  }
  return env;
}

export function k6Handler(given: Partial<K6Options> = {}): JobHandler<ReturnType<typeof k6ParamsSchema>> {
  const options: K6Options = { ...DEFAULT_K6_OPTIONS, ...given };
  const paramsSchema = k6ParamsSchema({ maxVus: options.maxVus, maxParallelism: options.maxParallelism, defaultImage: options.image });
  const egress = options.egress ?? egressPolicy();
  const blocked = runnerBlocks(egress);

  function workload(job: JobRecord & { params: K6Params }): Workload {
    const params = job.params;
    const scenario = params.scenario ? findScenario(params.scenario) : undefined;
    const script = scenario?.source ?? params.script;
    if (!script) throw new Error(`k6 job ${job.id} has neither a script nor a known scenario`);
    const common = commonArgs({
      testId: job.id,
      team: job.team?.slug ?? null,
      scenario: params.scenario ?? "script",
      prometheus: Boolean(options.prometheusRwUrl),
      // A scenario reads its load shape from env; a script gets the overrides as flags.
      ...(scenario ? {} : { vus: params.vus, durationMs: params.durationMs, stages: params.stages }),
      extraArgs: params.extraArgs,
      blocked,
    });
    const env = scriptEnv(params, options);
    const files = { [WRAPPER_FILE]: WRAPPER_SOURCE, [SCRIPT_FILE]: script };
    const preflight = params.preflight && params.targetUrl ? { url: params.targetUrl, timeoutMs: PREFLIGHT_TIMEOUT_MS, egress } : undefined;
    const program: RunnerProgram = {
      image: params.image,
      command: kubernetesRunnerCommand(common, params.parallelism),
      parallelism: params.parallelism,
      resources: params.runnerResources ?? { cpu: job.resources.cpuLimit, memory: job.resources.memoryLimit },
      container: RUNNER_CONTAINER,
      label: "k6",
      startTimeoutMs: options.startTimeoutMs,
      startTimeoutSetting: "K6_START_TIMEOUT",
      ...(params.parallelism > 1 ? { heldStart: { ...PAUSED_START, url: options.runnerUrl } } : {}),
      ...(preflight ? { preflight } : {}),
    };
    if (options.runtime === "local") {
      const binary = findK6Binary(options.binary, options.pathEnv ?? process.env.PATH);
      if (!binary.ok) throw new Error(binary.message);
      // The coordinator (src/collectors/k6.ts) runs the program's runners itself; `program` gives
      // the local runtime their memory limit, and the job is RUNNING once they are started together.
      return {
        collector: "k6",
        env: {
          ...env,
          [COORDINATOR_ENV.binary]: binary.path,
          [COORDINATOR_ENV.args]: JSON.stringify(common),
          [COORDINATOR_ENV.parallelism]: String(params.parallelism),
          [COORDINATOR_ENV.startTimeoutMs]: String(options.startTimeoutMs),
          ...(preflight ? { [COORDINATOR_ENV.preflightUrl]: preflight.url, ...policyEnv(egress) } : {}),
        },
        files,
        program,
        reportsRunning: true,
      };
    }
    return { collector: "k6", env, files, program };
  }

  return {
    type: "k6",
    description:
      "A k6 load test (inline script or built-in scenario), optionally split over several runners that start together; " +
      "one verdict from the thresholds re-evaluated on the merged summaries of all runners.",
    paramsSchema,
    // The local program (the coordinator), and each runner (a pod, or locally a process group) unless runner_resources says otherwise.
    defaultResources: { cpuRequest: "1", cpuLimit: "1", memoryRequest: "1Gi", memoryLimit: "1Gi" },
    defaultTimeoutMs: 30 * 60_000,
    maxTimeoutMs: 6 * 3_600_000,
    // A load test is never re-run automatically.
    defaultMaxAttempts: 1,
    kubernetes: { backoffLimit: 0 },
    verdictExitCodes: [99],
    buildWorkload: workload,
    parseResult: (raw, job) => k6Result(raw, job, { dashboardUrl: options.dashboardUrl }),
    unavailableReason() {
      if (options.runtime !== "local") return null;
      const binary = findK6Binary(options.binary, options.pathEnv ?? process.env.PATH);
      return binary.ok ? null : binary.message;
    },
    egressTargets: (params) => (params.targetUrl ? [{ field: "target_url", url: params.targetUrl }] : []),
    /** One load test per target host at a time. */
    defaultConcurrencyKey(params) {
      const host = targetHost(params.targetUrl);
      return host ? `k6:${host}` : null;
    },
    isRetryable(end) {
      return end.kind === "failed" && RETRYABLE_REASONS.has(end.reason) && end.reason !== TARGET_UNREACHABLE;
    },
  };
}
