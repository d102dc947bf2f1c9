// Admission throughput: how fast the dispatcher admits jobs from a 10,000-job
// backlog with limits in force (global 64, one per concurrency key over 500 keys),
// on SQLite and on PostgreSQL, with a realistic history in the store: ten times the
// backlog in finished jobs (BENCH_ADMISSION_HISTORY), older, on the same keys, as a
// service that has run for a while holds. The runtime is a stand-in that ends each
// run at once, so the figure is the dispatcher and the store (admission decision,
// the STARTING / RUNNING / SUCCEEDED transactions), not process start-up.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import pino from "pino";
import { Dispatcher } from "../src/dispatch/dispatcher.js";
import { JobLifecycle } from "../src/dispatch/lifecycle.js";
import { LimitsStore } from "../src/dispatch/limits-store.js";
import { DEFAULT_RETRY_POLICY } from "../src/dispatch/retry.js";
import { builtinRegistry } from "../src/jobs/builtin.js";
import type { JobPlacement, JobRecord } from "../src/jobs/job.js";
import { JobEvents } from "../src/jobs/job-events.js";
import { newJobId } from "../src/jobs/ids.js";
import type { Recovery, Runtime, RuntimeListener } from "../src/runtime/runtime.js";
import { PostgresStore } from "../src/store/postgres/postgres-store.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import type { JobStore } from "../src/store/store.js";
import { emptyReport, type BenchModule, type BenchReport } from "./report.js";

const BACKLOG = Number(process.env.BENCH_ADMISSION_JOBS ?? 10_000);
const HISTORY = Number(process.env.BENCH_ADMISSION_HISTORY ?? BACKLOG * 10);
const FINISHED_STATES = ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
const KEYS = 500;
const LIMITS = { maxRunning: 64, maxRunningPerType: {}, maxRunningPerKey: 1, maxRunningPerKeyOverrides: {} };
const KUEUE_BASELINE = 15_000 / 351;
const PG_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** Ends every run as soon as it starts, successfully. */
class InstantRuntime implements Runtime {
  readonly name = "local" as const;
  private listener?: RuntimeListener;
  private active = 0;
  peak = 0;
  setListener(listener: RuntimeListener) {
    this.listener = listener;
  }
  async launch(job: JobRecord): Promise<JobPlacement> {
    const placement: JobPlacement = { runtime: "local", location: "bench" };
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    setImmediate(async () => {
      await this.listener!.running(job, placement, Date.now());
      const result = JSON.stringify({ timerName: "bench", durationMs: 1, elapsedMs: 1, completed: true });
      await this.listener!.finished(job, { kind: "exited", exitCode: 0, output: { rawResult: result, outputTail: "" } }, Date.now());
      this.active--;
    });
    return placement;
  }
  async cancel() {
    return false;
  }
  async recover(): Promise<Map<string, Recovery>> {
    return new Map();
  }
  activeRuns() {
    return this.active;
  }
  async shutdown() {}
}

function backlogJob(i: number, now: number): JobRecord {
  return {
    id: newJobId(now), name: "bench", type: "timer", state: "QUEUED", reason: "", message: "", attempt: 1, maxAttempts: 1,
    priority: i % 3, concurrencyKey: `target-${i % KEYS}`, exclusiveGroup: null, runAt: now, queueDeadline: null,
    retryPolicy: DEFAULT_RETRY_POLICY, attempts: [], scheduleId: null, retryOf: null, team: null, criteriaType: null,
    idempotencyKey: null, requestHash: "bench", labels: {}, timeoutMs: 60_000,
    resources: { cpuRequest: "50m", cpuLimit: "200m", memoryRequest: "64Mi", memoryLimit: "128Mi" },
    params: { durationMs: 1, timerName: "bench" }, result: null, placement: null, outputTail: "", cancelRequested: false,
    sequence: 1, createdAt: now + i, updatedAt: now, startedAt: null, finishedAt: null,
  };
}

/** A job that ran and ended before the backlog was queued (minutes to days ago). */
function finishedJob(i: number, now: number): JobRecord {
  const created = now - HISTORY * 5_000 + i * 5_000;
  const state = FINISHED_STATES[i % FINISHED_STATES.length];
  return {
    ...backlogJob(i, created),
    state,
    reason: state === "FAILED" ? "EXIT_CODE" : state === "CANCELLED" ? "CANCELLED_BY_USER" : "",
    sequence: 4,
    runAt: created,
    createdAt: created,
    updatedAt: created + 2_000,
    startedAt: created + 100,
    finishedAt: created + 2_000,
    result: state === "SUCCEEDED" ? { timerName: "bench", durationMs: 1, elapsedMs: 1, completed: true } : null,
    placement: { runtime: "local", location: "bench" },
  };
}

