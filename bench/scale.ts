// A million jobs (issue #13, B): the real service (`node dist/main.js`, local runtime) on a store
// of SCALE_JOBS jobs, every call of the issue's table measured through the gRPC API (and /metrics
// over HTTP), printed MET / MISSED against the issue's targets.
//
// Set-up: bench/scale-load.ts fills the store in a process of its own (distributions stated
// there: 99.8% QUEUED, 0.1% SUCCEEDED, 0.1% FAILED; timers; priorities 0/5/10; 500 teams as
// labels; 1% delayed). Dispatching starts paused. Then, each for SCALE_SECONDS at
// SCALE_CONCURRENCY callers: the ListJobs shapes, GetJobStatus of queued jobs, the dispatching
// calls, /metrics; a mixed read/write load (ScheduleJob, GetJobStatus, ListJobs, status) while
// the service's event-loop delay is read from its metric (jobscheduler_nodejs_eventloop_lag_max_seconds,
// prom-client's perf_hooks.monitorEventLoopDelay, reset at every scrape); and GetJobStatus and
// ListJobs again while 50 timer runs are active. The service's RSS is sampled all along.
//
// Knobs (env): SCALE_JOBS (1,000,000), SCALE_SECONDS (5), SCALE_CONCURRENCY (callers per
// latency row, 1), DATABASE_URL (PostgreSQL instead of SQLite: a schema of its own, dropped
// afterwards), SCALE_DATA_DIR (keep the loaded store there and reuse it on the next run, for
// iterating: the SQLite file, or the name of the PostgreSQL schema, and a sample of queued ids),
// SCALE_NODE_OPTIONS (NODE_OPTIONS of the service), SERVICE_NODE_FLAGS (its node flags instead of
// those of `npm start`, "" for none: V8 heap flags to try against the RSS row).
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import pg from "pg";
import { JobState, ScheduleJobRequest, type Job, type ListJobsRequest, type ListJobsResponse } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { QUEUE_POSITION_BOUND } from "../src/dispatch/queue-positions.js";
import { baseEnv, call, cleanup, ROOT, spawnService, tempDir, type ChildService } from "../test/support/service.js";
import { percentile } from "./load.js";
import { anonymousMappings, breakdown, breakdownFigures, formatBreakdown, type MemoryBreakdown } from "./memory.js";
import { envNumber, processCpuSeconds } from "./procs.js";
import { emptyReport, type BenchModule, type BenchReport } from "./report.js";

export const name = "scale";
export const description = "the issue's table at SCALE_JOBS jobs (1,000,000): ListJobs, GetJobStatus, dispatching, /metrics, event-loop delay, RSS";

const DAY_MS = 86_400_000;
const MiB = 2 ** 20;

interface Latencies {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

function summarize(samples: number[]): Latencies {
  const sorted = Float64Array.from(samples).sort();
  return { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[sorted.length - 1] ?? 0 };
}

/** `concurrency` callers call `once` back to back for `seconds`; each call's latency in ms. */
async function closedLoop(seconds: number, concurrency: number, once: () => Promise<void>): Promise<Latencies> {
  const samples: number[] = [];
  const end = performance.now() + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const started = performance.now();
      await once();
      samples.push(performance.now() - started);
    }
  }));
  return summarize(samples);
}

function rssOf(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

/** What the service's memory was made of at the highest RSS seen at a scrape of its /metrics. */
let peakMemory: MemoryBreakdown | null = null;

/** Scrapes /metrics; returns the text and notes the memory breakdown (and the highest one). */
async function scrapeMetrics(metricsPort: number, pid: number): Promise<{ text: string; memory: MemoryBreakdown | null }> {
  const text = await httpGet(metricsPort, "/metrics");
  const memory = breakdown(pid, text);
  if (memory && (!peakMemory || memory.rss > peakMemory.rss)) peakMemory = memory;
  return { text, memory };
}

/** The service's largest event-loop delay since the previous scrape, in ms. */
async function eventLoopMaxMs(metricsPort: number, pid: number): Promise<number> {
  const { text } = await scrapeMetrics(metricsPort, pid);
  const line = /^jobscheduler_nodejs_eventloop_lag_max_seconds\s+(\S+)/m.exec(text);
  if (!line) throw new Error("/metrics has no jobscheduler_nodejs_eventloop_lag_max_seconds");
  return Number(line[1]) * 1000;
}

function runLoader(env: Record<string, string>): Promise<{ seconds: number; peakRssMiB: number; queued: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench/scale-load.ts")], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`scale-load exited with ${code}`));
      try {
        resolve(JSON.parse(out.trim().split("\n").pop()!));
      } catch (error) {
        reject(error);
      }
    });
  });
}

