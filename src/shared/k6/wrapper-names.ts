// The names the k6 wrapper script (src/jobs/k6/wrapper.ts) and whoever runs it agree on: its file,
// the test script's file, and the variables it reads.

export const WRAPPER_FILE = "main.js";
export const SCRIPT_FILE = "script.js";

/** Env the wrapper reads (besides JOB_RESULT_FILE). */
export const WRAPPER_ENV = {
  /** JSON {metric: [expression]}: replaces the script's thresholds of those metrics; [] removes them. */
  thresholds: "JOBSCHEDULER_K6_THRESHOLDS",
  /** This runner's execution segment ("1/3:2/3"); unset for an unsplit run. */
  segment: "JOBSCHEDULER_K6_SEGMENT",
} as const;
