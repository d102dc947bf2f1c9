// Finds processes a previous instance of the service started for a job and that
// may have outlived it. Each local run carries `--job-run=<id>/<attempt>` in its
// command line, so it can be recognised in /proc without trusting a stale pid.
import { readdirSync, readFileSync } from "node:fs";

export function runMarker(jobId: string, attempt: number): string {
  return `--job-run=${jobId}/${attempt}`;
}

export function findProcessesWithMarker(marker: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (args.includes(marker)) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
