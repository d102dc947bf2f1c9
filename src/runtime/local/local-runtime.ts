import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { parseQuantity } from "../quantity.js";
import {
  RunReason, type InFlightRun, type Placement, type Recovery, type Run, type RunEnd, type RunOutput, type RunRef, type Runtime, type RuntimeListener, type Workload,
} from "../runtime.js";
import { isAlive, processesByRun, programsByRun, runKey, runMarker, startTimeOf } from "./orphans.js";
import { MemoryWatch, type MemoryExcess, type MemoryLimits } from "./memory-watch.js";
import { OutputTail } from "./output-tail.js";
import { signalRunGroups } from "./process-tree.js";
import { deprioritiseRun } from "./run-priority.js";

export interface LocalRuntimeOptions {
  /** Where `<collector>.js` programs live (dist/collectors in production). */
  collectorsDir: string;
  /** Per-run scratch directories (result file, HOME). */
  runsDir: string;
  /** Time between SIGTERM and SIGKILL when stopping a run. */
  killGraceMs: number;
  outputTailBytes: number;
  /** Names of variables of the service's own environment a run may inherit (PATH, TZ...). */
  passEnv: readonly string[];
  /** Nice value runs get (0-19), so the service stays responsive while they use the CPU. */
  runNice: number;
  logger: Logger;
}

const OUT_OF_MEMORY = /JavaScript heap out of memory|Allocation failed - process out of memory/;
/** The descriptor a workload with `reportsRunning` writes `running` to (JOB_STATUS_FD). */
const STATUS_FD = 3;
/** How often the runs adopted at recovery (not our children: no exit event) are looked up in /proc. */
const ADOPTED_POLL_MS = 250;
/**
 * Preloaded (`--require`, CommonJS: cheaper to start than an ESM `--import`) into every program:
 * at its exit, writes its exit code to JOB_EXIT_FILE (tmp + rename).
 * The file is the record of a run's completion that survives the service: a run that ended while
 * no service watched it, or one adopted after a restart (whose exit status only its parent could
 * read), is known to have exited, and how. A run killed by a signal writes none.
 */
// It also keeps a run that outlives the service (adopted later) from dying of its output: once
// the service is gone, writing to stdout/stderr fails with EPIPE, which would end the program
// with exit code 1 after it finished its work; that output has no reader left anyway.
const EXIT_RECORDER = `for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});
process.on("exit", (code) => {
  const file = process.env.JOB_EXIT_FILE;
  if (!file) return;
  const fs = require("node:fs");
  try { fs.writeFileSync(file + ".tmp", String(code)); fs.renameSync(file + ".tmp", file); } catch {}
});
`;
/** Where EXIT_RECORDER is written, in the runs directory (a dot name: never taken for a run's). */
const EXIT_RECORDER_FILE = ".exit-recorder.cjs";

type StopCause = "timeout" | "cancel" | "shutdown";

interface LocalRun {
  job: Run;
  /** Absent for a run adopted at recovery. */
  workload?: Workload;
  /** The program's pid, leader of its process group. */
  pid: number;
  /** Set for a run adopted at recovery: not our child, followed through /proc while this start time holds. */
  adoptedStartTime?: string;
  tail: OutputTail;
  resultFile: string;
  runDir: string;
  stopCause?: StopCause;
  /** Node reports heap exhaustion on stderr before it aborts; the tail may have lost it by the end. */
  outOfMemory: boolean;
  /** What the run was using when the memory watch killed it, and the limit it passed. */
  memoryExceeded?: MemoryExcess;
  unwatchMemory?: () => void;
  timeoutTimer: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
  exited: Promise<void>;
  /** Handed over (detach): its end is no longer ours to report, even if this replica leads again (its recovery adopts the run afresh). */
  detached?: boolean;
}

/**
 * Runs each job as a child process of the service: the same collector program a
 * Kubernetes Job runs, told what to do through its environment, never inheriting
 * the service's own environment (and so none of its credentials).
 */
