// What a service's resident memory is made of, for the benches that report its RSS: the
// kernel's split (/proc/PID/status: anonymous memory vs mapped files such as the node binary
// and the SQLite addon), and from the service's /metrics the main thread's V8 heap per space
// (size the heap holds from the system, and used: live plus not yet collected), its external
// memory (Buffers, native objects V8 knows of), and the V8 heaps of its worker threads
// (jobscheduler_thread_heap_bytes). What is left (anonymous minus the heaps) is native memory
// V8 does not see: SQLite's page caches, gRPC's and Node's own C++ allocations, malloc's free lists.
import { readFileSync } from "node:fs";

const MiB = 2 ** 20;

export interface MemoryBreakdown {
  /** MiB, as the kernel counts them. */
  rss: number;
  anon: number;
  file: number;
  /** MiB, the main thread's heap from /metrics (NaN when not scraped). */
  heapTotal: number;
  heapUsed: number;
  newTotal: number;
  oldTotal: number;
  oldUsed: number;
  largeTotal: number;
  codeTotal: number;
  external: number;
  threadsTotal: number;
  /** Anonymous memory V8 does not account for: anon - heap total - worker heaps (MiB). */
  native: number;
}

export function procMemory(pid: number): { rss: number; anon: number; file: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) / 1024;
    return { rss: kb("VmRSS"), anon: kb("RssAnon"), file: kb("RssFile") + kb("RssShmem") };
  } catch {
    return null;
  }
}

/** Sum of a metric's samples whose labels contain `labels` (e.g. `space="old"`), in MiB. */
function metricMiB(text: string, metric: string, labels = ""): number {
  let sum = Number.NaN;
  const pattern = new RegExp(`^jobscheduler_${metric}(?:\\{([^}]*)\\})? (\\S+)$`, "gm");
  for (const match of text.matchAll(pattern)) {
    if (labels && !(match[1] ?? "").includes(labels)) continue;
    sum = (Number.isNaN(sum) ? 0 : sum) + Number(match[2]);
  }
  return sum / MiB;
}

export function breakdown(pid: number, metricsText: string): MemoryBreakdown | null {
  const proc = procMemory(pid);
  if (!proc) return null;
  const heapTotal = metricMiB(metricsText, "nodejs_heap_size_total_bytes");
  const threadsTotal = metricMiB(metricsText, "thread_heap_bytes", 'kind="total"');
  return {
    ...proc,
    heapTotal,
    heapUsed: metricMiB(metricsText, "nodejs_heap_size_used_bytes"),
    newTotal: metricMiB(metricsText, "nodejs_heap_space_size_total_bytes", 'space="new"'),
    oldTotal: metricMiB(metricsText, "nodejs_heap_space_size_total_bytes", 'space="old"'),
    oldUsed: metricMiB(metricsText, "nodejs_heap_space_size_used_bytes", 'space="old"'),
    largeTotal: metricMiB(metricsText, "nodejs_heap_space_size_total_bytes", 'space="large_object"'),
    codeTotal: metricMiB(metricsText, "nodejs_heap_space_size_total_bytes", 'space="code"'),
    external: metricMiB(metricsText, "nodejs_external_memory_bytes"),
    threadsTotal: Number.isNaN(threadsTotal) ? 0 : threadsTotal,
    native: proc.anon - heapTotal - (Number.isNaN(threadsTotal) ? 0 : threadsTotal),
  };
}

export function formatBreakdown(b: MemoryBreakdown): string {
  const f = (n: number) => n.toFixed(0);
  return (
    `RSS ${f(b.rss)} MiB = anon ${f(b.anon)} + files ${f(b.file)}; heap ${f(b.heapUsed)} used of ${f(b.heapTotal)} ` +
    `(old ${f(b.oldUsed)}/${f(b.oldTotal)}, new ${f(b.newTotal)}, large ${f(b.largeTotal)}, code ${f(b.codeTotal)}), external ${f(b.external)}, ` +
    `worker heaps ${f(b.threadsTotal)}, native rest ${f(b.native)}`
  );
}

/** The breakdown as report figures (MiB). */
export function breakdownFigures(b: MemoryBreakdown): Record<string, number> {
  return {
    "RSS MiB": b.rss,
    "anon MiB": b.anon,
    "files MiB": b.file,
    "heap used MiB": b.heapUsed,
    "heap total MiB": b.heapTotal,
    "new MiB": b.newTotal,
    "old total MiB": b.oldTotal,
    "external MiB": b.external,
    "worker heaps MiB": b.threadsTotal,
    "native rest MiB": b.native,
  };
}

/**
 * The process's anonymous mappings grouped by what they most likely are, from /proc/PID/smaps:
 * glibc malloc arenas (a thread's arena is a 64 MiB reservation; the main one is [heap]), V8's
 * pages (256 KiB chunks and their multiples), thread stacks and the rest. MiB resident per group.
 */
export function anonymousMappings(pid: number): Record<string, number> {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, "utf8");
  } catch {
    return {};
  }
  const maps: { start: number; end: number; perms: string; anonymous: boolean; name: string; rssKb: number }[] = [];
  for (const line of text.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      maps.push({ start: parseInt(head[1], 16), end: parseInt(head[2], 16), perms: head[3], anonymous: head[4] === "0", name: head[5], rssKb: 0 });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && maps.length) maps[maps.length - 1].rssKb = Number(rss[1]);
  }
  const groups: Record<string, number> = {};
  maps.forEach((map, i) => {
    if (!map.anonymous || map.rssKb === 0) return;
    const next = maps[i + 1];
    // A thread arena: its used part followed by the rest of its 64 MiB reservation, inaccessible.
    const arena = next && next.perms.startsWith("---") && next.start === map.end && next.end - map.start === 64 * 2 ** 20;
    const group =
      map.name === "[heap]" ? "malloc main arena ([heap])"
      : map.name ? map.name
      : arena ? "malloc thread arenas"
      : (map.end - map.start) % (256 * 1024) === 0 ? "256 KiB multiples (V8 pages, large mmaps)"
      : "other anonymous";
    groups[group] = (groups[group] ?? 0) + map.rssKb / 1024;
  });
  return groups;
}
