// The k6 job type's settings, from the service's configuration (K6_* variables, docs/k6.md).
import type { Config } from "../../config.js";
import type { K6Options } from "./handler.js";

export function k6OptionsFromConfig(config: Config): K6Options {
  return {
    runtime: config.RUNTIME,
    binary: config.K6_BINARY,
    image: config.K6_IMAGE,
    maxVus: config.K6_MAX_VUS,
    maxParallelism: config.K6_MAX_PARALLELISM,
    startTimeoutMs: config.K6_START_TIMEOUT,
    prometheusRwUrl: config.K6_PROMETHEUS_RW_URL,
    dashboardUrl: config.K6_DASHBOARD_URL,
    runnerUrl: config.K6_RUNNER_URL,
  };
}
