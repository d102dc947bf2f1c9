// High availability on PostgreSQL: replicas as real child processes (`node dist/main.js`) sharing
// one schema of their own and one DATA_DIR (local runs are adopted through /proc by the next
// leader), with the documented fast election settings (5s / 3s / 1s):
// - kill -9 of the leader at seeded random moments, every replica but one in turn (2 or 3
//   replicas), under keyed submissions round-robin to every live replica: every acknowledged job
//   exactly once, no attempt's workload started twice, none stuck, a new leader each time
//   (HA_TRIALS, default 3, ~20 for a long run; HA_SEED);
// - a leader frozen with SIGSTOP past its lease, then SIGCONT: it steps down in-process (same
//   pid, a follower serving the API), its late writes are refused (by epoch, or by the state a
//   successor already moved on), nothing runs twice;
//   once its successor is killed it leads a second term in the same process, end to end;
// - the leader's PostgreSQL connections cut (a black-holing TCP proxy): it steps down before its
//   lease expires, and a follower leads; its leader work hangs on the store, so it takes the
//   last resort (exit 75) after a lease duration;
// - SIGTERM hands over: the follower leads, the ex-leader exits 0;
// - WatchJob and CancelJob on a follower, for a job the leader runs;
// - a rolling restart of every replica under steady submission: no failed RPC beyond UNAVAILABLE
//   (retried on another replica), every job once, none run twice (runs handed over, not stopped).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobState, ListJobsRequest, ScheduleJobRequest, type Job } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { POSTGRES_URL, withPostgres } from "./support/postgres.js";
import { seededRandom } from "./support/rng.js";
import { startTcpProxy } from "./support/tcp-proxy.js";
import { baseEnv, call, cleanup, collect, ROOT, spawnService, tempDir, waitFor, type ChildService } from "./support/service.js";

const TRIALS = Number(process.env.HA_TRIALS ?? 3);
const SEED = Number(process.env.HA_SEED ?? 1);
const FAST = { LEADER_ELECTION_LEASE_DURATION: "5s", LEADER_ELECTION_RENEW_DEADLINE: "3s", LEADER_ELECTION_RETRY_PERIOD: "1s" };
const CRASH_COLLECTORS = join(ROOT, "test/support/crash-collectors");
const TERMINAL = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);
const SCHEMA_PREFIX = `ha_${process.pid}_`;
const LEADERSHIP_LOST_EXIT = 75;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));


interface Replica {
  name: string;
  service: ChildService;
  alive: boolean;
}

/** Replicas on one schema and one DATA_DIR. */
class Cluster {
  readonly dataDir = tempDir("jobscheduler-ha-");
  readonly replicas: Replica[] = [];
  private static count = 0;
  readonly schema = `${SCHEMA_PREFIX}${Cluster.count++}`;

  async create(): Promise<this> {
    await withPostgres((c) => c.query(`CREATE SCHEMA ${this.schema}`));
    return this;
  }

  url(port = 5432): string {
    const base = new URL(POSTGRES_URL);
    base.port = String(port);
    return `${base.toString()}?options=${encodeURIComponent(`-c search_path=${this.schema}`)}`;
  }

  async start(name: string, extra: Record<string, string> = {}): Promise<Replica> {
    const service = await spawnService(baseEnv(this.dataDir, {
      COLLECTORS_DIR: CRASH_COLLECTORS,
      CRASH_STARTS_FILE: join(this.dataDir, "starts"),
      LOCAL_PASS_ENV: "PATH,CRASH_STARTS_FILE",
      LOG_LEVEL: "info",
      MAX_RUNNING_JOBS: "16",
      DISPATCH_POLL_INTERVAL: "100ms",
      SHUTDOWN_TIMEOUT: "500ms",
      KILL_GRACE_PERIOD: "500ms",
      DATABASE_URL: this.url(),
      DATABASE_POOL_SIZE: "4",
      POD_NAME: name,
      ...FAST,
      ...extra,
    }));
    const replica = { name, service, alive: true };
    void service.exited.then(() => (replica.alive = false));
    this.replicas.push(replica);
    return replica;
  }

