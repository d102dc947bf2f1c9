// gRPC API throughput and latency: GetJobStatus and ScheduleJob of the real
// service (`node dist/main.js`, SQLite in WAL mode, dispatching paused) against a
// bare grpc-js echo server, both measured the same way by bench/load.ts. Beside
// the cached case (a few jobs, all in the SQLite job cache), GetJobStatus is also
// measured over a store larger than the cache (BENCH_MISS_JOBS ids read at random,
// most of them misses) and with dispatching running (the backlog of 1 s timers
// started MAX_RUNNING_JOBS at a time: their processes, transitions and store writes
// share the machine with the calls).
//
// Knobs (env): BENCH_SECONDS (measured window, 8), BENCH_WARMUP_SECONDS (2),
// BENCH_CONCURRENCY (32), BENCH_JOBS (jobs stored before GetJobStatus, 1000),
// BENCH_MISS_JOBS (jobs in the store for the cache-miss case, 20000; the cache holds 5000),
// BENCH_PAIRS (back-to-back echo/GetJobStatus window pairs, 3; the ratio is their median),
// BENCH_LOG_LEVEL (the service's LOG_LEVEL, warn), BENCH_CLIENT (grpc-js | http2,
// see bench/load.ts), BENCH_QUIET_WAIT (seconds to wait for a quiet machine before
// each measurement, 30; 0 = don't), BENCH_SERVICE_NODE_ARGS /
// BENCH_ECHO_NODE_ARGS (extra node flags for the children, e.g. "--cpu-prof
// --cpu-prof-dir=/tmp/prof"), BENCH_KEEP_DATA=1 (keep the service's DATA_DIR),
// plus the pinning knobs in bench/procs.ts.
import { statSync } from "node:fs";
import { join } from "node:path";
import type { ServiceError } from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import {
  GetJobStatusRequest, Job, JobSchedulerClient, JobSchedulerService, ScheduleJobRequest, type DispatchingStatus, type ScheduleJobResponse,
} from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { TEST_ADMIN_KEY } from "../test/support/auth.js";
import { baseEnv, cleanup, ROOT, SERVICE_NODE_FLAGS, tempDir, testClient } from "../test/support/service.js";
import { runLoad, type LoadOptions, type LoadResult, type UnaryTarget } from "./load.js";
import {
  envArgs, envNumber, freePort, pinLoadGenerator, planPinning, ServerProcess, spawnServerProcess, waitForQuiet,
} from "./procs.js";
import { emptyReport, type BenchModule, type BenchReport, type BenchRow } from "./report.js";

export const name = "grpc-api";
export const description = "GetJobStatus and ScheduleJob at C concurrent clients vs a bare grpc-js echo server";

const TARGETS = { getJobStatus: 0.8, scheduleJob: 0.4 };
/** Rows the SQLite job cache keeps (src/store/sqlite/job-cache.ts, docs/architecture.md). */
const JOB_CACHE_ROWS = 5000;
/** Other processes using more than this (% of one core) during a window make its figures suspect. */
const DISTURBED_PCT = 15;

/** Every field at its default, whatever fields the API has gained since this was written. */
const EMPTY_SCHEDULE_REQUEST: ScheduleJobRequest = ScheduleJobRequest.decode(new Uint8Array(0));

/** The ScheduleJob request every benchmark call sends (a 1 s timer), differing only in its key. */
function timerRequest(idempotencyKey: string): ScheduleJobRequest {
  return {
    ...EMPTY_SCHEDULE_REQUEST,
    name: "bench-timer",
    idempotencyKey,
    labels: { suite: "bench" },
    spec: { $case: "timer", value: { timerName: "bench", duration: { seconds: 1, nanos: 0 }, completionCallbackUrl: "" } },
  };
}

const methods = JobSchedulerService;

/** Promise form of one generated-client call: `await rpc<Job>((cb) => client.getJobStatus({ jobId }, cb))`. */
export function rpc<Res>(invoke: (callback: (error: ServiceError | null, response: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke((error, response) => (error ? reject(error) : resolve(response)));
  });
}

