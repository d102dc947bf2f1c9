// The local side of a k6 job: what the Kubernetes runtime does with an Indexed Job and the
// starter, done with child processes on this machine. One runner runs `k6 run` straight; N
// runners each run their execution segment, paused, with k6's REST API on a local port of their
// own, and are un-paused together once every one answers. Each runner writes its compact summary
// to a result file of its own; the coordinator hands them all to the service (RunnerResults), which
// merges them exactly as it merges the termination messages of runner pods.
//
// Stopping: k6 stops gracefully (and writes its summary) on the first SIGTERM, but a second one is
// a hard stop without summary. So each runner runs in a process group of its own, out of reach of
// the stop the runtime sends to this program's group, and gets exactly one SIGTERM, from here.
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { localRunnerArgs } from "../../shared/k6/command.js";
import { getK6Status, restError, resumeK6 } from "../../shared/k6/rest-api.js";
import { executionSegment } from "../../shared/k6/segments.js";
import { WRAPPER_ENV, WRAPPER_FILE } from "../../shared/k6/wrapper-names.js";
import type { EgressPolicy } from "../../shared/egress/policy.js";
import { preflight, PREFLIGHT_TIMEOUT_MS } from "../../shared/preflight.js";
import { RUNNERS_NOT_STARTED, type RunnerResults } from "../../shared/runner-results.js";
import { spawnInOwnGroup } from "./own-group.js";

export interface CoordinatorConfig {
  binary: string;
  /** The flags every runner shares (command.ts commonArgs). */
  common: string[];
  parallelism: number;
  startTimeoutMs: number;
  preflightUrl?: string;
  /** The egress policy the pre-flight request is judged by (JOB_EGRESS_POLICY). */
  egress?: EgressPolicy;
  /** Where main.js and script.js are (JOB_FILES_DIR). */
  filesDir: string;
  /** Scratch directory for the runners' result files. */
  workDir: string;
  /** What the runners' environment starts from (the script's env). */
  env: NodeJS.ProcessEnv;
  log(line: string): void;
  /** Called once the test really runs: the runners were started together (or the one runner spawned). */
  onStarted?(): void;
}

export interface CoordinatorOutcome {
  results: RunnerResults;
  /** 0: every runner finished (verdict in the summaries); 99: some runner's thresholds failed; else a runner's error code. */
  exitCode: number;
}

