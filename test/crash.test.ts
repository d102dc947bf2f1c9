// Crash consistency: the real service as a child process, a client submitting a stream of timer
// jobs with idempotency keys and completion callbacks, `kill -9` at random moments (of the service
// alone, or of the service and its runs as a dying container does; some during
// start-up, i.e. during recovery), unanswered requests resubmitted with the same key, then:
// every acknowledged job exactly once, none stuck, no attempt's workload started twice, one
// callback per succeeded job (by Idempotency-Key), and an intact SQLite file.
// CRASH_TRIALS (default 10, split between the stores) and CRASH_SEED (default 1) for longer runs.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobState, ListJobsRequest, ScheduleJobRequest, type Job } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { POSTGRES_URL, withPostgres } from "./support/postgres.js";
import { seededRandom } from "./support/rng.js";
import { startHttpTarget } from "./support/http-target.js";
import { baseEnv, call, cleanup, ROOT, spawnService, tempDir, waitFor, type ChildService } from "./support/service.js";

// 10 by default: on a 2-core machine shared with other builds a trial takes ~10 s (2-3 service starts).
const TRIALS = Number(process.env.CRASH_TRIALS ?? 10);
const SEED = Number(process.env.CRASH_SEED ?? 1);
/** Submissions stop here, so a slow machine still drains the queue well within the wait for it. */
const MAX_JOBS_PER_TRIAL = 60;
const CRASH_COLLECTORS = join(ROOT, "test/support/crash-collectors");
const TERMINAL = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

interface Tally {
  trials: number;
  acknowledged: number;
  lost: number;
  duplicated: number;
  doubleRuns: number;
  stuck: number;
  callbacksMissing: number;
  callbacksWrong: number;
  callbackRepeats: number;
  interrupted: number;
  /** Jobs not SUCCEEDED whose stored result says the work completed. */
  completedButFailed: number;
  integrityErrors: number;
}


const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let receiver: Awaited<ReturnType<typeof startHttpTarget>>;
const tallies = new Map<string, Tally>();

beforeAll(async () => {
  receiver = await startHttpTarget();
});

afterAll(async () => {
  await receiver?.close();
  const rows = [...tallies.entries()].map(([store, t]) =>
    `| ${store} | ${t.trials} | ${t.acknowledged} | ${t.lost} | ${t.duplicated} | ${t.doubleRuns} | ${t.stuck} | ${t.callbacksMissing + t.callbacksWrong} | ${t.callbackRepeats} | ${t.interrupted} | ${t.completedButFailed} | ${t.integrityErrors} |`);
  console.log([
    `crash trials (CRASH_SEED=${SEED})`,
    "| store | trials | acknowledged | lost | duplicated | double runs | stuck | callbacks missing/wrong | callback repeats (same key) | interrupted | completed but failed | integrity errors |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n"));
});

class Trial {
  readonly dataDir = tempDir("jobscheduler-crash-");
  readonly requests = new Map<string, ScheduleJobRequest>();
  readonly acknowledged = new Map<string, string>();
  readonly unanswered = new Set<string>();
  private service?: ChildService;
  private readonly services: ChildService[] = [];

  constructor(readonly store: string, readonly index: number, readonly rng: () => number, readonly databaseUrl?: string) {}

  env(): Record<string, string> {
    return baseEnv(this.dataDir, {
      COLLECTORS_DIR: CRASH_COLLECTORS,
      CRASH_STARTS_FILE: join(this.dataDir, "starts"),
      LOCAL_PASS_ENV: "PATH,CRASH_STARTS_FILE",
      LOG_LEVEL: "info",
      MAX_RUNNING_JOBS: "16",
      DISPATCH_POLL_INTERVAL: "100ms",
      SHUTDOWN_TIMEOUT: "500ms",
      KILL_GRACE_PERIOD: "500ms",
      ...(this.databaseUrl ? { DATABASE_URL: this.databaseUrl } : {}),
    });
  }

  request(key: string): ScheduleJobRequest {
    let request = this.requests.get(key);
    if (!request) {
      const ms = 20 + Math.floor(this.rng() * 700);
      request = ScheduleJobRequest.fromPartial({
        name: key, idempotencyKey: key, labels: { crash: `t${this.index}` }, retryPolicy: { maxAttempts: 2 },
        spec: { $case: "timer", value: { duration: { seconds: 0, nanos: ms * 1e6 }, timerName: key, completionCallbackUrl: `${receiver.url}/done` } },
      });
      this.requests.set(key, request);
    }
    return request;
  }

  async start(): Promise<ChildService> {
    const service = await spawnService(this.env());
    this.services.push(service);
    this.service = service;
    return service;
  }