/** Stores the jobs, `parallel` inserts in flight at a time. */
async function insertAll(store: JobStore, count: number, make: (i: number) => JobRecord, parallel: number): Promise<void> {
  for (let from = 0; from < count; from += parallel) {
    await Promise.all(Array.from({ length: Math.min(parallel, count - from) }, (_, k) => store.createJob(make(from + k))));
  }
}

async function measure(store: JobStore): Promise<{ seconds: number; perSecond: number; peak: number; keyViolations: number; historySeconds: number }> {
  await store.migrate();
  const now = Date.now();
  const historyStarted = performance.now();
  await insertAll(store, HISTORY, (i) => finishedJob(i, now), 200);
  const historySeconds = (performance.now() - historyStarted) / 1000;
  for (let i = 0; i < BACKLOG; i++) await store.createJob(backlogJob(i, now));
  const logger = pino({ level: "silent" });
  const runtime = new InstantRuntime();
  const events = new JobEvents();
  const registry = builtinRegistry();
  const lifecycle = new JobLifecycle(store, registry, runtime, events, logger);
  const dispatcher = new Dispatcher(store, registry, runtime, lifecycle, new LimitsStore(store, LIMITS), { pollIntervalMs: 1000 }, logger);
  let done = 0;
  let keyViolations = 0;
  const runningPerKey = new Map<string, number>();
  const finished = new Promise<void>((resolve) => {
    events.subscribeAll(({ job }) => {
      const key = job.concurrencyKey!;
      if (job.state === "STARTING") {
        runningPerKey.set(key, (runningPerKey.get(key) ?? 0) + 1);
        if (runningPerKey.get(key)! > 1) keyViolations++;
      }
      if (job.state === "SUCCEEDED") {
        runningPerKey.set(key, runningPerKey.get(key)! - 1);
        dispatcher.wake();
        if (++done === BACKLOG) resolve();
      }
    });
  });
  const started = performance.now();
  await dispatcher.start();
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await dispatcher.stop();
  return { seconds, perSecond: BACKLOG / seconds, peak: runtime.peak, keyViolations, historySeconds };
}

const admission: BenchModule = {
  name: "admission",
  description: `admissions per second from a ${BACKLOG}-job backlog over ${HISTORY} finished jobs, limits in force, SQLite and PostgreSQL`,
  async run(): Promise<BenchReport> {
    const report = emptyReport();
    const dir = mkdtempSync(join(tmpdir(), "bench-admission-"));
    const schema = `bench_admission_${process.pid}`;
    const stores: [string, () => JobStore][] = [
      ["SQLite", () => new SqliteStore(join(dir, "bench.db"))],
      ["PostgreSQL", () => new PostgresStore(PG_URL, { schema })],
    ];
    try {
      for (const [label, open] of stores) {
        const store = open();
        try {
          const { seconds, perSecond, peak, keyViolations, historySeconds } = await measure(store);
          report.rows.push({ label, figures: { jobs: BACKLOG, "finished before": HISTORY, "seconds": seconds, "admitted/s": perSecond, "peak running": peak, "x Kueue": perSecond / KUEUE_BASELINE } });
          report.notes.push(`${label}: the ${HISTORY} finished jobs took ${historySeconds.toFixed(1)} s to store (not measured)`);
          report.checks.push({ label: `${label} admissions/s (Kueue's baseline ~43/s; the issue: aim far above)`, value: perSecond, target: "> 43", met: perSecond > KUEUE_BASELINE, format: "number" });
          if (peak > LIMITS.maxRunning) report.errors.push(`${label}: ${peak} runs at once, above the limit of ${LIMITS.maxRunning}`);
          if (keyViolations) report.errors.push(`${label}: a concurrency key ran ${keyViolations} extra jobs at once`);
        } finally {
          await store.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      const client = new pg.Client(PG_URL);
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
    report.notes.push(
      "Each admitted job is written three times (STARTING, RUNNING, SUCCEEDED) by the real lifecycle; the runtime ends runs at once.",
      `The store held ${HISTORY} finished jobs (SUCCEEDED, FAILED, CANCELLED on the same ${KEYS} keys) before the ${BACKLOG} queued ones: admission must not cost more with the history a service gathers.`,
      `Kueue's published scheduler baseline: 15,000 workloads in ~351 s = ${KUEUE_BASELINE.toFixed(1)} admissions/s.`,
    );
    return report;
  },
};

export default admission;
