// Local runs' memory limits, enforced the way a container's are: on the resident memory of the
// run's processes (its program and whatever that starts, other binaries included), not only on a
// V8 heap. It also spares every run V8's heap-size flags, with which node rejects its built-in
// code cache and recompiles its own modules at each start (~17 ms of CPU per run, a quarter of
// an http_check run). A program whose runners are separate programs starts each in a process
// group of its own, and each such group is held to the runners' limit, as a runner pod would be.
// Linux only (/proc); elsewhere the runtime falls back to the heap flag.
import { existsSync } from "node:fs";
import { descendants, processGroupOf, readOrNull } from "./process-tree.js";

/** What a run may hold resident. */
export interface MemoryLimits {
  /** The program and everything below it, except what `groupBytes` covers. */
  ownBytes: number;
  /**
   * Given for a program whose runners are separate programs (one pod each on Kubernetes): each
   * process group the program starts below itself (one per runner) holds at most this, on its own.
   */
  groupBytes?: number;
}

/** Which limit a run passed: its own, or (with `group`, the group's id) one runner group's. */
export interface MemoryExcess {
  residentBytes: number;
  limitBytes: number;
  group?: number;
}

interface WatchedRun {
  pid: number;
  limits: MemoryLimits;
  onExceeded(excess: MemoryExcess): void;
}

export const MEMORY_CHECK_INTERVAL_MS = 250;

export class MemoryWatch {
  private readonly runs = new Set<WatchedRun>();
  private timer?: NodeJS.Timeout;

  private constructor(private readonly pageSize: number, private readonly intervalMs: number) {}

  /** A watch when this platform exposes processes' resident memory (/proc), else null. */
  static create(intervalMs = MEMORY_CHECK_INTERVAL_MS): MemoryWatch | null {
    if (!existsSync("/proc/self/statm")) return null;
    const pageSize = detectPageSize();
    return pageSize ? new MemoryWatch(pageSize, intervalMs) : null;
  }

  /** Calls `onExceeded` once when the resident memory of `pid` and its descendants passes its limits. Returns the unwatch. */
  watch(pid: number, limits: MemoryLimits, onExceeded: (excess: MemoryExcess) => void): () => void {
    const run: WatchedRun = { pid, limits, onExceeded };
    this.runs.add(run);
    this.timer ??= setInterval(() => this.check(), this.intervalMs).unref();
    return () => this.unwatch(run);
  }

  /** One pass over every watched run (the timer calls it; exposed for tests). */
  check(): void {
    for (const run of this.runs) {
      const excess = this.excess(run);
      if (excess) {
        this.unwatch(run);
        run.onExceeded(excess);
      }
    }
  }

  private excess({ pid, limits }: WatchedRun): MemoryExcess | null {
    if (limits.groupBytes === undefined) {
      const resident = this.residentBytes(pid);
      return resident > limits.ownBytes ? { residentBytes: resident, limitBytes: limits.ownBytes } : null;
    }
    const byGroup = this.residentBytesByGroup(pid);
    const own = processGroupOf(pid) ?? pid;
    for (const [group, resident] of byGroup) {
      if (group === own && resident > limits.ownBytes) return { residentBytes: resident, limitBytes: limits.ownBytes };
      if (group !== own && resident > limits.groupBytes) return { residentBytes: resident, limitBytes: limits.groupBytes, group };
    }
    return null;
  }

  /** Resident memory of a process and its descendants, by process group. */
  residentBytesByGroup(pid: number): Map<number, number> {
    const byGroup = new Map<number, number>();
    for (const current of [pid, ...descendants(pid)]) {
      const resident = this.residentBytesOf(current);
      const group = processGroupOf(current);
      if (resident === null || group === null) continue;
      byGroup.set(group, (byGroup.get(group) ?? 0) + resident);
    }
    return byGroup;
  }

  /** Resident memory of a process and its descendants (0 once it is gone). */
  residentBytes(pid: number): number {
    let total = 0;
    for (const current of [pid, ...descendants(pid)]) total += this.residentBytesOf(current) ?? 0;
    return total;
  }

  private residentBytesOf(pid: number): number | null {
    const statm = readOrNull(`/proc/${pid}/statm`);
    return statm === null ? null : (Number(statm.split(" ")[1]) || 0) * this.pageSize;
  }

  private unwatch(run: WatchedRun): void {
    this.runs.delete(run);
    if (this.runs.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** The page size, from this process's resident pages against its resident bytes (no getconf child). */
function detectPageSize(): number | null {
  const statm = readOrNull("/proc/self/statm");
  if (!statm) return null;
  const pages = Number(statm.split(" ")[1]);
  if (!pages) return null;
  const ratio = process.memoryUsage.rss() / pages;
  // The two readings are a moment apart; the page size is the power of two nearest their ratio.
  return 2 ** Math.round(Math.log2(ratio));
}