export class LocalRuntime implements Runtime {
  readonly name = "local" as const;
  private listener?: RuntimeListener;
  private readonly runs = new Map<string, LocalRun>();
  private readonly host = hostname();
  private readonly memory = MemoryWatch.create();
  private adoptedPoll?: NodeJS.Timeout;
  /** Handed over to the next leader (detach): nothing more is launched until a recovery (a new term) takes runs on again. */
  private detached = false;
  private readonly adoptedExits = new Map<string, () => void>();
  private readonly exitRecorder: string;

  constructor(private readonly options: LocalRuntimeOptions) {
    mkdirSync(options.runsDir, { recursive: true });
    this.exitRecorder = join(options.runsDir, EXIT_RECORDER_FILE);
    writeFileSync(this.exitRecorder, EXIT_RECORDER);
  }

  setListener(listener: RuntimeListener): void {
    this.listener = listener;
  }

  activeRuns(): number {
    return this.runs.size;
  }

  async launch(job: Run, workload: Workload): Promise<Placement> {
    if (this.detached) throw new Error("this replica handed its runs over to the next leader and launches no more");
    const entry = join(this.options.collectorsDir, `${workload.collector}.js`);
    if (!existsSync(entry)) throw new Error(`collector program ${entry} does not exist (was the project built?)`);
    const runDir = join(this.options.runsDir, `${job.id}-${job.attempt}`);
    rmSync(runDir, { recursive: true, force: true });
    mkdirSync(runDir, { recursive: true });
    const { resultFile, exitFile } = runFiles(runDir);
    // The workload's files (e.g. a test script), as Kubernetes mounts them from a ConfigMap.
    const filesDir = workload.files && Object.keys(workload.files).length ? join(runDir, "files") : null;
    if (filesDir) {
      mkdirSync(filesDir);
      for (const [name, content] of Object.entries(workload.files!)) {
        if (!/^[-._a-zA-Z0-9]+$/.test(name) || name === "." || name === "..") throw new Error(`workload file name "${name}" may hold letters, digits, "-", "_" and "." only`);
        writeFileSync(join(filesDir, name), content, { mode: 0o444 });
      }
    }

    const child = spawn(process.execPath, [...this.nodeFlags(job), "--require", this.exitRecorder, entry, runMarker(job.id, job.attempt)], {
      cwd: runDir,
      env: {
        ...this.childEnv(job, workload, runDir, resultFile),
        JOB_EXIT_FILE: exitFile,
        ...(filesDir ? { JOB_FILES_DIR: filesDir } : {}),
        ...(workload.reportsRunning ? { JOB_STATUS_FD: String(STATUS_FD) } : {}),
      },
      stdio: workload.reportsRunning ? ["ignore", "pipe", "pipe", "pipe"] : ["ignore", "pipe", "pipe"],
      // Its own process group, so a stop reaches anything the program starts (but for the
      // process groups of its own it starts, which it stops itself: see Workload.program).
      detached: true,
    });
    if (child.pid !== undefined) deprioritiseRun(child.pid, this.options.runNice);
    const tail = new OutputTail(this.options.outputTailBytes);
    let outOfMemory = false;
    child.stdout!.on("data", (chunk: Buffer) => tail.push(chunk));
    child.stderr!.on("data", (chunk: Buffer) => {
      tail.push(chunk);
      outOfMemory ||= OUT_OF_MEMORY.test(chunk.toString("latin1"));
    });

    const spawned = new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    await spawned;

    const run: LocalRun = {
      job,
      workload,
      pid: child.pid!,
      tail,
      resultFile,
      runDir,
      get outOfMemory() {
        return outOfMemory;
      },
      timeoutTimer: setTimeout(() => this.stop(run, "timeout"), job.timeoutMs),
      exited: new Promise((resolve) => child.once("close", (code, signal) => resolve(this.onExit(run, code, signal)))),
    };
    this.runs.set(job.id, run);
    const limits = localMemoryLimits(job, workload);
    if (this.memory && limits !== null) {
      run.unwatchMemory = this.memory.watch(child.pid!, limits, (excess) => {
        run.memoryExceeded = excess;
        this.killRun(run);
      });
    }

    const placement: Placement = {
      runtime: "local",
      location: `pid ${child.pid} on ${this.host}`,
      host: this.host,
      pid: child.pid!,
    };
    this.options.logger.info({ jobId: job.id, attempt: job.attempt, pid: child.pid }, "local run started");
    // Not awaited: the listener serialises per job behind the launch that called us (and before
    // the run's end, which waits for this descriptor to close too).
    const reportRunning = () => void this.listener?.running(job, placement, Date.now());
    if (workload.reportsRunning) onStatusLine(child.stdio[STATUS_FD] as NodeJS.ReadableStream, "running", reportRunning);
    else reportRunning();
    return placement;
  }

