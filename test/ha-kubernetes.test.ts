// Replicas on the Kubernetes runtime, as real child processes against the fake API (with the
// shipped Role): the Lease jobscheduler-leader decides which one manages the jobs namespace.
// - The issue's case: a second scheduler started on the same jobs namespace (its own SQLite) is
//   a follower and never deletes the first one's running Job.
// - Two replicas on one PostgreSQL schema: kill -9 of the leader while Jobs run; the other takes
//   the Lease, re-adopts the running Jobs and creates every Kubernetes Job exactly once.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { JobState, ScheduleJobRequest, type Job } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { outcome, startFakeKube, type FakeKube, type StoredJob, type StoredPod } from "./support/fake-kube/index.js";
import { baseEnv, call, cleanup, spawnService, tempDir, waitFor, type ChildService } from "./support/service.js";
import { kubeServiceEnv, podEnv } from "./support/kube-service.js";

const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const NS = "jobscheduler-jobs";
const SCHEMA = `ha_k8s_${process.pid}`;
const ELECTION = { LEADER_ELECTION_LEASE_DURATION: "5s", LEADER_ELECTION_RENEW_DEADLINE: "3s", LEADER_ELECTION_RETRY_PERIOD: "1s" };
const TERMINAL = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

const dirs: string[] = [];
const services: ChildService[] = [];
afterAll(async () => {
  for (const s of services) {
    s.client.close();
    if (s.process.exitCode === null && s.process.signalCode === null) s.process.kill("SIGKILL");
    await s.exited;
  }
  dirs.forEach(cleanup);
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
});


/** Pods run as the timer collector would, for TIMER_DURATION_MS. */
function timerPods(pod: StoredPod) {
  const env = podEnv(pod);
  const ms = Number(env.TIMER_DURATION_MS);
  return outcome.succeed(JSON.stringify({ timerName: env.TIMER_NAME, durationMs: ms, elapsedMs: ms, completed: true }), { runMs: ms });
}

async function startFake(): Promise<FakeKube> {
  const fake = await startFakeKube();
  fake.setDefaultOutcome(timerPods);
  return fake;
}

function kubeEnv(fake: FakeKube, name: string, extra: Record<string, string> = {}): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "jobscheduler-ha-k8s-"));
  dirs.push(dir);
  return baseEnv(dir, {
    LOG_LEVEL: "info",
    ...kubeServiceEnv(fake, dir),
    POD_NAME: name,
    ...ELECTION,
    ...extra,
  });
}

async function start(env: Record<string, string>): Promise<ChildService> {
  const service = await spawnService(env);
  services.push(service);
  return service;
}

const timer = (key: string, ms: number) => ScheduleJobRequest.fromPartial({
  name: key, idempotencyKey: key, labels: { ha: "k8s" },
  spec: { $case: "timer", value: { duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, timerName: key } },
});

async function leading(service: ChildService): Promise<boolean> {
  const status = await call(service.client, service.client.getDispatchingStatus, {}).catch(() => null);
  return status?.leading ?? false;
}

describe("replicas on the Kubernetes runtime", () => {
  it("a second scheduler on the same jobs namespace follows, and never deletes the first one's Jobs", async () => {
    const fake = await startFake();
    try {
      const first = await start(kubeEnv(fake, "first"));
      expect(await leading(first)).toBe(true);
      const job = (await call(first.client, first.client.scheduleJob, timer("long", 6000))).job!;
      await waitFor(async () => (await call(first.client, first.client.getJobStatus, { jobId: job.id })).state === JobState.JOB_STATE_RUNNING);
      const from = fake.requests.length;

      const second = await start(kubeEnv(fake, "second"));
      expect(await leading(second)).toBe(false);
      expect((await call(second.client, second.client.getDispatchingStatus, {})).leader).toBe("first");
      expect(second.logs.join("\n")).toContain('"msg":"another replica leads"');
      // It stays a follower while the first renews; it lists, watches and deletes nothing.
      await waitFor(async () => fake.requests.slice(from).filter((r) => r.resource === "leases" && r.verb === "get").length >= 3, 15_000);
      const itsCalls = fake.requests.slice(from).filter((r) => r.resource !== "leases");
      expect(itsCalls.filter((r) => r.verb === "delete")).toEqual([]);
      second.process.kill("SIGTERM");
      expect(await second.exited).toBe(0);

      const done = await waitFor(async () => {
        const j = await call(first.client, first.client.getJobStatus, { jobId: job.id });
        return j.state === JobState.JOB_STATE_SUCCEEDED ? j : undefined;
      }, 30_000);
      expect(done.attempt).toBe(1);
      // No Job was deleted while it ran: the only deletes are the first's own, of its finished Job once the end was stored.
      const deletes = fake.requests.filter((r) => r.verb === "delete" && r.resource === "jobs");
      expect(deletes.filter((r) => r.at < done.finishTime!.getTime() || r.query.propagationPolicy !== "Background")).toEqual([]);
      first.process.kill("SIGTERM");
      expect(await first.exited).toBe(0);
    } finally {
      await fake.close();
    }
  }, 90_000);

  it("on one PostgreSQL schema: kill -9 of the leader; the other takes the Lease, re-adopts the Jobs, and each is created once", async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    await client.query(`CREATE SCHEMA ${SCHEMA}`);
    await client.end();
    const databaseUrl = `${POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${SCHEMA}`)}`;
    const fake = await startFake();
    try {
      const a = await start(kubeEnv(fake, "pod-a", { DATABASE_URL: databaseUrl }));
      const b = await start(kubeEnv(fake, "pod-b", { DATABASE_URL: databaseUrl }));
      expect(await leading(a)).toBe(true);
      const jobs: Job[] = [];
      for (let i = 0; i < 12; i++) jobs.push((await call(b.client, b.client.scheduleJob, timer(`adopt-${i}`, 1000 + 300 * i))).job!);
      await waitFor(async () => (await call(b.client, b.client.getJobStatus, { jobId: jobs[0].id })).state === JobState.JOB_STATE_RUNNING);

      a.process.kill("SIGKILL");
      await a.exited;
      await waitFor(() => leading(b), 30_000);
      const ended = await waitFor(async () => {
        const now = await Promise.all(jobs.map((j) => call(b.client, b.client.getJobStatus, { jobId: j.id })));
        return now.every((j) => TERMINAL.has(j.state)) ? now : undefined;
      }, 60_000, 200);
      expect(ended.map((j) => JobState[j.state])).toEqual(jobs.map(() => "JOB_STATE_SUCCEEDED"));
      expect(ended.map((j) => j.attempt)).toEqual(jobs.map(() => 1));
      // A repeated create would answer 409 (names are deterministic): every one succeeded once.
      expect(fake.requests.filter((r) => r.verb === "create" && r.resource === "jobs" && r.code === 201)).toHaveLength(jobs.length);
      // No other Job: the new leader deletes each one once its end is stored.
      await fake.waitFor(() => fake.list<StoredJob>("Job", NS).length === 0, 15_000, "every finished Job to be deleted");
      // The Lease changed hands once; the new term's epoch fences the old one's writes.
      const lease = fake.get<{ spec: { holderIdentity: string; leaseTransitions: number } }>("Lease", NS, "jobscheduler-leader")!;
      expect(lease.spec.holderIdentity).toBe("pod-b");
      expect(lease.spec.leaseTransitions).toBe(1);
      const db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      const { rows } = await db.query("SELECT holder, epoch FROM leader_lease");
      await db.end();
      expect(rows).toEqual([{ holder: "pod-b", epoch: "2" }]);
    } finally {
      await fake.close();
    }
  }, 120_000);
});