  /** A start killed after `ms`, whether it was ready by then (recovering, dispatching) or not. */
  async startKilledAfter(ms: number): Promise<void> {
    const starting = spawnService(this.env());
    await sleep(ms);
    // Found by its data dir: before it is ready, spawnService has not handed it over yet.
    for (const pid of serviceProcesses(this.dataDir)) process.kill(pid, "SIGKILL");
    const service = await starting.catch(() => null);
    if (service) {
      this.services.push(service);
      service.client.close();
      await service.exited;
    }
  }

  /**
   * kill -9 of the service; with `runsToo`, of its runs as well, in the same instant (a container
   * or node dying): they are in process groups of their own, so killing the service spares them.
   */
  async kill(runsToo: boolean, service = this.service!): Promise<void> {
    service.client.close();
    const runs = runsToo ? runProcesses(this.dataDir) : [];
    service.process.kill("SIGKILL");
    for (const pid of runs) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // ended meanwhile
      }
    }
    await service.exited;
  }

  /** Submits new jobs, 4 at a time, until `stopAt`; what got no answer is remembered. */
  async submitUntil(stopAt: Promise<void>): Promise<void> {
    const service = this.service!;
    let stopped = false;
    void stopAt.then(() => (stopped = true));
    let next = this.requests.size;
    const worker = async () => {
      while (!stopped && next < MAX_JOBS_PER_TRIAL) {
        await sleep(this.rng() * 150);
        if (stopped) return;
        const key = `crash-${this.index}-${next++}`;
        this.unanswered.add(key);
        try {
          const { job } = await call(service.client, service.client.scheduleJob, this.request(key));
          this.acknowledged.set(key, job!.id);
          this.unanswered.delete(key);
        } catch {
          return;
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  }

  async resubmitUnanswered(): Promise<void> {
    const service = this.service!;
    for (const key of [...this.unanswered]) {
      const { job } = await call(service.client, service.client.scheduleJob, this.request(key));
      this.acknowledged.set(key, job!.id);
      this.unanswered.delete(key);
    }
  }

  async jobs(): Promise<Job[]> {
    const service = this.service!;
    const all: Job[] = [];
    let pageToken = "";
    do {
      const page = await call(service.client, service.client.listJobs, ListJobsRequest.fromPartial({ labelSelector: `crash=t${this.index}`, pageSize: 1000, pageToken }));
      all.push(...page.jobs);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return all;
  }

  async check(tally: Tally, before: number): Promise<void> {
    const service = this.service!;
    tally.trials++;
    tally.acknowledged += this.acknowledged.size;
    // Every acknowledged key still names its job, and only it.
    for (const [key, id] of this.acknowledged) {
      const { job } = await call(service.client, service.client.scheduleJob, this.request(key));
      if (job!.id !== id) tally.lost++;
    }
    let jobs = await this.jobs();
    const byKey = new Map<string, number>();
    for (const job of jobs) byKey.set(job.idempotencyKey, (byKey.get(job.idempotencyKey) ?? 0) + 1);
    for (const n of byKey.values()) if (n > 1) tally.duplicated += n - 1;
    for (const id of this.acknowledged.values()) if (!jobs.some((j) => j.id === id)) tally.lost++;

    jobs = await waitFor(async () => {
      const now = await this.jobs();
      return now.every((j) => TERMINAL.has(j.state)) ? now : undefined;
    }, 40_000, 250).catch(async () => this.jobs());
    tally.stuck += jobs.filter((j) => !TERMINAL.has(j.state)).length;
    tally.completedButFailed += jobs.filter((j) => j.state !== JobState.JOB_STATE_SUCCEEDED && j.result?.completed === true).length;
    tally.interrupted += jobs.filter((j) => j.reason === "INTERRUPTED" || j.attempts.some((a) => a.reason === "INTERRUPTED")).length;

    const starts = readFileSync(join(this.dataDir, "starts"), "utf8").trim().split("\n").filter(Boolean);
    const startCounts = new Map<string, number>();
    for (const s of starts) startCounts.set(s, (startCounts.get(s) ?? 0) + 1);
    for (const n of startCounts.values()) if (n > 1) tally.doubleRuns += n - 1;

    const succeeded = new Set(jobs.filter((j) => j.state === JobState.JOB_STATE_SUCCEEDED).map((j) => `callback:${j.id}`));
    const ours = new Set(jobs.map((j) => `callback:${j.id}`));
    const delivered = () => receiver.requests.slice(before).filter((r) => ours.has(String(r.headers["idempotency-key"])));
    // A row the killed service had claimed waits out its lease (15 s) before the next one sends it.
    await waitFor(async () => [...succeeded].every((key) => delivered().some((r) => r.headers["idempotency-key"] === key)), 45_000, 100).catch(() => undefined);
    const bodies = new Map<string, Set<string>>();
    const counts = new Map<string, number>();
    for (const r of delivered()) {
      const key = String(r.headers["idempotency-key"]);
      bodies.set(key, (bodies.get(key) ?? new Set()).add(r.body));
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const key of succeeded) if (!counts.has(key)) tally.callbacksMissing++;
    for (const [key, n] of counts) {
      if (!succeeded.has(key) || bodies.get(key)!.size > 1) tally.callbacksWrong++;
      else if (n > 1) tally.callbackRepeats += n - 1;
    }
  }

  async finish(tally: Tally): Promise<void> {
    const service = this.service!;
    service.client.close();
    service.process.kill("SIGTERM");
    await service.exited;
    for (const s of this.services) if (s.process.exitCode === null && s.process.signalCode === null) s.process.kill("SIGKILL");
    if (!this.databaseUrl) {
      const db = new Database(join(this.dataDir, "jobscheduler.db"), { readonly: true });
      const result = db.pragma("integrity_check", { simple: true });
      db.close();
      if (result !== "ok") tally.integrityErrors++;
    }
    cleanup(this.dataDir);
  }
}

/** The service processes (dist/main.js) running on `dataDir`. */
function serviceProcesses(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("dist/main.js")) continue;
      if (readFileSync(`/proc/${entry}/environ`, "utf8").split("\0").includes(`DATA_DIR=${dataDir}`)) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/** The processes of the service's runs: their working directory is their run directory under DATA_DIR/runs. */
function runProcesses(dataDir: string): number[] {
  const runsDir = join(dataDir, "runs") + "/";
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(runsDir)) pids.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

async function runTrial(store: string, index: number, tally: Tally, databaseUrl?: string): Promise<void> {
  if (databaseUrl) await withPostgres((c) => c.query(`CREATE SCHEMA ${schemaName(index)}`));
  const rng = seededRandom(SEED * 1000 + index);
  const trial = new Trial(store, index, rng, databaseUrl);
  await trial.start();
  // Runs in flight, some ended, callbacks pending: kill -9 at a random moment; in half the trials
  // the runs die too (recovery then has only what they left on disk), in the other half they
  // outlive the service (recovery adopts them).
  const killAt = sleep(300 + rng() * 2200);
  const runsToo = rng() < 0.5;
  await Promise.all([trial.submitUntil(killAt), killAt.then(() => trial.kill(runsToo))]);
  // Some restarts die too, during start-up (recovery) or soon after.
  if (rng() < 0.35) await trial.startKilledAfter(100 + rng() * 1500);
  await trial.start();
  await trial.resubmitUnanswered();
  const before = 0;
  await trial.check(tally, before);
  await trial.finish(tally);
}

function schemaName(index: number): string {
  return `crash_${process.pid}_${index}`;
}

const stores = [
  { name: "sqlite", url: (_: number) => undefined as string | undefined, setup: async () => {}, teardown: async () => {} },
  {
    name: "postgres",
    url: (index: number) => `${POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schemaName(index)}`)}`,
    setup: async () => {},
    teardown: () => withPostgres(async (client) => {
      const { rows } = await client.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", [`crash_${process.pid}_%`]);
      for (const row of rows) await client.query(`DROP SCHEMA ${client.escapeIdentifier(row.nspname)} CASCADE`);
    }),
  },
];

describe("crash consistency: kill -9 at random moments", () => {
  for (const [n, store] of stores.entries()) {
    const trials = Math.floor(TRIALS / stores.length) + (n < TRIALS % stores.length ? 1 : 0);
    it(`${store.name}: ${trials} trials`, async () => {
      const tally: Tally = {
        trials: 0, acknowledged: 0, lost: 0, duplicated: 0, doubleRuns: 0, stuck: 0,
        callbacksMissing: 0, callbacksWrong: 0, callbackRepeats: 0, interrupted: 0, completedButFailed: 0, integrityErrors: 0,
      };
      tallies.set(store.name, tally);
      try {
        for (let i = 0; i < trials; i++) await runTrial(store.name, n * 100_000 + i, tally, store.url(n * 100_000 + i));
      } finally {
        await store.teardown();
      }
      expect(tally.acknowledged).toBeGreaterThan(0);
      expect({ lost: tally.lost, duplicated: tally.duplicated, doubleRuns: tally.doubleRuns, stuck: tally.stuck, callbacksMissing: tally.callbacksMissing, callbacksWrong: tally.callbacksWrong, completedButFailed: tally.completedButFailed, integrityErrors: tally.integrityErrors })
        .toEqual({ lost: 0, duplicated: 0, doubleRuns: 0, stuck: 0, callbacksMissing: 0, callbacksWrong: 0, completedButFailed: 0, integrityErrors: 0 });
    }, Math.max(600_000, trials * 30_000)); // a trial takes 4-8 s; room for a loaded machine
  }
});