  async cancel(job: RunRef): Promise<boolean> {
    const run = this.runs.get(job.id);
    if (!run) return false;
    this.stop(run, "cancel");
    return true;
  }

  /**
   * Reconciles each in-flight job with what its run left: a live program is adopted and followed
   * to its end; a program that exited (its exit file says so) is reported with its real outcome;
   * anything else of the run is killed and the run reported interrupted. Those ends go through the
   * listener like any other (awaited here, before dispatching starts). Only a job whose run was
   * never launched (no run directory) is left to the caller as lost. Directories of runs no job is
   * in flight for are removed.
   */
  async recover(jobs: InFlightRun[]): Promise<Map<string, Recovery>> {
    // A new term: runs this replica handed over, still running as its children, are adopted
    // through /proc like anyone's (their old entries reported nothing since the detach).
    this.detached = false;
    const decisions = new Map<string, Recovery>();
    const programs = jobs.length ? programsByRun() : new Map<string, number>();
    const leftovers = jobs.length ? processesByRun() : new Map<string, number[]>();
    this.removeStaleRunDirs(jobs);
    const reports: Promise<void>[] = [];
    for (const job of jobs) {
      const key = runKey(job.id, job.attempt);
      const runDir = join(this.options.runsDir, `${job.id}-${job.attempt}`);
      const program = programs.get(key);
      const startTime = program === undefined ? null : startTimeOf(program);
      if (program !== undefined && startTime !== null) {
        this.adopt(job, program, startTime, runDir);
        decisions.set(job.id, { action: "adopted" });
        continue;
      }
      if (!existsSync(runDir)) {
        decisions.set(job.id, { action: "lost", message: "the service stopped before the run was launched" });
        continue;
      }
      // The program is gone; whatever it started may not be (runners in groups of their own).
      const strays = leftovers.get(key) ?? [];
      for (const pid of strays) signalRunGroups(pid, "SIGKILL", strays);
      decisions.set(job.id, { action: "adopted" });
      reports.push(this.reportLeftover(job, runDir, strays.length > 0));
    }
    await Promise.all(reports);
    return decisions;
  }

  /** A run whose program ended while no service watched it: its exit file decides. */
  private async reportLeftover(job: InFlightRun, runDir: string, killedStrays: boolean): Promise<void> {
    const { resultFile, exitFile } = runFiles(runDir);
    const output: RunOutput = { rawResult: readIfExists(resultFile), outputTail: job.outputTail };
    const exitCode = readExitCode(exitFile);
    const where = job.placement?.location ?? "launched";
    const end: RunEnd = exitCode !== null
      ? { kind: "exited", exitCode, output }
      : job.cancelRequested
        ? { kind: "cancelled", output }
        : {
          kind: "interrupted",
          message: `the service stopped while the job was running (${where}) and the run ended without recording an exit${killedStrays ? "; its leftover processes were killed" : ""}`,
          output,
        };
    this.options.logger.info({ jobId: job.id, attempt: job.attempt, end: end.kind, exitCode }, "a run that ended while the service was down");
    await this.report(job, end, runDir);
  }