export function getJobStatusTarget(address: string, ids: string[]): UnaryTarget<Buffer, Job> {
  // Requests are encoded up front (the same for echo and service), so the load
  // generator spends its time on the calls, not on building them.
  const encoded = ids.map((jobId) => Buffer.from(GetJobStatusRequest.encode({ jobId }).finish()));
  return {
    address,
    path: methods.getJobStatus.path,
    serialize: (bytes) => bytes,
    deserialize: methods.getJobStatus.responseDeserialize,
    request: () => encoded[Math.floor(Math.random() * encoded.length)],
    headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
  };
}

export function scheduleJobTarget(address: string, runTag: string): UnaryTarget<ScheduleJobRequest, ScheduleJobResponse> {
  // A key never used before in this run (also across repeated measurements), so every call stores a new job.
  let next = 0;
  return {
    address,
    path: methods.scheduleJob.path,
    serialize: methods.scheduleJob.requestSerialize,
    deserialize: (bytes) => {
      const response = methods.scheduleJob.responseDeserialize(bytes);
      if (!response.created) throw new Error("ScheduleJob returned an existing job (created=false) for a new idempotency key");
      return response;
    },
    request: () => timerRequest(`bench-${runTag}-${next++}`),
    headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
  };
}

/**
 * Waits for a quiet machine (BENCH_QUIET_WAIT seconds at most, 0 = don't), then
 * measures; a window disturbed by other processes is measured again, up to
 * BENCH_RETRIES (2) more times, and the least disturbed attempt is kept.
 * `totalOk` counts successful calls over every attempt (ScheduleJob's stored jobs).
 */
export async function measure<Req, Res>(label: string, target: UnaryTarget<Req, Res>, options: LoadOptions): Promise<LoadResult & { attempts: number }> {
  const maxWait = Number(process.env.BENCH_QUIET_WAIT ?? 30);
  const retries = Number(process.env.BENCH_RETRIES ?? 2);
  let best: LoadResult | undefined;
  let totalOk = 0;
  let attempts = 0;
  for (;;) {
    attempts++;
    if (maxWait > 0) {
      const waited = await waitForQuiet(maxWait);
      if (waited === null) console.log(`  ${label}: the machine stayed busy for ${maxWait} s; measuring anyway`);
      else if (waited > 1) console.log(`  ${label}: waited ${waited.toFixed(0)} s for other processes to quieten`);
    }
    const result = await runLoad(target, options);
    progress(attempts > 1 ? `${label} (attempt ${attempts})` : label, result);
    totalOk += result.totalOk;
    if (!best || (result.otherCpuPct ?? 0) < (best.otherCpuPct ?? 0)) best = result;
    if ((best.otherCpuPct ?? 0) <= DISTURBED_PCT || attempts > retries) break;
    console.log(`  ${label}: disturbed by other processes; measuring again`);
  }
  return { ...best, totalOk, attempts };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The run with the median throughput (the lower middle one for an even count). */
function medianRun(runs: LoadResult[]): LoadResult {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps);
  return sorted[(sorted.length - 1) >> 1];
}

function row(label: string, result: LoadResult, baseline?: LoadResult): BenchRow {
  return {
    label,
    figures: {
      "req/s": result.rps,
      "vs echo %": baseline ? (result.rps / baseline.rps) * 100 : null,
      "p50 ms": result.p50Ms,
      "p99 ms": result.p99Ms,
      "max ms": result.maxMs,
      errors: result.errors + result.errorsOutsideWindow,
      "server CPU %": result.serverCpuPct,
      "server us/call": result.serverCpuUsPerCall,
      "client CPU %": result.clientCpuPct,
      "other CPU %": result.otherCpuPct,
    },
  };
}