  live(): Replica[] {
    return this.replicas.filter((r) => r.alive);
  }

  /** The replica whose metrics say it leads, once exactly one live replica does. */
  async leader(timeoutMs = 30_000, not?: string): Promise<Replica> {
    return waitFor(async () => {
      const leading: Replica[] = [];
      for (const replica of this.live()) if (await leads(replica)) leading.push(replica);
      return leading.length === 1 && leading[0].name !== not ? leading[0] : undefined;
    }, timeoutMs, 50);
  }

  starts(): Map<string, number> {
    let text = "";
    try {
      text = readFileSync(join(this.dataDir, "starts"), "utf8");
    } catch {
      // nothing started yet
    }
    const counts = new Map<string, number>();
    for (const line of text.split("\n").filter(Boolean)) counts.set(line, (counts.get(line) ?? 0) + 1);
    return counts;
  }

  async stop(): Promise<void> {
    for (const replica of this.replicas) {
      replica.service.client.close();
      if (replica.alive) replica.service.process.kill("SIGKILL");
      await replica.service.exited;
    }
    cleanup(this.dataDir);
  }
}

async function leads(replica: Replica): Promise<boolean> {
  try {
    // A frozen replica (SIGSTOP) does not answer: not the leader as far as anyone can tell.
    const text = await (await fetch(`http://127.0.0.1:${replica.service.metricsPort}/metrics`, { signal: AbortSignal.timeout(1000) })).text();
    return new RegExp(`^jobscheduler_leader\\{identity="${replica.name}"\\} 1$`, "m").test(text);
  } catch {
    return false;
  }
}

function logTime(replica: Replica, msg: string): number | undefined {
  for (const line of replica.service.logs) {
    try {
      const entry = JSON.parse(line);
      if (entry.msg === msg) return typeof entry.time === "number" ? entry.time : Date.parse(entry.time);
    } catch {
      // not a log line
    }
  }
  return undefined;
}

function timer(key: string, ms: number, labels: Record<string, string>): ScheduleJobRequest {
  return ScheduleJobRequest.fromPartial({
    name: key, idempotencyKey: key, labels, retryPolicy: { maxAttempts: 2 },
    spec: { $case: "timer", value: { duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, timerName: key } },
  });
}

