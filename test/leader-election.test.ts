// Leader election and fencing against the real things: the PostgreSQL lease row (a schema of its
// own) with the store's epoch checks, and the Kubernetes Lease on the fake API with the shipped
// Role, each of whose lease grants is shown to be needed.
import pg from "pg";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { LeaderElection, type LeaseBackend } from "../src/leadership/election.js";
import { KubernetesLease, LEASE_OBJECT_NAME } from "../src/leadership/kubernetes-lease.js";
import { beginPostgresTerm, PostgresLease } from "../src/leadership/postgres-lease.js";
import { FENCE_LOCK_KEY, FencedError, LEASE_NAME } from "../src/store/fencing.js";
import { PostgresStore } from "../src/store/postgres/postgres-store.js";
import { startFakeKube, type FakeKube } from "./support/fake-kube/index.js";
import { makeJob } from "./support/job-fixtures.js";

const POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const PREFIX = `elect_${process.pid}_`;
const silent = pino({ level: "silent" });
let schemas = 0;

afterAll(async () => {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const { rows } = await client.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", [`${PREFIX}%`]);
    for (const row of rows) await client.query(`DROP SCHEMA ${client.escapeIdentifier(row.nspname)} CASCADE`);
  } finally {
    await client.end();
  }
});

async function freshSchema(): Promise<{ store: PostgresStore; url: string }> {
  const schema = `${PREFIX}${schemas++}`;
  const store = new PostgresStore(POSTGRES_URL, { schema, poolSize: 4 });
  await store.migrate();
  return { store, url: `${POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}` };
}

const pgLease = (url: string, leaseDurationMs: number) => new PostgresLease({ connectionString: url, leaseDurationMs, callTimeoutMs: 2000, logger: silent });

/** The lease with renewals that never answer: as a connection cut without a reset. */
function neverRenewing(lease: PostgresLease): LeaseBackend {
  return {
    kind: "postgres",
    acquire: (identity) => lease.acquire(identity),
    renew: () => new Promise<boolean>(() => undefined),
    release: (identity, epoch) => lease.release(identity, epoch),
    onMaybeFree: () => undefined,
    close: () => lease.close(),
  };
}

/** An election whose callbacks resolve promises a test can await. */
function campaign(backend: LeaseBackend, identity: string, timing = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 }) {
  let led!: (epoch: number) => void;
  let lost!: (reason: string) => void;
  const leads = new Promise<number>((resolve) => (led = resolve));
  const stepsDown = new Promise<string>((resolve) => (lost = resolve));
  const election = new LeaderElection(backend, identity, timing, {
    startedLeading: async (epoch) => led(epoch),
    stoppedLeading: (reason) => lost(reason),
  }, silent);
  return { election, leads, stepsDown };
}