function progress(label: string, result: LoadResult): void {
  const cpu = result.serverCpuPct === null ? "" : `, server CPU ${result.serverCpuPct.toFixed(0)}%`;
  const other = result.otherCpuPct === null ? "" : `, other processes ${result.otherCpuPct.toFixed(0)}%`;
  console.log(
    `  ${label}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50Ms.toFixed(3)} ms, p99 ${result.p99Ms.toFixed(3)} ms` +
      `${cpu}, client CPU ${result.clientCpuPct.toFixed(0)}%${other} (${result.completed} calls in ${result.windowSeconds.toFixed(2)} s)`,
  );
  if (result.otherCpuPct !== null && result.otherCpuPct > DISTURBED_PCT) {
    console.log(`  !!!!! ${label}: other processes used ${result.otherCpuPct.toFixed(0)}% of a core during the window: this figure is disturbed`);
  }
  const failed = result.errors + result.errorsOutsideWindow;
  if (failed > 0) {
    console.log(`  !!!!! ${label}: ${failed} FAILED CALLS (${result.errors} inside the window): ${result.errorSamples.join("; ")}`);
  }
}

function checkErrors(label: string, result: LoadResult, report: BenchReport): void {
  const failed = result.errors + result.errorsOutsideWindow;
  if (failed > 0) report.errors.push(`${label}: ${failed} calls failed (${result.errors} inside the window): ${result.errorSamples.join("; ")}`);
  if (result.completed === 0) report.errors.push(`${label}: no call completed inside the window`);
}

async function startEcho(sample: Job): Promise<{ server: ServerProcess; address: string; bytes: number }> {
  const child = spawnServerProcess(process.execPath, [...envArgs("BENCH_ECHO_NODE_ARGS"), "--import", "tsx", join(ROOT, "bench/echo-server.ts")], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ECHO_JOB_B64: Buffer.from(Job.encode(sample).finish()).toString("base64") },
  });
  const server = new ServerProcess("echo server", child);
  const ready = await server.waitForLine((line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; port?: number; bytes?: number };
      return entry.msg === "echo ready" ? entry : undefined;
    } catch {
      return undefined;
    }
  });
  return { server, address: `127.0.0.1:${ready.port}`, bytes: ready.bytes ?? 0 };
}

/**
 * Starts `node dist/main.js` on the server CPU. (test/support/service.ts's
 * spawnService waits for the "jobscheduler ready" line, which is logged at info
 * and so never appears with LOG_LEVEL=warn; here the gRPC port is chosen up
 * front and readiness is an answered GetDispatchingStatus.)
 */