  /** Follows a live program a previous instance started, through /proc, to its end. */
  private adopt(job: InFlightRun, pid: number, startTime: string, runDir: string): void {
    const { resultFile } = runFiles(runDir);
    const elapsed = Date.now() - (job.startedAt ?? Date.now());
    const run: LocalRun = {
      job,
      pid,
      adoptedStartTime: startTime,
      // Its output went to the previous instance; what that one stored is all there is.
      tail: new OutputTail(this.options.outputTailBytes),
      resultFile,
      runDir,
      outOfMemory: false,
      timeoutTimer: setTimeout(() => this.stop(run, "timeout"), Math.max(0, job.timeoutMs - elapsed)),
      exited: new Promise((resolve) => this.adoptedExits.set(job.id, () => resolve(this.onExit(run, null, null)))),
    };
    run.tail.push(Buffer.from(job.outputTail));
    this.runs.set(job.id, run);
    const ownBytes = parseQuantity(job.resources.memoryLimit);
    if (this.memory && ownBytes !== null) {
      run.unwatchMemory = this.memory.watch(pid, { ownBytes }, (excess) => {
        run.memoryExceeded = excess;
        this.killRun(run);
      });
    }
    this.adoptedPoll ??= setInterval(() => this.pollAdopted(), ADOPTED_POLL_MS).unref();
    this.options.logger.info({ jobId: job.id, attempt: job.attempt, pid }, "adopted a local run left by the previous instance");
    const placement: Placement = { runtime: "local", location: `pid ${pid} on ${this.host}`, host: this.host, pid };
    if (job.state === "STARTING") void this.listener?.running(job, placement, Date.now());
    if (job.cancelRequested) this.stop(run, "cancel");
  }

  private pollAdopted(): void {
    for (const run of this.runs.values()) {
      if (run.adoptedStartTime === undefined || startTimeOf(run.pid) === run.adoptedStartTime) continue;
      const exited = this.adoptedExits.get(run.job.id);
      this.adoptedExits.delete(run.job.id);
      exited?.();
    }
    if (this.adoptedExits.size === 0) {
      clearInterval(this.adoptedPoll);
      this.adoptedPoll = undefined;
    }
  }