interface Runner {
  index: number;
  child: ChildProcess;
  address: string;
  resultFile: string;
  exit: Promise<number>;
  exitCode: number | null;
  /** Whether it was sent its one SIGTERM. */
  signalled: boolean;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

function pipeLines(stream: NodeJS.ReadableStream, prefix: string, log: (line: string) => void): void {
  let buffered = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      log(`${prefix}${buffered.slice(0, newline)}`);
      buffered = buffered.slice(newline + 1);
    }
  });
  stream.on("end", () => {
    if (buffered) log(`${prefix}${buffered}`);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function coordinate(config: CoordinatorConfig, stop: Promise<unknown>): Promise<CoordinatorOutcome> {
  let stopping = false;
  void stop.then(() => (stopping = true));

  let checked: RunnerResults["preflight"];
  if (config.preflightUrl) {
    const outcome = await preflight(config.preflightUrl, PREFLIGHT_TIMEOUT_MS, undefined, config.egress);
    checked = outcome;
    config.log(outcome.ok ? `pre-flight: ${config.preflightUrl} answered ${outcome.status} in ${outcome.durationMs} ms` : `pre-flight: ${config.preflightUrl} is unreachable (${outcome.error})`);
    if (!outcome.ok) return { results: { runners: [], preflight: outcome }, exitCode: 0 };
  }
  if (stopping) return { results: { runners: [], ...(checked ? { preflight: checked } : {}), stopped: true }, exitCode: 143 };

  const n = config.parallelism;
  const paused = n > 1;
  const runners: Runner[] = [];
  for (let index = 0; index < n; index++) {
    const address = `127.0.0.1:${await freePort()}`;
    const resultFile = join(config.workDir, `runner-${index}.json`);
    const args = localRunnerArgs(config.common, { parallelism: n, index, address, paused, scriptPath: join(config.filesDir, WRAPPER_FILE) });
    const env: NodeJS.ProcessEnv = { ...config.env, JOB_RESULT_FILE: resultFile };
    if (n > 1) env[WRAPPER_ENV.segment] = executionSegment(index, n);
    else delete env[WRAPPER_ENV.segment];
    const child = spawnInOwnGroup(config.binary, args, { cwd: config.workDir, env, stdio: ["ignore", "pipe", "pipe"] });
    const prefix = n > 1 ? `[runner ${index}] ` : "";
    pipeLines(child.stdout!, prefix, config.log);
    pipeLines(child.stderr!, prefix, config.log);
    const runner: Runner = {
      index,
      child,
      address,
      resultFile,
      exitCode: null,
      signalled: false,
      exit: new Promise((resolve) => {
        child.once("error", (error) => {
          config.log(`${prefix}could not start ${config.binary}: ${error.message}`);
          runner.exitCode = 127;
          resolve(127);
        });
        child.once("close", (code, signal) => {
          runner.exitCode ??= code ?? (signal === "SIGTERM" ? 143 : 137);
          resolve(runner.exitCode);
        });
      }),
    };
    runners.push(runner);
  }

  // One SIGTERM per runner, whoever asks (a stop of the job, a failed start) and however often.
  const stopAll = () => {
    for (const runner of runners) {
      if (runner.exitCode !== null || runner.signalled) continue;
      runner.signalled = true;
      signalGroup(runner.child, "SIGTERM");
    }
  };
  void stop.then(stopAll);
  // Should this program die before its runners (it waits for them otherwise), they go with it.
  process.once("exit", () => runners.forEach((r) => r.exitCode === null && signalGroup(r.child, "SIGKILL")));
  let failure: RunnerResults["failure"];
  let startedAt: number | undefined;

  if (paused) {
    const deadline = Date.now() + config.startTimeoutMs;
    let silent: string[] = [];
    for (;;) {
      if (stopping) break;
      const early = runners.find((r) => r.exitCode !== null);
      if (early) {
        failure = { reason: RUNNERS_NOT_STARTED, message: `k6 runner ${early.index} exited with code ${early.exitCode} before the runners were started together` };
        break;
      }
      const statuses = await Promise.allSettled(runners.map((r) => getK6Status(`http://${r.address}`, 1000)));
      silent = statuses.flatMap((s, i) => (s.status === "rejected" ? [`runner ${i} (${runners[i].address}): ${restError(s.reason)}`] : []));
      if (silent.length === 0) {
        const toStart = statuses.flatMap((s, i) => (s.status === "fulfilled" && s.value.paused ? [runners[i]] : []));
        const resumed = await Promise.allSettled(toStart.map((r) => resumeK6(`http://${r.address}`, 2000)));
        const refused = resumed.flatMap((s, i) => (s.status === "rejected" ? [`runner ${toStart[i].index}: ${restError(s.reason)}`] : []));
        if (refused.length === 0) {
          startedAt = Date.now();
          config.log(`started ${n} k6 runners together`);
          config.onStarted?.();
          break;
        }
        silent = refused;
      }
      if (Date.now() >= deadline) {
        failure = { reason: RUNNERS_NOT_STARTED, message: `the ${n} k6 runners could not all be started within ${config.startTimeoutMs / 1000}s (K6_START_TIMEOUT): ${silent.join("; ")}` };
        break;
      }
      await sleep(100);
    }
    if (failure) {
      config.log(failure.message);
      stopAll();
    }
  } else {
    startedAt = Date.now();
    config.onStarted?.();
  }

  const codes = await Promise.all(runners.map((r) => r.exit));
  const results: RunnerResults = {
    runners: runners.map((r) => ({ index: r.index, exitCode: r.exitCode, result: readIfExists(r.resultFile) })),
    ...(checked ? { preflight: checked } : {}),
    ...(startedAt !== undefined ? { startedAt } : {}),
    ...(failure ? { failure } : {}),
    ...(stopping ? { stopped: true } : {}),
  };
  if (failure) return { results, exitCode: 0 };
  if (stopping) return { results, exitCode: 143 };
  const bad = codes.find((code) => code !== 0 && code !== 99);
  return { results, exitCode: bad ?? (codes.includes(99) ? 99 : 0) };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone (or never started)
  }
}