export async function startService(dataDir: string, logLevel: string, extra: Record<string, string> = {}): Promise<{ server: ServerProcess; address: string; client: JobSchedulerClient }> {
  const grpcPort = await freePort();
  const env = { PATH: process.env.PATH ?? "", ...baseEnv(dataDir, { LOG_LEVEL: logLevel, GRPC_PORT: String(grpcPort), DISPATCH_POLL_INTERVAL: "1s", ...extra }) };
  const child = spawnServerProcess(process.execPath, [...SERVICE_NODE_FLAGS, ...envArgs("BENCH_SERVICE_NODE_ARGS"), join(ROOT, "dist/main.js")], { cwd: ROOT, env });
  const server = new ServerProcess("service", child);
  const address = `127.0.0.1:${grpcPort}`;
  const client = testClient(address);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!server.running) throw new Error(`service exited (${await server.exited}) before it was ready:\n${server.tail()}`);
    try {
      await rpc((cb) => client.getDispatchingStatus({}, cb));
      return { server, address, client };
    } catch (error) {
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`service did not answer within 30 s (${(error as Error).message}):\n${server.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Stores `count` timer jobs, 32 at a time, and returns their ids. */
export async function prepopulate(client: JobSchedulerClient, count: number, runTag: string): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const response = await rpc<ScheduleJobResponse>((cb) => client.scheduleJob(timerRequest(`prep-${runTag}-${i}`), cb));
      if (!response.created || !response.job) throw new Error(`prepopulate: job ${i} was not created`);
      ids.push(response.job.id);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return ids;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export async function run(): Promise<BenchReport> {
  const report = emptyReport();
  const clientKind = process.env.BENCH_CLIENT ?? "http2";
  if (clientKind !== "http2" && clientKind !== "grpc-js") throw new Error(`BENCH_CLIENT must be http2 or grpc-js (got "${clientKind}")`);
  const load: LoadOptions = {
    client: clientKind,
    concurrency: envNumber("BENCH_CONCURRENCY", 32),
    warmupMs: envNumber("BENCH_WARMUP_SECONDS", 2) * 1000,
    windowMs: envNumber("BENCH_SECONDS", 8) * 1000,
  };
  const jobCount = envNumber("BENCH_JOBS", 1000);
  const logLevel = process.env.BENCH_LOG_LEVEL ?? "warn";
  const runTag = `${process.pid}-${Date.now().toString(36)}`;
  const pinning = planPinning();
  const unpin = pinLoadGenerator(pinning);
  console.log(
    `  ${load.concurrency} ${clientKind} clients (one connection each), ${load.warmupMs / 1000} s warm-up + ${load.windowMs / 1000} s window; ${pinning.description}`,
  );

  const dataDir = tempDir("jobscheduler-bench-");
  try {
    // 1. Set-up: pause dispatching (persisted), store the jobs GetJobStatus will
    //    read, and keep one real GetJobStatus response for the echo server to send.
    let ids: string[];
    let sample: Job;
    {
      const service = await startService(dataDir, logLevel);
      try {
        const { client } = service;
        const paused = await rpc<DispatchingStatus>((cb) => client.pauseDispatching({ reason: "benchmark" }, cb));
        if (!paused.paused) throw new Error("PauseDispatching did not pause dispatching");
        ids = await prepopulate(client, jobCount, runTag);
        sample = await rpc<Job>((cb) => client.getJobStatus({ jobId: ids[0] }, cb));
        client.close();
      } finally {
        await stopService(service.server, report, "set-up");
      }
    }
    const sampleBytes = Job.encode(sample).finish().length;
    console.log(`  set-up: ${ids.length} timer jobs stored with dispatching paused; a GetJobStatus response is ${sampleBytes} bytes`);

    // 2. The baseline (same method path, codecs, request ids and response bytes) and
    //    the service again on the same store (dispatching still paused), both running
    //    at once so their windows can alternate: echo, service, service, echo, ...
    //    The machine's speed drifts by tens of percent over a minute, so one window
    //    each compares two different machines; pairs taken back to back, in both
    //    orders, and their median ratio compare the code.
    const pairs = envNumber("BENCH_PAIRS", 3);
    const echoRuns: LoadResult[] = [];
    const getRuns: LoadResult[] = [];
    let scheduleResult: LoadResult;
    let missResult: LoadResult & { attempts: number };
    let dispatchResult: LoadResult & { attempts: number };
    let missNote = "";
    let dispatchNote = "";
    const echo = await startEcho(sample);
    const service = await startService(dataDir, logLevel);
    try {
      const { client } = service;
      const before = await rpc<DispatchingStatus>((cb) => client.getDispatchingStatus({}, cb));
      if (!before.paused) throw new Error("dispatching is not paused after the restart (the pause should be persisted)");
      if (before.queued !== jobCount) throw new Error(`${before.queued} jobs queued after the restart, expected ${jobCount}`);

      // Ids of the same form and length as the stored ones (UUID text), not the same ids.
      const fakeIds = ids.map(() => randomUUID());
      const echoTarget = getJobStatusTarget(echo.address, fakeIds);
      const getTarget = getJobStatusTarget(service.address, ids);
      for (let pair = 1; pair <= pairs; pair++) {
        const window = (label: string, target: typeof echoTarget, pid: number, runs: LoadResult[]) => async () => {
          const result = await measure(`${label} ${pair}/${pairs}`, target, { ...load, serverPid: pid });
          checkErrors(label, result, report);
          runs.push(result);
        };
        const echoWindow = window("echo", echoTarget, echo.server.pid, echoRuns);
        const getWindow = window("GetJobStatus", getTarget, service.server.pid, getRuns);
        for (const measureWindow of pair % 2 === 1 ? [echoWindow, getWindow] : [getWindow, echoWindow]) await measureWindow();
      }
      await echo.server.stop();

      scheduleResult = await measure("ScheduleJob", scheduleJobTarget(service.address, runTag), { ...load, serverPid: service.server.pid });
      checkErrors("ScheduleJob", scheduleResult, report);

      // Every ScheduleJob that succeeded must have stored one queued job, and none may have started.
      const after = await rpc<DispatchingStatus>((cb) => client.getDispatchingStatus({}, cb));
      const expectedQueued = jobCount + scheduleResult.totalOk;
      if (!after.paused) report.errors.push("dispatching was no longer paused after the run");
      if (after.running !== 0) report.errors.push(`${after.running} jobs were started although dispatching was paused`);
      if (after.queued !== expectedQueued) report.errors.push(`${after.queued} jobs queued after the run, expected ${expectedQueued}`);

      // 3. GetJobStatus over more jobs than the job cache holds, read at random: most reads miss
      //    it and go to SQLite (and build the Job message afresh).
      const missJobs = envNumber("BENCH_MISS_JOBS", 20_000);
      const extra = await prepopulate(client, Math.max(0, missJobs - ids.length), `${runTag}-miss`);
      const spread = [...ids, ...extra];
      missResult = await measure(`GetJobStatus over ${spread.length} jobs`, getJobStatusTarget(service.address, spread), { ...load, serverPid: service.server.pid });
      checkErrors("GetJobStatus (cache misses)", missResult, report);
      missNote = `GetJobStatus over ${spread.length} jobs read at random with a job cache of ${JOB_CACHE_ROWS} rows: about ${((1 - JOB_CACHE_ROWS / spread.length) * 100).toFixed(0)}% of the reads miss it`;

      // 4. GetJobStatus of the cached jobs while the dispatcher starts the backlog (1 s timers,
      //    MAX_RUNNING_JOBS at a time, each a child process): the service's other work competes.
      await rpc<DispatchingStatus>((cb) => client.resumeDispatching({}, cb));
      const startedBefore = (await rpc<DispatchingStatus>((cb) => client.getDispatchingStatus({}, cb))).queued;
      dispatchResult = await measure("GetJobStatus, dispatching", getJobStatusTarget(service.address, ids), { ...load, serverPid: service.server.pid });
      checkErrors("GetJobStatus (dispatching)", dispatchResult, report);
      const during = await rpc<DispatchingStatus>((cb) => client.getDispatchingStatus({}, cb));
      await rpc<DispatchingStatus>((cb) => client.pauseDispatching({ reason: "benchmark" }, cb));
      if (during.running === 0) report.errors.push("no job was running at the end of the dispatching window: the case did not dispatch");
      dispatchNote =
        `GetJobStatus while dispatching: ${during.running} of at most ${during.maxRunning} runs in flight at the end of the window, ` +
        `${startedBefore - during.queued} jobs left the queue during the ${dispatchResult.attempts} attempt(s); ` +
        "the runs are node child processes on the same cores (server CPU % counts the service only)";
      client.close();
      report.notes.push(
        `store after the run: ${after.queued} queued jobs; SQLite file ${(fileSize(join(dataDir, "jobscheduler.db")) / 1e6).toFixed(1)} MB` +
          `, WAL ${(fileSize(join(dataDir, "jobscheduler.db-wal")) / 1e6).toFixed(1)} MB`,
      );
    } finally {
      if (echo.server.running) await echo.server.stop();
      await stopService(service.server, report, "measured");
    }

    const echoResult = medianRun(echoRuns);
    const getResult = medianRun(getRuns);
    const pairRatios = getRuns.map((get, i) => get.rps / echoRuns[i].rps);
    report.rows.push(
      ...echoRuns.map((r, i) => row(`echo, pair ${i + 1}`, r)),
      ...getRuns.map((r, i) => row(`GetJobStatus, pair ${i + 1}`, r, echoRuns[i])),
      row(`echo (median of ${echoRuns.length})`, echoResult),
      row(`GetJobStatus (median of ${getRuns.length})`, getResult, echoResult),
      row("ScheduleJob (dispatch paused)", scheduleResult, echoResult),
      row("GetJobStatus, store > job cache (misses)", missResult, echoResult),
      row("GetJobStatus, dispatching running", dispatchResult, echoResult),
    );
    report.notes.push(missNote, dispatchNote);
    const getRatio = median(pairRatios);
    const scheduleRatio = scheduleResult.rps / echoResult.rps;
    const disturbed = (...results: LoadResult[]) =>
      results.some((r) => (r.otherCpuPct ?? 0) > DISTURBED_PCT) ? "DISTURBED by other processes, not reliable" : undefined;
    report.checks.push(
      {
        label: `GetJobStatus throughput / echo (median of ${pairRatios.length} back-to-back pairs: ${pairRatios.map((r) => `${(r * 100).toFixed(1)}%`).join(", ")})`,
        value: getRatio, target: `>= ${TARGETS.getJobStatus * 100}%`,
        met: getRatio >= TARGETS.getJobStatus, note: disturbed(...echoRuns, ...getRuns),
      },
      {
        label: "ScheduleJob throughput / echo", value: scheduleRatio, target: `>= ${TARGETS.scheduleJob * 100}%`,
        met: scheduleRatio >= TARGETS.scheduleJob, note: disturbed(echoResult, scheduleResult),
      },
    );
    const cost = (r: LoadResult) => r.serverCpuUsPerCall;
    const echoCost = cost(echoResult);
    if (echoCost !== null) {
      for (const [label, result, target] of [["GetJobStatus", getResult, TARGETS.getJobStatus], ["ScheduleJob", scheduleResult, TARGETS.scheduleJob]] as const) {
        const own = cost(result);
        if (own === null) continue;
        report.notes.push(
          `${label} server CPU per call: ${own.toFixed(0)} us vs ${echoCost.toFixed(0)} us for echo -> one saturated server core would give ` +
            `${((echoCost / own) * 100).toFixed(0)}% of echo's throughput (target ${target * 100}%)`,
        );
      }
    }
    report.notes.push(
      `${load.concurrency} ${clientKind} clients, each its own connection, 1 call in flight each; ${load.warmupMs / 1000} s warm-up, ` +
        `${getResult.windowSeconds.toFixed(1)} s window; ${pinning.description}; node ${process.version}`,
      `service: node dist/main.js, LOG_LEVEL=${logLevel}, SQLite WAL synchronous=NORMAL, dispatching paused, ${jobCount} jobs stored before GetJobStatus`,
      `GetJobStatus response: ${sampleBytes} bytes from the service, ${echo.bytes} bytes from echo (same path and codecs)`,
    );
    for (const [label, result] of [
      ["echo", echoResult], ["GetJobStatus", getResult], ["ScheduleJob", scheduleResult], ["GetJobStatus (misses)", missResult], ["GetJobStatus (dispatching)", dispatchResult],
    ] as const) {
      if (result.otherCpuPct !== null && result.otherCpuPct > DISTURBED_PCT) {
        report.notes.push(`${label}: DISTURBED - other processes used ${result.otherCpuPct.toFixed(0)}% of a core during the window; rerun on a quiet machine`);
      }
    }
    for (const [label, result] of [["echo", echoResult], ["GetJobStatus", getResult]] as const) {
      if (result.serverCpuPct !== null && result.serverCpuPct < 90 && result.clientCpuPct > 85) {
        report.notes.push(
          `${label}: the server was not saturated (${result.serverCpuPct.toFixed(0)}% CPU) while the load generator was ` +
            `(${result.clientCpuPct.toFixed(0)}%): that throughput is partly bounded by the load generator`,
        );
      }
    }
  } finally {
    unpin();
    if (process.env.BENCH_KEEP_DATA === "1") report.notes.push(`service data kept in ${dataDir}`);
    else cleanup(dataDir);
  }
  return report;
}

export async function stopService(server: ServerProcess, report: BenchReport, phase: string): Promise<void> {
  const code = await server.stop();
  if (code !== 0) report.errors.push(`service (${phase}) exited with ${code} on SIGTERM:\n${server.tail()}`);
  const warnings = server.logs.filter((l) => /"level":"(warn|error|fatal)"/.test(l));
  if (warnings.length) report.notes.push(`service (${phase}) logged ${warnings.length} warnings/errors, e.g. ${warnings[0].slice(0, 240)}`);
}

const module: BenchModule = { name, description, run };
export default module;