async function run(): Promise<BenchReport> {
  const report = emptyReport();
  const total = envNumber("SCALE_JOBS", 1_000_000);
  const seconds = envNumber("SCALE_SECONDS", 5);
  const concurrency = envNumber("SCALE_CONCURRENCY", 1);
  const pgUrl = process.env.DATABASE_URL;
  const keptDir = process.env.SCALE_DATA_DIR;
  if (keptDir) mkdirSync(keptDir, { recursive: true });
  const dataDir = keptDir ?? tempDir("jobscheduler-scale-");
  const schema = keptDir ? `scale_bench_kept_${total}` : `scale_bench_${process.pid}`;
  const storeEnv: Record<string, string> = pgUrl
    ? { SCALE_PG_URL: pgUrl, SCALE_PG_SCHEMA: schema }
    : { SCALE_SQLITE_PATH: join(dataDir, `scale-${total}.db`) };
  const store = pgUrl ? "postgres" : "sqlite";
  const sampleFile = join(dataDir, `scale-${store}-${total}.json`);
  let loaded: { seconds: number; peakRssMiB: number; queued: string[] };
  if (keptDir && existsSync(sampleFile)) {
    loaded = JSON.parse(readFileSync(sampleFile, "utf8"));
    console.log(`  ${store}: reusing the ${total} jobs loaded before (${sampleFile})`);
  } else {
    console.log(`  ${store}: loading ${total} jobs...`);
    loaded = await runLoader({ ...storeEnv, SCALE_JOBS: String(total) });
    if (keptDir) writeFileSync(sampleFile, JSON.stringify(loaded));
  }
  console.log(`  loaded in ${loaded.seconds.toFixed(0)} s (${(total / loaded.seconds).toFixed(0)}/s), loader peak RSS ${loaded.peakRssMiB.toFixed(0)} MiB`);
  report.rows.push({ label: `set-up: ${total} jobs (${store})`, figures: { "jobs/s": total / loaded.seconds, "peak RSS MiB": loaded.peakRssMiB } });

  const serviceUrl = pgUrl ? `${pgUrl}${pgUrl.includes("?") ? "&" : "?"}options=${encodeURIComponent(`-c search_path=${schema}`)}` : undefined;
  const service: ChildService = await spawnService(baseEnv(dataDir, {
    LOG_LEVEL: "info",
    MAX_RUNNING_JOBS: "50",
    ...(process.env.SCALE_NODE_OPTIONS ? { NODE_OPTIONS: process.env.SCALE_NODE_OPTIONS } : {}),
    ...(serviceUrl ? { DATABASE_URL: serviceUrl } : { SQLITE_PATH: storeEnv.SCALE_SQLITE_PATH }),
  }));
  const pid = service.process.pid!;
  let peakRss = 0;
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, rssOf(pid))), 250);
  const c = service.client;
  /** label, latencies, target (ms), the service's CPU per call (ms: all its threads, so a figure the machine's load hardly moves). */
  const rows: [string, Latencies, number, number | null][] = [];
  const cpuMs = () => (processCpuSeconds(pid) ?? NaN) * 1000;
  const check = (label: string, value: number, limit: number, unit = "ms") =>
    report.checks.push({ label: `${label} (${store})`, value, target: `<= ${limit} ${unit}`, met: value <= limit, format: "number" });
  const measureRow = async (label: string, target: number, once: () => Promise<void>, n = concurrency): Promise<Latencies> => {
    const cpuBefore = cpuMs();
    const latencies = await closedLoop(seconds, n, once);
    const cpuPerCall = (cpuMs() - cpuBefore) / latencies.count;
    rows.push([label, latencies, target, cpuPerCall]);
    console.log(`  ${label}: p50 ${latencies.p50.toFixed(2)} ms, p99 ${latencies.p99.toFixed(2)} ms, service CPU ${cpuPerCall.toFixed(2)} ms/call (${latencies.count} calls)`);
    await memoryLine();
    check(`${label} p99`, latencies.p99, target);
    return latencies;
  };
  const memoryLine = async () => {
    const { memory } = await scrapeMetrics(service.metricsPort, pid);
    if (memory) console.log(`    ${formatBreakdown(memory)}`);
  };
  const list = (request: Partial<ListJobsRequest>) => call<ListJobsRequest, ListJobsResponse>(c, c.listJobs, { ...emptyList, ...request });
  const emptyList: ListJobsRequest = { type: "", states: [], labelSelector: "", createdAfter: undefined, createdBefore: undefined, pageSize: 50, pageToken: "", scheduleId: "", reason: "", teamSlug: "" };
  const queued = loaded.queued;
  const randomQueued = () => queued[Math.floor(Math.random() * queued.length)];
  // (A sampled job the "runs active" phase of an earlier run started is no longer queued: still a GetJobStatus.)
  const getStatus = async () => void (await call<{ jobId: string }, Job>(c, c.getJobStatus, { jobId: randomQueued() }));
  const windowStart = () => new Date(Date.now() - Math.random() * 10 * DAY_MS);

  try {
    // Warm-up: statements compiled, caches made.
    await list({});
    await call(c, c.getDispatchingStatus, {});
    console.log("  after the warm-up:");
    await memoryLine();
    const idle: Record<string, Latencies> = {};
    idle.list = await measureRow("ListJobs, no filter", 20, async () => void (await list({})));
    await measureRow("ListJobs, type=timer", 20, async () => void (await list({ type: "timer" })));
    await measureRow("ListJobs, created in a 1 h window", 20, async () => {
      const after = windowStart();
      await list({ createdAfter: after, createdBefore: new Date(after.getTime() + 3_600_000) });
    });
    // The deep walk: one walker following page tokens; each page is a sample.
    const pages: number[] = [];
    const walkCpu = cpuMs();
    const walkEnd = performance.now() + seconds * 1000;
    while (performance.now() < walkEnd) {
      let token = "";
      for (let page = 0; page < 50; page++) {
        const started = performance.now();
        token = (await list({ pageToken: token })).nextPageToken;
        pages.push(performance.now() - started);
      }
    }
    const deep = summarize(pages);
    rows.push(["ListJobs, 50-page deep walk (per page)", deep, 20, (cpuMs() - walkCpu) / deep.count]);
    check("ListJobs, 50-page deep walk (per page) p99", deep.p99, 20);
    console.log(`  ListJobs, 50-page deep walk: p99 ${deep.p99.toFixed(2)} ms per page`);
    await memoryLine();
    await measureRow("ListJobs, states=[QUEUED]", 20, async () => void (await list({ states: [JobState.JOB_STATE_QUEUED] })));
    await measureRow("ListJobs, rare state (SUCCEEDED, 0.1%)", 20, async () => void (await list({ states: [JobState.JOB_STATE_SUCCEEDED] })));
    await measureRow("ListJobs, label selector matching nothing", 20, async () => void (await list({ labelSelector: "team=nobody" })));
    await measureRow("ListJobs, label team=t7 (0.2%)", 20, async () => void (await list({ labelSelector: "team=t7" })));
    idle.status = await measureRow("GetJobStatus, queued job", 5, getStatus);
    const position = await call<{ jobId: string }, Job>(c, c.getJobStatus, { jobId: queued[queued.length - 1] });
    report.notes.push(`a job deep in the queue shows position ${position.queue?.position} ("${position.queue?.waitingReason}"); positions are exact up to ${QUEUE_POSITION_BOUND}, ${QUEUE_POSITION_BOUND + 1} means further back`);
    await measureRow("GetDispatchingStatus", 10, async () => void (await call(c, c.getDispatchingStatus, {})));
    await measureRow("PauseDispatching (already paused)", 10, async () => void (await call(c, c.pauseDispatching, { reason: "scale benchmark" })));
    // Resume admits work: one run at a time while measuring it, each resume followed by a pause.
    await call(c, c.updateDispatchLimits, { limits: { maxRunning: 1, maxRunningPerType: {}, maxRunningPerKey: 1, maxRunningPerKeyOverrides: {} } });
    const resumes: number[] = [];
    const resumeCpu = cpuMs();
    const resumeEnd = performance.now() + seconds * 1000;
    while (performance.now() < resumeEnd) {
      const started = performance.now();
      await call(c, c.resumeDispatching, {});
      resumes.push(performance.now() - started);
      await call(c, c.pauseDispatching, { reason: "scale benchmark" });
    }
    const resume = summarize(resumes);
    rows.push(["ResumeDispatching (+ a pause each)", resume, 10, (cpuMs() - resumeCpu) / resume.count]);
    check("ResumeDispatching p99", resume.p99, 10);
    const scrapes: number[] = [];
    const scrapeCpu = cpuMs();
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      await httpGet(service.metricsPort, "/metrics");
      scrapes.push(performance.now() - started);
    }
    const scrape = summarize(scrapes);
    rows.push(["/metrics scrape", scrape, 100, (cpuMs() - scrapeCpu) / scrape.count]);
    check("/metrics scrape max", scrape.max, 100);

    // Mixed read/write load; the event loop's delay read every second. An idle node process
    // measures its own event loop meanwhile: what the machine's load alone does to any process.
    const control = spawn(process.execPath, ["-e", CONTROL_SOURCE], { stdio: ["pipe", "pipe", "inherit"] });
    let controlOut = "";
    control.stdout.on("data", (chunk: Buffer) => (controlOut += chunk.toString()));
    const controlDone = new Promise((resolve) => control.once("exit", resolve));
    await eventLoopMaxMs(service.metricsPort, pid);
    let loopMax = 0;
    let written = 0;
    const mixedEnd = performance.now() + 2 * seconds * 1000;
    const loop = (once: () => Promise<unknown>) => (async () => {
      while (performance.now() < mixedEnd) await once();
    })();
    const shapes: Partial<ListJobsRequest>[] = [{}, { states: [JobState.JOB_STATE_QUEUED] }, { labelSelector: "team=nobody" }, { type: "timer" }];
    let shape = 0;
    await Promise.all([
      loop(async () => {
        await call(c, c.scheduleJob, scaleTimer(`mixed-${written++}`));
      }),
      loop(async () => {
        await call(c, c.scheduleJob, scaleTimer(`mixed-${written++}`));
      }),
      loop(getStatus),
      loop(getStatus),
      loop(() => list(shapes[shape++ % shapes.length])),
      loop(() => call(c, c.getDispatchingStatus, {})),
      loop(async () => {
        await new Promise((r) => setTimeout(r, 1000));
        loopMax = Math.max(loopMax, await eventLoopMaxMs(service.metricsPort, pid));
      }),
    ]);
    loopMax = Math.max(loopMax, await eventLoopMaxMs(service.metricsPort, pid));
    console.log(`  mixed load: ${written} jobs written`);
    await memoryLine();
    control.stdin.end();
    await controlDone;
    const controlMax = Number(controlOut.trim() || NaN);
    report.rows.push({ label: `mixed load, ${2 * seconds} s (${written} jobs written)`, figures: { "event loop max ms": loopMax } });
    report.rows.push({ label: "  the same window, an idle node process", figures: { "event loop max ms": controlMax } });
    check("event loop delay max, mixed load", loopMax, 50);

    // 50 runs active.
    await call(c, c.updateDispatchLimits, { limits: { maxRunning: 50, maxRunningPerType: {}, maxRunningPerKey: 1, maxRunningPerKeyOverrides: {} } });
    await call(c, c.resumeDispatching, {});
    const deadline = Date.now() + 120_000;
    let running = 0;
    while (Date.now() < deadline && (running = (await call<object, { running: number }>(c, c.getDispatchingStatus, {})).running) < 50) {
      await new Promise((r) => setTimeout(r, 500));
    }
    console.log(`  ${running} runs active`);
    await memoryLine();
    await eventLoopMaxMs(service.metricsPort, pid);
    const busyStatus = await closedLoop(seconds, concurrency, getStatus);
    const busyList = await closedLoop(seconds, concurrency, async () => void (await list({})));
    // (CPU per call is not shown here: the runs' own start-up and exit handling is in it.)
    const busyLoop = await eventLoopMaxMs(service.metricsPort, pid);
    running = (await call<object, { running: number }>(c, c.getDispatchingStatus, {})).running;
    await call(c, c.pauseDispatching, { reason: "scale benchmark" });
    rows.push([`GetJobStatus, ${running} runs active`, busyStatus, 2 * idle.status.p99, null]);
    rows.push([`ListJobs no filter, ${running} runs active`, busyList, 2 * idle.list.p99, null]);
    check(`GetJobStatus p99 with ${running} runs active, vs 2x idle`, busyStatus.p99, Number((2 * idle.status.p99).toFixed(2)));
    check(`ListJobs p99 with ${running} runs active, vs 2x idle`, busyList.p99, Number((2 * idle.list.p99).toFixed(2)));
    report.rows.push({ label: `${running} runs active`, figures: { "event loop max ms": busyLoop } });
    check(`event loop delay max, ${running} runs active`, busyLoop, 50);
    if (running < 50) report.notes.push(`only ${running} runs were active (target 50): the machine was too slow to start them in time`);
  } finally {
    clearInterval(rssTimer);
    const after = rssOf(pid);
    peakRss = Math.max(peakRss, after);
    const mappings = Object.entries(anonymousMappings(pid)).map(([group, mib]) => `${group} ${mib.toFixed(1)}`);
    report.notes.push(`service's anonymous memory at the end, MiB: ${mappings.join(", ")}`);
    // Diagnosis: the mappings, then (with SCALE_NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2) a heap
    // snapshot, which collects first: the memory afterwards shows the live heap.
    if (process.env.SCALE_SMAPS_DIR) {
      writeFileSync(join(process.env.SCALE_SMAPS_DIR, `smaps-${pid}.txt`), readFileSync(`/proc/${pid}/smaps`, "utf8"));
      if (process.env.SCALE_NODE_OPTIONS?.includes("--heapsnapshot-signal=SIGUSR2")) {
        service.process.kill("SIGUSR2");
        await new Promise((r) => setTimeout(r, 20_000));
        const { memory } = await scrapeMetrics(service.metricsPort, pid);
        if (memory) report.notes.push(`after a heap snapshot (a full GC): ${formatBreakdown(memory)}`);
      }
    }
    report.rows.push({ label: "service RSS", figures: { "peak MiB": peakRss / MiB, "at end MiB": after / MiB } });
    if (peakMemory) {
      report.rows.push({ label: "service memory at the highest RSS a /metrics scrape saw", figures: breakdownFigures(peakMemory) });
      report.notes.push(`service memory at the highest RSS a scrape saw: ${formatBreakdown(peakMemory)}`);
    }
    check("service RSS peak", peakRss / MiB, 256, "MiB");
    check("loader RSS peak (the store's insert path)", loaded.peakRssMiB, 256, "MiB");
    c.close();
    service.process.kill("SIGTERM");
    await service.exited;
    if (!keptDir) {
      cleanup(dataDir);
      if (pgUrl) {
        const client = new pg.Client({ connectionString: pgUrl });
        await client.connect();
        await client.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
        await client.end();
      }
    }
  }
  for (const [label, latencies, target, cpu] of rows) {
    report.rows.push({
      label,
      figures: { calls: latencies.count, "p50 ms": latencies.p50, "p99 ms": latencies.p99, "max ms": latencies.max, "target ms": target, "service CPU ms/call": cpu },
    });
  }
  report.notes.push(`load average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")} (2 cores shared with other work)`);
  return report;
}

/** An idle node process: prints the largest delay of its event loop, in ms, when its stdin closes. */
const CONTROL_SOURCE = `
const h = require("node:perf_hooks").monitorEventLoopDelay({ resolution: 10 });
h.enable();
process.stdin.resume();
process.stdin.on("end", () => { h.disable(); console.log(h.max / 1e6); process.exit(0); });
`;

function scaleTimer(idempotencyKey: string): ScheduleJobRequest {
  return {
    ...ScheduleJobRequest.decode(new Uint8Array(0)),
    name: "scale-mixed",
    idempotencyKey,
    labels: { suite: "bench", team: "mixed" },
    priority: -1,
    spec: { $case: "timer", value: { timerName: "scale", duration: { seconds: 1, nanos: 0 }, completionCallbackUrl: "" } },
  };
}

const bench: BenchModule = { name, description, run };
export default bench;
