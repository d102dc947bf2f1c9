// The k6 job's local program (src/collectors/k6.ts) is configured by these variables, set by the
// k6 handler (src/jobs/k6/handler.ts); runner pods never see them.

export const COORDINATOR_ENV = {
  binary: "JOBSCHEDULER_K6_BINARY",
  args: "JOBSCHEDULER_K6_ARGS",
  parallelism: "JOBSCHEDULER_K6_PARALLELISM",
  startTimeoutMs: "JOBSCHEDULER_K6_START_TIMEOUT_MS",
  preflightUrl: "JOBSCHEDULER_K6_PREFLIGHT_URL",
} as const;
