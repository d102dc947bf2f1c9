// What a group of runners left, as one JSON document: written by the Kubernetes runtime (from the
// runner pods) or by a local program that ran the runners itself (src/collectors/k6/), read by the
// job type's result parser.

/** Set as `failure.reason` (and by the runtimes) when the runners never all came up in time. */
export const RUNNERS_NOT_STARTED = "RUNNERS_NOT_STARTED";

/**
 * The raw result of a runner workload (JSON): what each runner left (its termination message or
 * result file), by index, and the pre-flight outcome. The handler's parseResult merges it.
 */
export interface RunnerResults {
  runners: { index: number; exitCode: number | null; result: string | null }[];
  preflight?: { ok: boolean; url: string; status?: number; error?: string; durationMs: number };
  /** When the runners were started together (epoch ms). */
  startedAt?: number;
  /** Set by a program that could not run the test at all (e.g. its runners never all came up). */
  failure?: { reason: string; message: string };
  /** The runners were stopped before the test's end (cancel, timeout, shutdown): the figures are partial. */
  stopped?: boolean;
}
