// Finds processes a previous instance of the service started for a job and that
// may have outlived it. Each local run carries `--job-run=<id>/<attempt>` in its
// command line, so it can be recognised in /proc without trusting a stale pid; what
// the program started (runners, in process groups of their own) inherits JOB_ID and
// JOB_ATTEMPT in its environment, so it is found even after its parent died.
import { readdirSync } from "node:fs";
import { readOrNull } from "./process-tree.js";

export function runMarker(jobId: string, attempt: number): string {
  return `--job-run=${jobId}/${attempt}`;
}

export function runKey(jobId: string, attempt: number): string {
  return `${jobId}/${attempt}`;
}

export function findProcessesWithMarker(marker: string): number[] {
  const pids: number[] = [];
  for (const pid of processIds()) {
    const cmdline = readOrNull(`/proc/${pid}/cmdline`);
    if (cmdline !== null && cmdline.split("\0").includes(marker)) pids.push(pid);
  }
  return pids;
}

/**
 * Every process (of those this user may read) that belongs to a local run, by runKey: the marker
 * in its command line, or JOB_ID and JOB_ATTEMPT in its environment. One pass over /proc.
 */
export function processesByRun(): Map<string, number[]> {
  const runs = new Map<string, number[]>();
  const add = (key: string, pid: number) => runs.set(key, [...(runs.get(key) ?? []), pid]);
  for (const pid of processIds()) {
    if (pid === process.pid) continue;
    const marker = readOrNull(`/proc/${pid}/cmdline`)?.split("\0").find((arg) => arg.startsWith("--job-run="));
    if (marker) {
      add(marker.slice("--job-run=".length), pid);
      continue;
    }
    const environ = readOrNull(`/proc/${pid}/environ`);
    if (environ === null || !environ.includes("JOB_ID=")) continue;
    let id: string | undefined;
    let attempt: string | undefined;
    for (const entry of environ.split("\0")) {
      if (entry.startsWith("JOB_ID=")) id = entry.slice(7);
      else if (entry.startsWith("JOB_ATTEMPT=")) attempt = entry.slice(12);
    }
    if (id && attempt) add(`${id}/${attempt}`, pid);
  }
  return runs;
}

/**
 * The program of each local run (the process whose command line carries the run's marker), by
 * runKey. Its children and runners are not in it (see processesByRun).
 */
export function programsByRun(): Map<string, number> {
  const programs = new Map<string, number>();
  for (const pid of processIds()) {
    if (pid === process.pid) continue;
    const marker = readOrNull(`/proc/${pid}/cmdline`)?.split("\0").find((arg) => arg.startsWith("--job-run="));
    if (marker && startTimeOf(pid) !== null) programs.set(marker.slice("--job-run=".length), pid);
  }
  return programs;
}

/**
 * When `pid` started (clock ticks since boot, /proc/<pid>/stat field 22), or null when it is gone
 * or a zombie. With the pid it names one process: a pid reused later has another start time.
 */
export function startTimeOf(pid: number): string | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count from its end.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return null;
  return fields[19] ?? null;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function processIds(): number[] {
  try {
    return readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).map(Number);
  } catch {
    return [];
  }
}