  /** Removes the directories of runs that ended (and were recorded) just before the service stopped. */
  private removeStaleRunDirs(inFlight: InFlightRun[]): void {
    const keep = new Set(inFlight.map((job) => `${job.id}-${job.attempt}`));
    let entries: string[];
    try {
      entries = readdirSync(this.options.runsDir);
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!keep.has(entry) && !entry.startsWith(".")) rmSync(join(this.options.runsDir, entry), { recursive: true, force: true });
    }
  }

  /**
   * Leaves the runs to the next leader (a replica on this host, sharing DATA_DIR): their timeouts,
   * memory watches and ends are no longer ours; its recovery adopts them through /proc and reads
   * their exit records.
   */
  async detach(): Promise<void> {
    this.detached = true;
    for (const run of this.runs.values()) {
      run.detached = true;
      clearTimeout(run.timeoutTimer);
      clearTimeout(run.killTimer);
      run.unwatchMemory?.();
    }
    clearInterval(this.adoptedPoll);
    this.adoptedPoll = undefined;
    this.adoptedExits.clear();
    if (this.runs.size) this.options.logger.info({ runs: this.runs.size }, "left the local runs running for the next leader");
    this.runs.clear();
  }

  async shutdown(graceMs: number): Promise<void> {
    const running = [...this.runs.values()];
    if (running.length === 0) return;
    this.options.logger.info({ runs: running.length, graceMs }, "waiting for local runs to finish");
    const allExited = Promise.all(running.map((r) => r.exited));
    const timer = new Promise<"grace-over">((resolve) => setTimeout(() => resolve("grace-over"), graceMs).unref());
    if ((await Promise.race([allExited, timer])) === "grace-over") {
      for (const run of this.runs.values()) this.stop(run, "shutdown");
      await allExited;
    }
  }

  /** One SIGTERM to the program's group (the program stops what it started in groups of its own), then SIGKILL to everything. */
  private stop(run: LocalRun, cause: StopCause): void {
    if (run.stopCause) return;
    run.stopCause = cause;
    killGroup(run.pid, "SIGTERM");
    run.killTimer = setTimeout(() => this.killRun(run), this.options.killGraceMs);
  }

  /** SIGKILL to the program's group and every process group below it or carrying the run's JOB_ID/JOB_ATTEMPT. */
  private killRun(run: LocalRun): void {
    signalRunGroups(run.pid, "SIGKILL", this.strays(run));
  }

  /** Processes of the run that may have left its tree (only where a program starts groups of its own, or died unexpectedly). */
  private strays(run: LocalRun): number[] {
    return processesByRun().get(runKey(run.job.id, run.job.attempt)) ?? [];
  }

  private async onExit(run: LocalRun, exitCode: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (run.detached) return;
    clearTimeout(run.timeoutTimer);
    clearTimeout(run.killTimer);
    run.unwatchMemory?.();
    // The program may have left children in its group, or, when it starts groups of its own or
    // was killed, in those.
    if (!run.workload || run.workload.program || signal !== null || run.stopCause || run.memoryExceeded) this.killRun(run);
    else killGroup(run.pid, "SIGKILL");
    // Not our child (adopted): its exit file is the only record of how it ended.
    if (run.adoptedStartTime !== undefined) exitCode = readExitCode(runFiles(run.runDir).exitFile);
    const output: RunOutput = { rawResult: readIfExists(run.resultFile), outputTail: run.tail.toString() };
    const end = this.describeEnd(run, exitCode, signal, output);
    this.runs.delete(run.job.id);
    this.options.logger.info({ jobId: run.job.id, attempt: run.job.attempt, exitCode, signal, end: end.kind }, "local run ended");
    await this.report(run.job, end, run.runDir);
  }

  /** Records a run's end, then removes its directory (only then: until recorded, it is the run's record). */
  private async report(job: Run, end: RunEnd, runDir: string): Promise<void> {
    try {
      await this.listener?.finished(job, end, Date.now());
    } catch (error) {
      this.options.logger.error({ err: error, jobId: job.id }, "recording the end of a local run failed");
      return;
    }
    // Off the event loop: removing a directory tree synchronously stalls every other run's bookkeeping.
    await rm(runDir, { recursive: true, force: true }).catch((error: unknown) =>
      this.options.logger.warn({ err: error, runDir }, "could not remove a finished run's directory"));
  }

  private describeEnd(run: LocalRun, exitCode: number | null, signal: NodeJS.Signals | null, output: RunOutput): RunEnd {
    switch (run.stopCause) {
      case "timeout":
        return { kind: "timed-out", message: `exceeded its timeout of ${run.job.timeoutMs} ms and was stopped`, output };
      case "cancel":
        return { kind: "cancelled", output };
      case "shutdown":
        return { kind: "interrupted", message: "the service shut down before the run finished", output };
    }
    if (run.memoryExceeded) {
      const { residentBytes, group } = run.memoryExceeded;
      const message = group === undefined
        ? `killed after using ${mebibytes(residentBytes)} MiB, over its memory limit of ${run.job.resources.memoryLimit}`
        : `killed after one of its runners (process group ${group}) used ${mebibytes(residentBytes)} MiB, over the runners' memory limit of ${run.workload ? runnerMemory(run.job, run.workload) : run.job.resources.memoryLimit}`;
      return { kind: "failed", reason: RunReason.OOM_KILLED, message, output };
    }
    if (exitCode !== null) return { kind: "exited", exitCode, output };
    if (run.adoptedStartTime !== undefined) {
      return { kind: "interrupted", message: `the run, adopted after a restart (pid ${run.pid}), ended without recording an exit`, output };
    }
    if (signal === "SIGKILL" || run.outOfMemory) {
      return {
        kind: "failed",
        reason: RunReason.OOM_KILLED,
        message: `killed by ${signal ?? "the runtime"} after running out of memory (limit ${run.job.resources.memoryLimit})`,
        output,
      };
    }
    return { kind: "failed", reason: RunReason.SIGNALED, message: `terminated by signal ${signal}`, output };
  }

  /** Without the memory watch (no /proc), node's heap is capped near the memory limit instead. */
  private nodeFlags(job: Run): string[] {
    if (this.memory) return [];
    const limitBytes = parseQuantity(job.resources.memoryLimit);
    if (limitBytes === null) return [];
    const heapMiB = Math.max(16, Math.floor((limitBytes * 0.75) / (1024 * 1024)));
    return [`--max-old-space-size=${heapMiB}`];
  }

  private childEnv(job: Run, workload: Workload, runDir: string, resultFile: string): NodeJS.ProcessEnv {
    const inherited = Object.fromEntries(
      this.options.passEnv.flatMap((name) => (process.env[name] === undefined ? [] : [[name, process.env[name]!]])),
    );
    return {
      ...inherited,
      ...workloadProcessEnv(workload),
      HOME: runDir,
      TMPDIR: runDir,
      JOB_ID: job.id,
      JOB_ATTEMPT: String(job.attempt),
      JOB_RESULT_FILE: resultFile,
    };
  }
}

