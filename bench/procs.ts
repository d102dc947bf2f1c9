// Child processes for benchmarks: CPU pinning (taskset), spawning servers the same
// way, CPU accounting from /proc, and stopping them.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

export interface Pinning {
  /** taskset CPU list for the server under test, or null when not pinning. */
  serverCpus: string | null;
  /** taskset CPU list for this (load generator) process, or null. */
  loadCpus: string | null;
  description: string;
}

let plannedPinning: Pinning | undefined;

function tasksetAvailable(): boolean {
  const probe = spawnSync("taskset", ["-V"], { stdio: "ignore" });
  return probe.status === 0;
}

/** CPUs this process may run on, from `taskset -pc <pid>` ("... current affinity list: 0-3,6"). */
function currentAffinity(): number[] {
  const out = spawnSync("taskset", ["-pc", String(process.pid)], { encoding: "utf8" });
  const list = /list:\s*(\S+)/.exec(out.stdout ?? "")?.[1];
  if (!list) return [];
  return list.split(",").flatMap((part) => {
    const [a, b] = part.split("-").map(Number);
    if (b === undefined) return [a];
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}

/**
 * Decides once per run where servers and the load generator run: the server under
 * test alone on the last allowed CPU, the load generator on the others. Every
 * server (echo and service) gets the same CPU. BENCH_PIN=0 turns pinning off;
 * BENCH_SERVER_CPUS / BENCH_LOAD_CPUS override the lists.
 */
export function planPinning(): Pinning {
  if (plannedPinning) return plannedPinning;
  const none = (why: string): Pinning => ({ serverCpus: null, loadCpus: null, description: `not pinned (${why})` });
  if (process.env.BENCH_PIN === "0") plannedPinning = none("BENCH_PIN=0");
  else if (process.platform !== "linux" || !tasksetAvailable()) plannedPinning = none("taskset unavailable");
  else {
    const cpus = currentAffinity();
    if (cpus.length < 2) plannedPinning = none(`only ${cpus.length} CPU available`);
    else {
      const serverCpus = process.env.BENCH_SERVER_CPUS ?? String(cpus.at(-1));
      const loadCpus = process.env.BENCH_LOAD_CPUS ?? cpus.slice(0, -1).join(",");
      plannedPinning = { serverCpus, loadCpus, description: `server on CPU ${serverCpus}, load generator on CPU ${loadCpus} (taskset)` };
    }
  }
  return plannedPinning;
}

/**
 * Pins every thread of this process (the load generator) to its planned CPUs.
 * Returns a function that gives the process its previous CPUs back (call it when
 * the benchmark ends, so the next one starts unpinned).
 */
export function pinLoadGenerator(pinning: Pinning): () => void {
  if (!pinning.loadCpus) return () => undefined;
  const previous = currentAffinity().join(",");
  const pin = (cpus: string) => {
    const result = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(process.pid)], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`taskset failed to pin the load generator to CPU ${cpus}: ${result.stderr}`);
  };
  pin(pinning.loadCpus);
  return () => pin(previous);
}

/** Spawns `command args` on the server CPUs (taskset execs, so the pid is the server's). */
export function spawnServerProcess(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd: string }): ChildProcess {
  const { serverCpus } = planPinning();
  const [file, argv] = serverCpus ? ["taskset", ["-c", serverCpus, command, ...args]] : [command, args];
  return spawn(file, argv, { env: options.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
}

/** A server child process with its output kept for diagnostics. */
export class ServerProcess {
  readonly logs: string[] = [];
  readonly exited: Promise<number | string>;
  private exitedWith: number | string | null = null;
  private lineListeners: ((line: string) => void)[] = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.exitedWith = code ?? signal ?? "unknown";
        resolve(this.exitedWith);
      }),
    );
    let buffered = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        this.keep(line);
        for (const listener of this.lineListeners) listener(line);
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => this.keep(chunk.toString().trimEnd()));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitedWith === null;
  }

  private keep(line: string): void {
    this.logs.push(line);
    if (this.logs.length > 200) this.logs.shift();
  }

  /** Resolves with the first stdout line for which `match` returns a value. */
  waitForLine<T>(match: (line: string) => T | undefined, timeoutMs = 20_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ready line within ${timeoutMs} ms:\n${this.tail()}`)), timeoutMs);
      const listener = (line: string) => {
        const value = match(line);
        if (value === undefined) return;
        clearTimeout(timer);
        this.lineListeners = this.lineListeners.filter((l) => l !== listener);
        resolve(value);
      };
      this.lineListeners.push(listener);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) before it was ready:\n${this.tail()}`));
      });
    });
  }

  tail(lines = 30): string {
    return this.logs.slice(-lines).join("\n");
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves with the exit code or signal. */
  async stop(graceMs = 10_000): Promise<number | string> {
    if (!this.running) return this.exitedWith!;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
    clockTicks = Number(out.stdout?.trim()) || 100;
  }
  return clockTicks;
}

/** The fields of /proc/<pid>/stat after "(comm)" (state first), or null without /proc. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return null;
  }
}

/** CPU seconds (user + system, all threads) a process has used so far; null without /proc. */
export function processCpuSeconds(pid: number): number | null {
  // utime is field 14, stime 15 (state is field 3, index 0 here).
  const fields = statFields(pid);
  return fields ? (Number(fields[11]) + Number(fields[12])) / ticksPerSecond() : null;
}

/** CPU seconds (user + system) of a process's children it has waited for; null without /proc. */
export function childrenCpuSeconds(pid: number): number | null {
  // cutime is field 16, cstime 17.
  const fields = statFields(pid);
  return fields ? (Number(fields[13]) + Number(fields[14])) / ticksPerSecond() : null;
}

/**
 * CPU seconds all processes of the machine have spent in user and system mode so
 * far (/proc/stat; interrupt and softirq time, where loopback TCP of our own calls
 * is mostly processed, is left out). Null without /proc.
 */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice
    const [user, nice, system] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user + nice + system) / ticksPerSecond();
  } catch {
    return null;
  }
}

/**
 * Waits (up to `maxSeconds`) for a 2 s stretch in which the whole machine uses
 * less than `maxPct` % of one core, so a measurement does not start in the middle
 * of someone's build. Resolves with the seconds waited, or null when it gave up.
 */
export async function waitForQuiet(maxSeconds: number, maxPct = 15): Promise<number | null> {
  const started = performance.now();
  for (;;) {
    const before = machineBusySeconds();
    if (before === null) return 0;
    await new Promise((r) => setTimeout(r, 2000));
    const busyPct = ((machineBusySeconds()! - before) / 2) * 100;
    const waited = (performance.now() - started) / 1000;
    if (busyPct < maxPct) return waited - 2;
    if (waited >= maxSeconds) return null;
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got "${raw}")`);
  return value;
}

/** Extra node arguments for a child, from a space-separated env variable (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"). */
export function envArgs(name: string): string[] {
  return (process.env[name] ?? "").split(/\s+/).filter(Boolean);
}
