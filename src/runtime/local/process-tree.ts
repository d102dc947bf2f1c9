// A local run is its program's process group, plus any process group the program starts below
// it (a program running a runner group puts each runner in one of its own, so that a stop
// reaches every runner once, through the program). Stopping a run politely signals only the program's group; killing
// it must reach all of them. Linux only (/proc); elsewhere a run is its program's group.
import { readFileSync } from "node:fs";

/** The pids below `pid` (children, their children...), read from /proc; [] once it is gone. */
export function descendants(pid: number): number[] {
  const found: number[] = [];
  const pending = [pid];
  const seen = new Set<number>([pid]);
  while (pending.length) {
    const current = pending.pop()!;
    for (const child of childrenOf(current)) {
      if (seen.has(child)) continue;
      seen.add(child);
      found.push(child);
      pending.push(child);
    }
  }
  return found;
}

export function childrenOf(pid: number): number[] {
  const text = readOrNull(`/proc/${pid}/task/${pid}/children`);
  return text ? text.trim().split(/\s+/).filter(Boolean).map(Number) : [];
}

/** The process group of `pid`, or null when it is gone (or there is no /proc). */
export function processGroupOf(pid: number): number | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so count from its end.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const group = Number(fields[2]);
  return Number.isInteger(group) && group > 0 ? group : null;
}

/**
 * Sends `signal` to the process group `root` leads and to every process group found below it or
 * among `others` (each pid's group, or the pid itself when its group cannot be read). The tree is
 * read before anything is signalled: a killed parent's children are re-parented at once.
 */
export function signalRunGroups(root: number, signal: NodeJS.Signals, others: readonly number[] = []): void {
  const pids = [...descendants(root), ...others];
  // The root leads its group (the runtime starts it detached): its group also holds whatever it
  // left there after it ended.
  const groups = new Set<number>([root]);
  const loose: number[] = [];
  for (const pid of pids) {
    const group = processGroupOf(pid);
    if (group === null) loose.push(pid);
    else groups.add(group);
  }
  // Never the service's own group, whatever a run's process did with its group.
  groups.delete(processGroupOf(process.pid) ?? -1);
  for (const group of groups) {
    try {
      process.kill(-group, signal);
    } catch {
      // the group is gone
    }
  }
  for (const pid of loose) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** A /proc file's text, or null when the process is gone (or there is no /proc). */
export function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