async function jobsLabelled(replica: Replica, selector: string): Promise<Job[]> {
  const all: Job[] = [];
  let pageToken = "";
  do {
    const page = await call(replica.service.client, replica.service.client.listJobs, ListJobsRequest.fromPartial({ labelSelector: selector, pageSize: 1000, pageToken }));
    all.push(...page.jobs);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return all;
}

async function stateOf(replica: Replica, jobId: string): Promise<Job> {
  return call(replica.service.client, replica.service.client.getJobStatus, { jobId });
}

afterAll(async () => {
  await withPostgres(async (client) => {
    const { rows } = await client.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", [`${SCHEMA_PREFIX}%`]);
    for (const row of rows) await client.query(`DROP SCHEMA ${client.escapeIdentifier(row.nspname)} CASCADE`);
  });
});

interface Tally {
  trials: number;
  acknowledged: number;
  lost: number;
  duplicated: number;
  doubleStarts: number;
  stuck: number;
  sameLeader: number;
}

const rows: string[] = [];
afterAll(() => {
  console.log([`HA kill -9 trials (HA_SEED=${SEED})`, "| trial | replicas | leaders killed | new leaders | acknowledged | lost | duplicated | double starts | stuck |", "|---|---|---|---|---|---|---|---|---|", ...rows].join("\n"));
});

describe("HA on PostgreSQL: kill -9 of the leader", () => {
  it(`${TRIALS} trials: every acknowledged job exactly once, no workload started twice, none stuck, a new leader each time`, async () => {
    const tally: Tally = { trials: 0, acknowledged: 0, lost: 0, duplicated: 0, doubleStarts: 0, stuck: 0, sameLeader: 0 };
    for (let trial = 0; trial < TRIALS; trial++) {
      const rng = seededRandom(SEED * 1000 + trial);
      const size = trial % 2 === 0 ? 2 : 3;
      const cluster = await new Cluster().create();
      try {
        for (let i = 0; i < size; i++) await cluster.start(`r${i}`);
        const leader = await cluster.leader();
        const label = `t${trial}`;
        const acknowledged = new Map<string, string>();
        const unanswered = new Set<string>();
        // A repeat must be the same request, or the key is ALREADY_EXISTS.
        const requests = new Map<string, ScheduleJobRequest>();
        const request = (key: string) => {
          if (!requests.has(key)) requests.set(key, timer(key, 20 + Math.floor(rng() * 700), { ha: label }));
          return requests.get(key)!;
        };
        let next = 0;
        let submitting = true;
        const worker = async (w: number) => {
          while (submitting && next < 60) {
            await sleep(rng() * 150);
            const key = `ha-${trial}-${next++}`;
            const live = cluster.live();
            const replica = live[(next + w) % live.length];
            unanswered.add(key);
            try {
              const { job } = await call(replica.service.client, replica.service.client.scheduleJob, request(key));
              acknowledged.set(key, job!.id);
              unanswered.delete(key);
            } catch {
              // the replica died under the request: resubmitted below
            }
          }
        };
        const workers = Promise.all([0, 1, 2, 3].map(worker));
        // Every replica but one is killed in turn, each time the one leading.
        const killed: string[] = [];
        const leaders: string[] = [];
        let current = leader;
        for (let k = 0; k < size - 1; k++) {
          await sleep(300 + rng() * 2200);
          current.service.process.kill("SIGKILL");
          killed.push(current.name);
          const next = await cluster.leader(30_000, current.name);
          if (killed.includes(next.name)) tally.sameLeader++;
          leaders.push(next.name);
          current = next;
        }
        const successor = current;
        await sleep(500 + rng() * 1000);
        submitting = false;
        await workers;
        const survivor = successor;
        for (const key of [...unanswered]) {
          const { job } = await call(survivor.service.client, survivor.service.client.scheduleJob, request(key));
          acknowledged.set(key, job!.id);
          unanswered.delete(key);
        }

        tally.trials++;
        tally.acknowledged += acknowledged.size;
        const before = { ...tally };
        // Every acknowledged key still names its job, and only it.
        for (const [key, id] of acknowledged) {
          const { job } = await call(survivor.service.client, survivor.service.client.scheduleJob, request(key));
          if (job!.id !== id) tally.lost++;
        }
        let jobs = await jobsLabelled(survivor, `ha=${label}`);
        const byKey = new Map<string, number>();
        for (const job of jobs) byKey.set(job.idempotencyKey, (byKey.get(job.idempotencyKey) ?? 0) + 1);
        for (const n of byKey.values()) if (n > 1) tally.duplicated += n - 1;
        for (const id of acknowledged.values()) if (!jobs.some((j) => j.id === id)) tally.lost++;
        jobs = await waitFor(async () => {
          const now = await jobsLabelled(survivor, `ha=${label}`);
          return now.every((j) => TERMINAL.has(j.state)) ? now : undefined;
        }, 45_000, 250).catch(() => jobsLabelled(survivor, `ha=${label}`));
        tally.stuck += jobs.filter((j) => !TERMINAL.has(j.state)).length;
        for (const n of cluster.starts().values()) if (n > 1) tally.doubleStarts += n - 1;
        rows.push(`| ${trial} | ${size} | ${killed.join(", ")} | ${leaders.join(", ")} | ${acknowledged.size} | ${tally.lost - before.lost} | ${tally.duplicated - before.duplicated} | ${tally.doubleStarts - before.doubleStarts} | ${tally.stuck - before.stuck} |`);
      } finally {
        await cluster.stop();
      }
    }
    expect(tally.acknowledged).toBeGreaterThan(0);
    expect({ lost: tally.lost, duplicated: tally.duplicated, doubleStarts: tally.doubleStarts, stuck: tally.stuck, sameLeader: tally.sameLeader })
      .toEqual({ lost: 0, duplicated: 0, doubleStarts: 0, stuck: 0, sameLeader: 0 });
  }, 600_000);
});

describe("HA on PostgreSQL: a leader that cannot lead steps down", () => {
  const clusters: Cluster[] = [];
  const newCluster = async () => {
    const cluster = await new Cluster().create();
    clusters.push(cluster);
    return cluster;
  };
  afterAll(async () => {
    for (const cluster of clusters) await cluster.stop();
  });

  it("frozen with SIGSTOP past its lease, then resumed: it steps down in-process, its late writes are refused, and it leads a second term once its successor dies", async () => {
    const cluster = await newCluster();
    const a = await cluster.start("stop-a");
    const b = await cluster.start("stop-b");
    const pid = a.service.process.pid;
    expect((await cluster.leader()).name).toBe("stop-a");
    // One run ends while its leader is frozen (the leader's report of it comes late), one outlives the freeze.
    const short = (await call(a.service.client, a.service.client.scheduleJob, timer("stop-short", 1500, { ha: "stop" }))).job!;
    const running = (await call(a.service.client, a.service.client.scheduleJob, timer("stop-long", 9000, { ha: "stop" }))).job!;
    await waitFor(async () => (await stateOf(a, running.id)).state === JobState.JOB_STATE_RUNNING && (await stateOf(a, short.id)).state === JobState.JOB_STATE_RUNNING);
    a.service.process.kill("SIGSTOP");
    expect((await cluster.leader(30_000, "stop-a")).name).toBe("stop-b");
    // The successor adopted the runs (the short one ended meanwhile); new work is admitted by it.
    const later = (await call(b.service.client, b.service.client.scheduleJob, timer("stop-later", 200, { ha: "stop" }))).job!;
    await waitFor(async () => (await stateOf(b, later.id)).state === JobState.JOB_STATE_SUCCEEDED);
    await waitFor(async () => TERMINAL.has((await stateOf(b, short.id)).state));
    a.service.process.kill("SIGCONT");
    await waitFor(async () => logTime(a, "stepped down: campaigning again as a follower") !== undefined, 30_000);
    expect(a.service.logs.join("\n")).toContain('"msg":"leadership lost"');
    expect(a.service.logs.join("\n")).toContain('"msg":"leader work stopped after the lease was lost"');
    // Still the same process, a follower serving the API.
    expect(a.alive).toBe(true);
    expect(a.service.process.pid).toBe(pid);
    expect(await call(a.service.client, a.service.client.getDispatchingStatus, {})).toMatchObject({ leader: "stop-b", leading: false });
    expect((await fetch(`http://127.0.0.1:${a.service.httpPort}/readyz`)).status).toBe(200);
    const onFollower = (await call(a.service.client, a.service.client.scheduleJob, timer("stop-on-follower", 200, { ha: "stop" }))).job!;
    await waitFor(async () => (await stateOf(a, onFollower.id)).state === JobState.JOB_STATE_SUCCEEDED);
    // Whatever it still reported of the run that ended during the freeze (if its step-down did not
    // let the run go first) was refused, by the epoch or by the state the successor had recorded:
    // the job's history holds one end, the successor's.
    const shortHistory = await collect(b.service.client.watchJob({ jobId: short.id, afterSequence: 0 }));
    expect(shortHistory.map((e) => JobState[e.state].replace("JOB_STATE_", ""))).toEqual(["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"]);
    const ended = await waitFor(async () => {
      const job = await stateOf(b, running.id);
      return TERMINAL.has(job.state) ? job : undefined;
    }, 30_000);
    expect(JobState[ended.state]).toBe("JOB_STATE_SUCCEEDED");
    expect(ended.attempt).toBe(1);
    expect(JobState[(await stateOf(b, short.id)).state]).toBe("JOB_STATE_SUCCEEDED");
    expect((await stateOf(b, short.id)).attempt).toBe(1);

    // A second term in the same process: the successor dies, the stepped-down replica leads again.
    b.service.process.kill("SIGKILL");
    await b.service.exited;
    expect((await cluster.leader(30_000, "stop-b")).name).toBe("stop-a");
    expect(a.service.process.pid).toBe(pid);
    expect(a.service.logs.filter((line) => line.includes('"msg":"leading"'))).toHaveLength(2);
    const second = (await call(a.service.client, a.service.client.scheduleJob, timer("stop-second-term", 300, { ha: "stop" }))).job!;
    await waitFor(async () => (await stateOf(a, second.id)).state === JobState.JOB_STATE_SUCCEEDED);
    expect(await call(a.service.client, a.service.client.getDispatchingStatus, {})).toMatchObject({ leader: "stop-a", leading: true });
    for (const [run, n] of cluster.starts()) expect(n, run).toBe(1);
    expect(cluster.starts().size).toBe(5);
  }, 120_000);

  it("its PostgreSQL connections cut: it steps down before its lease expires, and a follower leads", async () => {
    const cluster = await newCluster();
    const proxy = await startTcpProxy("127.0.0.1", Number(new URL(POSTGRES_URL).port || 5432));
    try {
      const a = await cluster.start("cut-a", { DATABASE_URL: cluster.url(proxy.port) });
      await cluster.start("cut-b");
      expect((await cluster.leader()).name).toBe("cut-a");
      proxy.cut();
      const cutAt = Date.now();
      const successor = await cluster.leader(30_000, "cut-a");
      expect(successor.name).toBe("cut-b");
      // Its leader work waits on a store it cannot reach: the last resort, after a lease duration.
      expect(await a.service.exited).toBe(LEADERSHIP_LOST_EXIT);
      expect(a.service.logs.join("\n")).toContain("leadership lost and its work did not stop");
      const lost = logTime(a, "leadership lost")!;
      const led = logTime(successor, "leading")!;
      expect(lost).toBeGreaterThanOrEqual(cutAt);
      // Stepped down before anyone else could lead: the lease outlives the renew deadline.
      expect(lost).toBeLessThan(led);
    } finally {
      await proxy.close();
    }
  }, 120_000);
});

describe("HA on PostgreSQL: followers serve the API; SIGTERM hands over", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await new Cluster().create();
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it("WatchJob on a follower sees every transition of a job the leader runs, in order; a cancel on a follower stops a run", async () => {
    const leader = await cluster.start("watch-a");
    const follower = await cluster.start("watch-b");
    expect((await cluster.leader()).name).toBe("watch-a");
    const { job } = await call(follower.service.client, follower.service.client.scheduleJob, timer("watch-1", 300, { ha: "watch" }));
    const events = await collect(follower.service.client.watchJob({ jobId: job!.id }));
    const sequences = events.map((e) => e.sequence);
    const history = await collect(follower.service.client.watchJob({ jobId: job!.id, afterSequence: 0 }));
    expect(history.map((e) => JobState[e.state].replace("JOB_STATE_", ""))).toEqual(["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"]);
    // Live: from the state it was in when the stream opened, every later one, in order.
    expect(sequences).toEqual(history.map((e) => e.sequence).slice(sequences[0] - 1));
    expect(JobState[events.at(-1)!.state]).toBe("JOB_STATE_SUCCEEDED");

    const long = (await call(follower.service.client, follower.service.client.scheduleJob, timer("watch-long", 30_000, { ha: "watch" }))).job!;
    await waitFor(async () => (await stateOf(leader, long.id)).state === JobState.JOB_STATE_RUNNING);
    // Both say who leads; the follower counts what runs from the store.
    expect(await call(follower.service.client, follower.service.client.getDispatchingStatus, {})).toMatchObject({ leader: "watch-a", leading: false, running: 1 });
    expect(await call(leader.service.client, leader.service.client.getDispatchingStatus, {})).toMatchObject({ leader: "watch-a", leading: true, running: 1 });
    const cancelled = await call(follower.service.client, follower.service.client.cancelJob, { jobId: long.id, reason: "" });
    expect(JobState[cancelled.state]).toBe("JOB_STATE_CANCELLED");
  }, 60_000);

  it("SIGTERM: the leader releases its lease and the follower leads, the ex-leader exits 0", async () => {
    const leader = await cluster.leader();
    const follower = cluster.live().find((r) => r !== leader)!;
    leader.service.process.kill("SIGTERM");
    expect((await cluster.leader(30_000, leader.name)).name).toBe(follower.name);
    expect(await leader.service.exited).toBe(0);
    expect(leader.service.logs.join("\n")).toContain('"msg":"leadership released"');
    const { job } = await call(follower.service.client, follower.service.client.scheduleJob, timer("after-handover", 100, { ha: "handover" }));
    await waitFor(async () => (await stateOf(follower, job!.id)).state === JobState.JOB_STATE_SUCCEEDED);
  }, 60_000);
});