/**
 * The memory a local run may hold: the job's limit for its program, and for a workload whose
 * runners are separate programs (one pod each on Kubernetes, one process group each here, all
 * under the workload's program) the runners' limit for each runner on its own.
 */
export function localMemoryLimits(job: Run, workload: Workload): MemoryLimits | null {
  const ownBytes = parseQuantity(job.resources.memoryLimit);
  if (ownBytes === null) return null;
  if (!workload.program) return { ownBytes };
  return { ownBytes, groupBytes: parseQuantity(runnerMemory(job, workload)) ?? ownBytes };
}

function runnerMemory(job: Run, workload: Workload): string {
  return workload.program?.resources?.memory ?? job.resources.memoryLimit;
}

/** Calls `onLine` once, on the first line `line` read from `stream`. */
function onStatusLine(stream: NodeJS.ReadableStream, line: string, onLine: () => void): void {
  let buffered = "";
  const read = (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    if (!buffered.split("\n").slice(0, -1).includes(line)) {
      buffered = buffered.slice(buffered.lastIndexOf("\n") + 1).slice(-256);
      return;
    }
    stream.off("data", read);
    stream.resume();
    onLine();
  };
  stream.on("data", read);
}

/** A workload's variables as a local process gets them: secret variables by value. */
export function workloadProcessEnv(workload: Workload): Record<string, string> {
  const secrets = Object.entries(workload.secretEnv ?? {}).flatMap(([name, secret]) => (secret.value === undefined ? [] : [[name, secret.value]]));
  return { ...workload.env, ...Object.fromEntries(secrets) };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    if (isAlive(pid)) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }
}

function runFiles(runDir: string): { resultFile: string; exitFile: string } {
  return { resultFile: join(runDir, "result.json"), exitFile: join(runDir, "exit-code") };
}

/** The exit code a program recorded at its exit (EXIT_RECORDER), or null when it recorded none. */
function readExitCode(path: string): number | null {
  const text = readIfExists(path);
  if (text === null || !/^-?\d+$/.test(text.trim())) return null;
  return Number(text.trim());
}

function mebibytes(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}

function readIfExists(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
