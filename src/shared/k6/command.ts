// The k6 command line, the same for every runtime: the flags every runner shares (tags, outputs,
// load overrides, allowed extra flags), the split-run flags, and the shell program a Kubernetes
// runner pod runs (it picks its execution segment from JOB_COMPLETION_INDEX). Pure.
import { executionSegment, executionSegmentSequence, executionSegments } from "./segments.js";
import { WRAPPER_ENV, WRAPPER_FILE } from "./wrapper-names.js";

/** k6's REST API port on a runner pod. */
export const K6_API_PORT = 6565;
/** Prometheus remote-write output (its server URL comes from K6_PROMETHEUS_RW_SERVER_URL). */
export const PROMETHEUS_OUTPUT = "experimental-prometheus-rw";

export interface CommonArgsInput {
  testId: string;
  team: string | null;
  /** The scenario's name, or "script" for an inline script. */
  scenario: string;
  prometheus: boolean;
  /** Load overrides given as flags (inline scripts; scenarios read env instead). */
  vus?: number | null;
  durationMs?: number | null;
  stages?: { durationMs: number; target: number }[];
  extraArgs: string[];
  /** What k6 itself must refuse to connect to (the egress policy's runnerBlocks): address blocks and host names. */
  blocked?: { ranges: string[]; hostnames: string[] };
}

/** "90s", "1500ms": a k6 duration. */
export function k6Duration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

/** The flags every runner of a job gets (without segment, pause or the script path). */
export function commonArgs(input: CommonArgsInput): string[] {
  const args = ["--quiet", "--no-usage-report"];
  args.push("--tag", `testid=${input.testId}`, "--tag", `test_scenario=${input.scenario}`);
  if (input.team) args.push("--tag", `team=${input.team}`);
  if (input.prometheus) args.push("--out", PROMETHEUS_OUTPUT);
  if (input.stages && input.stages.length) {
    for (const stage of input.stages) args.push("--stage", `${k6Duration(stage.durationMs)}:${stage.target}`);
  } else {
    if (input.vus) args.push("--vus", String(input.vus));
    if (input.durationMs) args.push("--duration", k6Duration(input.durationMs));
  }
  // k6 resolves and connects by itself, and a script may request any URL: k6's own dialer refuses
  // these (checked on the resolved address, right before each connection).
  if (input.blocked?.ranges.length) args.push(`--blacklist-ip=${input.blocked.ranges.join(",")}`);
  if (input.blocked?.hostnames.length) args.push(`--block-hostnames=${input.blocked.hostnames.join(",")}`);
  return [...args, ...input.extraArgs];
}

/** What follows `k6 run [--execution-segment S]` on every runner: split and pause flags, then the shared ones. */
export function runTail(common: string[], options: { parallelism: number; pausedAddress?: string }): string[] {
  const split = options.parallelism > 1 ? ["--execution-segment-sequence", executionSegmentSequence(options.parallelism)] : [];
  const paused = options.pausedAddress ? ["--paused", "--address", options.pausedAddress] : [];
  return [...split, ...paused, ...common];
}

/** The full argv (after the k6 executable) of local runner `index`. */
export function localRunnerArgs(common: string[], options: { parallelism: number; index: number; address: string; paused: boolean; scriptPath: string }): string[] {
  const segment = options.parallelism > 1 ? ["--execution-segment", executionSegment(options.index, options.parallelism)] : [];
  const tail = runTail(common, { parallelism: options.parallelism, pausedAddress: options.paused ? options.address : undefined });
  // The address is given even when not paused, so concurrent local runs never fight over 6565.
  const address = options.paused ? [] : ["--address", options.address];
  return ["run", ...segment, ...tail, ...address, options.scriptPath];
}

/**
 * The shell program of a Kubernetes runner pod (the k6 image has a POSIX sh). It:
 * - picks the execution segment for JOB_COMPLETION_INDEX and exports it for the summary;
 * - runs `k6 run` with the arguments it is given plus the wrapper in JOB_FILES_DIR, forwarding
 *   SIGTERM (sh is PID 1, which ignores signals it does not trap);
 * - exits 0 when k6 exits 99: a part whose own thresholds failed must not fail the Job (which
 *   would stop the other runners mid-test); the verdict comes from the merged summaries.
 */
export function runnerShellScript(parallelism: number): string {
  const lines = ["set -u"];
  let segmentArgs = "";
  if (parallelism > 1) {
    lines.push('index="${JOB_COMPLETION_INDEX:-}"', 'case "$index" in');
    executionSegments(parallelism).forEach((segment, i) => lines.push(`  ${i}) segment='${segment}' ;;`));
    lines.push(
      '  *) echo "jobscheduler: no k6 execution segment for completion index \'$index\'" >&2; exit 2 ;;',
      "esac",
      `export ${WRAPPER_ENV.segment}="$segment"`,
    );
    segmentArgs = ' --execution-segment "$segment"';
  }
  lines.push(
    `k6 run${segmentArgs} "$@" "\${JOB_FILES_DIR:?}/${WRAPPER_FILE}" &`,
    "pid=$!",
    "trap 'kill -TERM \"$pid\" 2>/dev/null' TERM INT",
    'wait "$pid"',
    "code=$?",
    'while kill -0 "$pid" 2>/dev/null; do wait "$pid"; code=$?; done',
    'if [ "$code" -eq 99 ]; then',
    '  echo "jobscheduler: k6 exited 99 (thresholds failed on this part); the merged summaries decide the verdict" >&2',
    "  exit 0",
    "fi",
    'exit "$code"',
  );
  return `${lines.join("\n")}\n`;
}

/** The container command of every runner pod of a job. */
export function kubernetesRunnerCommand(common: string[], parallelism: number): string[] {
  const tail = runTail(common, { parallelism, pausedAddress: parallelism > 1 ? `0.0.0.0:${K6_API_PORT}` : undefined });
  return ["sh", "-c", runnerShellScript(parallelism), "k6-runner", ...tail];
}