describe("PostgreSQL lease and fencing", () => {
  it("starts a term with a higher epoch at each take; writes of an older term are refused", async () => {
    const { store, url } = await freshSchema();
    const a = pgLease(url, 400);
    const b = pgLease(url, 400);
    try {
      const job = makeJob({ state: "QUEUED" });
      await store.createJob(job);
      const first = await a.acquire("a");
      expect(first).toMatchObject({ acquired: true });
      const e1 = (first as { epoch: number }).epoch;
      const refused = await b.acquire("b");
      expect(refused).toMatchObject({ acquired: false, holder: "a" });
      // It says when to try again: when the lease expires (the database's clock).
      expect((refused as { expiresInMs: number }).expiresInMs).toBeGreaterThan(0);
      expect((refused as { expiresInMs: number }).expiresInMs).toBeLessThanOrEqual(400);
      await store.transition(job.id, { from: ["QUEUED"], to: "STARTING", at: 1, epoch: e1 });

      // a stops renewing (paused); once its lease expired, b takes over.
      const second = await waitUntilAcquired(b, "b");
      expect(second).toBeGreaterThan(e1);
      expect(await a.renew("a", e1)).toBe(false);
      const late = store.transition(job.id, { from: ["STARTING"], to: "RUNNING", at: 2, epoch: e1 });
      await expect(late).rejects.toBeInstanceOf(FencedError);
      await expect(late).rejects.toThrow(`epoch ${e1}`);
      await expect(store.outbox.settle([], 3, e1)).rejects.toBeInstanceOf(FencedError);
      await expect(store.outbox.claimDue(3, 10, 4, "callback", e1)).rejects.toBeInstanceOf(FencedError);
      const progress = { lastFireAt: 1, nextFireAt: 2, fires: 1, misses: 0, skips: 0 };
      await expect(store.recordScheduleProgress("no-such-schedule", progress, 3, e1)).rejects.toBeInstanceOf(FencedError);
      expect(await store.recordScheduleProgress("no-such-schedule", progress, 3, second)).toBeNull();
      expect((await store.getJob(job.id))!.state).toBe("STARTING");
      // The current term's writes, and unfenced ones (a follower's API writes), go through.
      expect((await store.transition(job.id, { from: ["STARTING"], to: "RUNNING", at: 4, epoch: second }))!.job.state).toBe("RUNNING");
      expect(await store.patchJob(job.id, { cancelRequested: true }, 5)).not.toBeNull();
      // A term decided elsewhere (Kubernetes Lease) raises the same epoch.
      expect(await beginPostgresTerm(url, "c", 2000)).toBe(second + 1);
      await expect(store.transition(job.id, { from: ["RUNNING"], to: "SUCCEEDED", at: 6, epoch: second })).rejects.toBeInstanceOf(FencedError);
    } finally {
      await Promise.all([a.close(), b.close(), store.close()]);
    }
  });

  it("a fenced write waiting while a new term begins is refused once that term commits (it reads the epoch after the lock)", async () => {
    const { store, url } = await freshSchema();
    const a = pgLease(url, 60_000);
    const term = new pg.Client({ connectionString: url });
    try {
      const job = makeJob({ state: "QUEUED" });
      await store.createJob(job);
      const e1 = ((await a.acquire("a")) as { epoch: number }).epoch;
      await term.connect();
      // A new term as a replica starts one: the fencing lock exclusively, then the epoch raised.
      await term.query("BEGIN");
      await term.query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", [FENCE_LOCK_KEY]);
      await term.query("UPDATE leader_lease SET epoch = epoch + 1 WHERE name = $1", [LEASE_NAME]);
      let settled = false;
      const late = store.transition(job.id, { from: ["QUEUED"], to: "STARTING", at: 1, epoch: e1 });
      void late.catch(() => undefined).finally(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(settled).toBe(false);
      await term.query("COMMIT");
      await expect(late).rejects.toBeInstanceOf(FencedError);
      expect((await store.getJob(job.id))!.state).toBe("QUEUED");
      await expect(store.transition(job.id, { from: ["QUEUED"], to: "STARTING", at: 2, epoch: e1 + 1 })).resolves.not.toBeNull();
    } finally {
      await Promise.all([a.close(), term.end(), store.close()]);
    }
  });

  it("a leader that releases hands over at once; a follower hears it (NOTIFY) before its next retry", async () => {
    const { store, url } = await freshSchema();
    const slow = { leaseDurationMs: 20_000, renewDeadlineMs: 15_000, retryPeriodMs: 10_000 };
    const a = campaign(pgLease(url, slow.leaseDurationMs), "a", slow);
    const b = campaign(pgLease(url, slow.leaseDurationMs), "b", slow);
    try {
      await a.election.start();
      const e1 = await a.leads;
      await b.election.start();
      expect(b.election.state()).toMatchObject({ role: "follower", holder: "a" });
      await a.election.release();
      // Its retry period is 10 s and the lease 20 s: only the release's NOTIFY makes this quick.
      const e2 = await Promise.race([b.leads, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no hand-over within 5 s")), 5000))]);
      expect(e2).toBe(e1 + 1);
      expect(b.election.valid()).toBe(true);
    } finally {
      await b.election.release();
      await store.close();
    }
  });

  it("a leader whose session ended (its process died) is replaced at the next try, long before its lease expires; a live one is not", async () => {
    const { store, url } = await freshSchema();
    const named = `a_${process.pid}_${schemas}`;
    const a = pgLease(`${url}&application_name=${named}`, 60_000);
    const b = pgLease(url, 60_000);
    const c = pgLease(url, 60_000);
    try {
      const first = await a.acquire("a");
      expect(first).toMatchObject({ acquired: true });
      // Alive and silent (a paused process keeps its session): only the expiry lets others in.
      expect(await b.acquire("b")).toMatchObject({ acquired: false, holder: "a" });
      expect(await b.acquire("b")).toMatchObject({ acquired: false, holder: "a" });
      // The holder's session ends without a release, as when its process is killed.
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      const ended = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [named]).finally(() => admin.end());
      expect(ended.rowCount).toBe(1);
      const second = await waitUntilAcquired(b, "b", Date.now() + 5000);
      expect(second).toBe((first as { epoch: number }).epoch + 1);
      // The new holder's session is alive: a third replica waits, as for any live holder.
      expect(await c.acquire("c")).toMatchObject({ acquired: false, holder: "b" });
      // The old holder learns it lost when it next renews (on a new session).
      expect(await a.renew("a", (first as { epoch: number }).epoch)).toBe(false);
      expect(await b.renew("b", second)).toBe(true);
      expect(await c.acquire("c")).toMatchObject({ acquired: false, holder: "b" });
    } finally {
      await Promise.all([a.close(), b.close(), c.close(), store.close()]);
    }
  });

  it("a leader that cannot renew steps down at its renew deadline, before its lease expires", async () => {
    const { store, url } = await freshSchema();
    const lease = pgLease(url, 4000);
    const stalled = neverRenewing(lease);
    const a = campaign(stalled, "a", { leaseDurationMs: 4000, renewDeadlineMs: 1000, retryPeriodMs: 200 });
    const b = pgLease(url, 4000);
    try {
      await a.election.start();
      await a.leads;
      expect(await a.stepsDown).toMatch(/renew deadline/);
      expect(a.election.valid()).toBe(false);
      // The others may take it only once the lease expired: it stopped first.
      expect(await b.acquire("b")).toMatchObject({ acquired: false, holder: "a" });
    } finally {
      await Promise.all([lease.close(), b.close(), store.close()]);
    }
  });
});

describe("stepping down in-process", () => {
  it("a leader that lost its lease campaigns again once its leader work stopped, and leads a later term", async () => {
    const { store, url } = await freshSchema();
    const lease = pgLease(url, 1500);
    let stall = false;
    // Renewals that hang while `stall`: as a leader frozen or cut off.
    const flaky: LeaseBackend = {
      kind: "postgres",
      acquire: (identity) => lease.acquire(identity),
      renew: (identity, epoch) => (stall ? new Promise<boolean>(() => undefined) : lease.renew(identity, epoch)),
      release: (identity, epoch) => lease.release(identity, epoch),
      onMaybeFree: (listener) => lease.onMaybeFree(listener),
      close: () => lease.close(),
    };
    const log: string[] = [];
    let workStopped!: () => void;
    const a = new LeaderElection(flaky, "a", { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 }, {
      startedLeading: async (epoch) => void log.push(`lead ${epoch}`),
      stoppedLeading: (reason) => {
        log.push(`lost: ${reason}`);
        return new Promise<void>((resolve) => (workStopped = () => {
          log.push("work stopped");
          resolve();
        }));
      },
    }, silent);
    const b = campaign(pgLease(url, 1500), "b");
    try {
      await a.start();
      expect(a.state()).toMatchObject({ role: "leader" });
      const e1 = a.epoch()!;
      stall = true;
      await waitForValue(() => log.some((l) => l.startsWith("lost")));
      expect(a.valid()).toBe(false);
      expect(a.state().role).toBe("stepped-down");
      // While its work has not stopped it does not campaign, even once the lease is free.
      await b.election.start();
      const e2 = await b.leads;
      expect(e2).toBeGreaterThan(e1);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(a.state().role).toBe("stepped-down");
      stall = false;
      workStopped();
      await waitForValue(() => a.state().role === "follower" && a.state().holder === "b");
      // b goes: a leads a new term in the same process, after its work of the last one stopped.
      await b.election.release();
      await waitForValue(() => a.state().role === "leader", 5000);
      expect(a.epoch()).toBeGreaterThan(e2);
      expect(log).toEqual([`lead ${e1}`, expect.stringMatching(/renew deadline/), "work stopped", `lead ${a.epoch()}`]);
    } finally {
      await a.release();
      await store.close();
    }
  });

  it("leader work that does not stop ends campaigning", async () => {
    const { store, url } = await freshSchema();
    const lease = pgLease(url, 1500);
    const stalled = neverRenewing(lease);
    let leads = 0;
    const a = new LeaderElection(stalled, "a", { leaseDurationMs: 1500, renewDeadlineMs: 600, retryPeriodMs: 100 }, {
      startedLeading: async () => void leads++,
      stoppedLeading: async () => {
        throw new Error("did not stop in time");
      },
    }, silent);
    try {
      await a.start();
      await waitForValue(() => a.state().role === "stepped-down");
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(a.state().role).toBe("stepped-down");
      expect(leads).toBe(1);
    } finally {
      await a.release();
      await store.close();
    }
  });
});

async function waitForValue(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function waitUntilAcquired(backend: LeaseBackend, identity: string, deadline = Infinity): Promise<number> {
  for (;;) {
    const outcome = await backend.acquire(identity).catch(() => ({ acquired: false as const }));
    if (outcome.acquired) return outcome.epoch;
    if (Date.now() > deadline) throw new Error(`${identity} did not acquire the lease in time`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("Kubernetes Lease (client-go semantics) on the fake API", () => {
  const NS = "jobscheduler-jobs";
  const k8sLease = (fake: FakeKube, leaseDurationMs = 1000) => new KubernetesLease({ kubeConfig: fake.kubeConfig(), namespace: NS, leaseDurationMs, callTimeoutMs: 2000 });

  it("one holder (the pod name); a released Lease is taken at once; an expired one after the lease duration as its watcher observed it", async () => {
    const fake = await startFakeKube();
    try {
      const a = k8sLease(fake);
      const b = k8sLease(fake);
      let told = 0;
      b.onMaybeFree(() => told++);
      expect(await a.acquire("pod-a")).toMatchObject({ acquired: true });
      expect(await b.acquire("pod-b")).toMatchObject({ acquired: false, holder: "pod-a" });
      expect(await a.renew("pod-a", 0)).toBe(true);
      const stored = fake.get<{ spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string } }>("Lease", NS, LEASE_OBJECT_NAME)!;
      expect(stored.spec).toMatchObject({ holderIdentity: "pod-a", leaseDurationSeconds: 1 });
      expect(stored.spec.renewTime).toMatch(/\.\d{6}Z$/);
      expect(await b.acquire("pod-b")).toMatchObject({ acquired: false, holder: "pod-a" });
      // pod-a stops renewing: pod-b takes it once a lease duration passed since it saw the last change.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(await b.acquire("pod-b")).toMatchObject({ acquired: true });
      expect(await a.renew("pod-a", 0)).toBe(false);
      await b.release("pod-b");
      // b.s watch told it of each change of holder.
      await fake.waitFor(() => told > 0, 5000, "the watch to see the release");
      expect(await a.acquire("pod-a")).toMatchObject({ acquired: true });
      expect(fake.requests.filter((r) => r.code === 403)).toEqual([]);
      expect(fake.rbac.unusedGrants().filter((g) => g.resource === "leases")).toEqual([]);
      await Promise.all([a.close(), b.close()]);
      await fake.waitFor(() => fake.openWatches === 0, 5000, "the watch closed");
    } finally {
      await fake.close();
    }
  });

  it("two replicas racing for an expired Lease: exactly one wins (resourceVersion conflict)", async () => {
    const fake = await startFakeKube();
    try {
      expect(await k8sLease(fake).acquire("gone")).toMatchObject({ acquired: true });
      const racers = ["pod-1", "pod-2", "pod-3"].map((name) => ({ name, lease: k8sLease(fake) }));
      for (const r of racers) expect(await r.lease.acquire(r.name)).toMatchObject({ acquired: false, holder: "gone" });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const outcomes = await Promise.all(racers.map((r) => r.lease.acquire(r.name)));
      expect(outcomes.filter((o) => o.acquired)).toHaveLength(1);
      expect(fake.requests.some((r) => r.verb === "update" && r.resource === "leases" && r.code === 409)).toBe(true);
    } finally {
      await fake.close();
    }
  });

  it("a follower hears of a release through its watch, before its next retry; dropped watches, 410 Gone, 429s and latency only delay it", async () => {
    const fake = await startFakeKube();
    const slow = { leaseDurationMs: 20_000, renewDeadlineMs: 15_000, retryPeriodMs: 10_000 };
    const a = campaign(k8sLease(fake, slow.leaseDurationMs), "pod-a", slow);
    const b = campaign(k8sLease(fake, slow.leaseDurationMs), "pod-b", slow);
    const c = k8sLease(fake, slow.leaseDurationMs);
    try {
      await a.election.start();
      await a.leads;
      await b.election.start();
      expect(b.election.state()).toMatchObject({ role: "follower", holder: "pod-a" });
      await fake.waitFor(() => fake.openWatches >= 1, 5000, "b's watch");
      // The watch is cut, expires, and is refused for a while; each time it comes back.
      fake.dropWatches();
      await fake.waitFor(() => fake.requests.filter((r) => r.verb === "watch" && r.resource === "leases").length >= 2, 5000, "a re-watch after the cut");
      fake.faults.expireNextWatch(1);
      fake.dropWatches();
      const throttled = fake.faults.throttle(1, { count: 3, match: { verb: "watch", resource: "leases" } });
      const slowed = fake.faults.delay(200, { verb: "watch", resource: "leases" });
      await fake.waitFor(() => fake.requests.filter((r) => r.verb === "watch" && r.resource === "leases" && r.code === 429).length >= 3, 10_000, "the throttled watches");
      await fake.waitFor(() => fake.openWatches >= 1, 15_000, "the watch back after the 429s");
      throttled.remove();
      slowed.remove();
      // Its retry period is 10 s and the lease 20 s: only the watch makes this quick.
      const releasedAt = performance.now();
      await a.election.release();
      await Promise.race([b.leads, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no hand-over within 5 s")), 5000))]);
      expect(performance.now() - releasedAt).toBeLessThan(5000);
      // A watch of a Lease deleted and created again: told both times, never crashed.
      let told = 0;
      c.onMaybeFree(() => told++);
      await fake.waitFor(() => fake.openWatches >= 2, 5000, "c's watch");
      fake.delete("Lease", NS, LEASE_OBJECT_NAME);
      await fake.waitFor(() => told >= 1, 5000, "the deletion seen");
      await c.close();
      await b.election.release();
      await fake.waitFor(() => fake.openWatches === 0, 5000, "every watch closed");
      expect(fake.internalErrors).toEqual([]);
    } finally {
      await c.close();
      await fake.close();
    }
  });

  it("RBAC: without any one of get, create and update on leases the replica never leads; without watch a follower is never told of a release", async () => {
    const fake = await startFakeKube();
    try {
      const shipped = fake.rbac.rules();
      // create first, while no Lease exists yet.
      const grants = fake.rbac.grants().filter((g) => g.resource === "leases").sort((x, y) => x.verb.localeCompare(y.verb));
      expect(grants.map((g) => g.verb).sort()).toEqual(["create", "get", "update", "watch"]);
      for (const withWatch of [true, false]) {
        if (!withWatch) fake.setRole(shipped.map((rule) => (rule.resources?.includes("leases") ? { ...rule, verbs: rule.verbs.filter((v) => v !== "watch") } : rule)));
        const holder = k8sLease(fake);
        const follower = k8sLease(fake);
        let told = false;
        follower.onMaybeFree(() => (told = true));
        const from = fake.requests.length;
        expect(await holder.acquire("holder")).toMatchObject({ acquired: true });
        expect(await follower.acquire("follower")).toMatchObject({ acquired: false });
        await new Promise((resolve) => setTimeout(resolve, 300));
        await holder.release("holder");
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await follower.close();
        fake.setRole(shipped);
        expect(told, `with watch: ${withWatch}`).toBe(withWatch);
        expect(fake.requests.slice(from).some((r) => r.code === 403 && r.verb === "watch" && r.resource === "leases")).toBe(!withWatch);
      }
      fake.delete("Lease", NS, LEASE_OBJECT_NAME);
      for (const grant of grants.filter((g) => g.verb !== "watch")) {
        // update is needed to take a Lease another replica left: one exists, released long ago.
        if (grant.verb === "update") {
          const seed = k8sLease(fake);
          await seed.acquire("old");
          await seed.release("old");
        }
        fake.setRole(shipped.map((rule) => (rule.resources?.includes("leases") ? { ...rule, verbs: rule.verbs.filter((v) => v !== grant.verb) } : rule)));
        const from = fake.requests.length;
        const outcome = await k8sLease(fake).acquire(`pod-without-${grant.verb}`).catch((error: unknown) => error as Error);
        fake.setRole(shipped);
        expect(outcome instanceof Error ? outcome.message : "", grant.verb).toMatch(/403|Forbidden/);
        expect(fake.requests.slice(from).some((r) => r.code === 403 && r.verb === grant.verb && r.resource === "leases"), grant.verb).toBe(true);
      }
    } finally {
      await fake.close();
    }
  });
});