describe("HA on PostgreSQL: rolling restart", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await new Cluster().create();
  });
  afterAll(async () => {
    await cluster.stop();
  });

  it("replacing every replica in turn (a new one first, then SIGTERM to an old one) under steady submission: no failed RPC beyond UNAVAILABLE retried, no job lost or run twice", async () => {
    const rng = seededRandom(SEED * 7919);
    const old = [await cluster.start("roll-old-0"), await cluster.start("roll-old-1")];
    await cluster.leader();
    const requests = new Map<string, ScheduleJobRequest>();
    const acknowledged = new Map<string, string>();
    const failures: string[] = [];
    let retried = 0;
    let submitting = true;
    let next = 0;
    const worker = async () => {
      while (submitting) {
        await sleep(rng() * 100);
        const key = `roll-${next++}`;
        requests.set(key, timer(key, 20 + Math.floor(rng() * 500), { ha: "roll" }));
        for (;;) {
          const live = cluster.live();
          const replica = live[Math.floor(rng() * live.length)];
          try {
            const { job } = await call(replica.service.client, replica.service.client.scheduleJob, requests.get(key)!);
            acknowledged.set(key, job!.id);
            break;
          } catch (error) {
            if ((error as { code?: number }).code !== 14) {
              failures.push(`${key} on ${replica.name}: ${(error as Error).message}`);
              break;
            }
            retried++;
          }
        }
      }
    };
    const workers = Promise.all([worker(), worker(), worker()]);
    for (const [i, replica] of old.entries()) {
      await sleep(500 + rng() * 1000);
      await cluster.start(`roll-new-${i}`);
      replica.service.process.kill("SIGTERM");
      expect(await replica.service.exited).toBe(0);
    }
    const leader = await cluster.leader();
    expect(leader.name).toMatch(/^roll-new-/);
    await sleep(500);
    submitting = false;
    await workers;

    expect(failures).toEqual([]);
    expect(acknowledged.size).toBeGreaterThan(10);
    const jobs = await waitFor(async () => {
      const now = await jobsLabelled(leader, "ha=roll");
      return now.every((j) => TERMINAL.has(j.state)) ? now : undefined;
    }, 45_000, 250);
    expect(jobs.map((j) => j.id).sort()).toEqual([...acknowledged.values()].sort());
    expect(jobs.filter((j) => j.state !== JobState.JOB_STATE_SUCCEEDED).map((j) => `${j.idempotencyKey}: ${j.reason} ${j.message}`)).toEqual([]);
    for (const [run, n] of cluster.starts()) expect(n, run).toBe(1);
    console.log(`rolling restart: ${acknowledged.size} jobs acknowledged, ${retried} UNAVAILABLE answers retried on another replica`);
  }, 120_000);
});
