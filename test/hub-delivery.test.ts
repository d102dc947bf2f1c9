// The outbox delivery worker after a Hub outage: its back-off ends as soon as the Hub answers
// again, whether the answer is to another call of the same client (a round's team listing) or to
// the worker's own probe, sent every HUB_PROBE_INTERVAL while it waits. A real SQLite store, the
// real Hub client over HTTP against the Hub stand-in, and a manual clock: time moves only when
// the test says, so "before the back-off ended" is exact.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { OutboxDelivery, type DeliveryOptions } from "../src/hub/delivery.js";
import { HubClient } from "../src/hub/hub-client.js";
import type { OutboxInsert } from "../src/store/outbox-queries.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { FakeHub, newApiKey } from "./support/fake-hub.js";
import { ManualClock } from "./support/manual-clock.js";
import { waitFor } from "./support/service.js";

const HACKATHON = "h-outage";
const BACK_OFF_MS = 60_000;
const PROBE_MS = 5000;
const hub = new FakeHub();
const key = newApiKey();
const dir = mkdtempSync(join(tmpdir(), "hub-delivery-"));
let opened: { store: SqliteStore; delivery: OutboxDelivery } | null = null;

const options: DeliveryOptions = {
  batchSize: 10, batchDelayMs: 0, pollIntervalMs: 3_600_000,
  // One failure backs off a full minute (as the 6th does with the defaults), without jitter.
  retryInitialMs: BACK_OFF_MS, retryMaxMs: BACK_OFF_MS, retryJitter: 0,
  probeIntervalMs: PROBE_MS,
  maxRejections: 5, authRetryIntervalMs: 3_600_000, updatedBy: "test", leaseMs: 40_000,
};

beforeAll(async () => {
  hub.addKey(key, ["teams:read", "environment:read", "environment:write"]);
  await hub.start();
  for (const slug of ["alpha", "beta"]) hub.addTeam({ nickname: slug, hackathonId: HACKATHON });
});

afterEach(async () => {
  await opened?.delivery.stop();
  await opened?.store.close();
  opened = null;
  hub.down(0);
});

afterAll(async () => {
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

const report = (slug: string, at: number): OutboxInsert => ({
  sourceKey: `test:${slug}:${at}`, teamSlug: slug, hackathonId: HACKATHON, criteriaType: "JUDGE_SCORE", status: "PASSED",
  score: 8, metrics: { judgeScore: 8 }, jobId: null, createdAt: at,
});

/** A worker with two reports waiting, started while the Hub is down; resolves once its first POST failed and it backs off. */
async function startDuringOutage(name: string) {
  const clock = new ManualClock("2025-06-01T00:00:00Z");
  const store = new SqliteStore(join(dir, `${name}.db`));
  await store.migrate();
  await store.outbox.enqueue([report("alpha", clock.now()), report("beta", clock.now())]);
  const client = new HubClient({ baseUrl: hub.url, apiKey: key, timeoutMs: 5000, readAttempts: 1 });
  const delivery = new OutboxDelivery(store.outbox, client, options, null, pino({ level: "silent" }), clock);
  opened = { store, delivery };
  hub.down(1000, "503", true);
  const postsBefore = hub.criteriaWrites().length;
  delivery.start();
  await waitFor(async () => hub.criteriaWrites().length === postsBefore + 1 && clock.pending() > 0);
  const delivered = async () => (await store.outbox.list({ states: ["DELIVERED"], limit: 10 })).length === 2;
  return { clock, client, store, delivered, postsBefore };
}

const probes = () => hub.requests.filter((r) => r.method === "GET" && r.path === "/api/service/team-criteria");

describe("outbox delivery after a Hub outage", () => {
  it("a successful team listing through the same client ends the back-off: the reports go at once", async () => {
    const { clock, client, delivered, postsBefore } = await startDuringOutage("listing");
    const started = clock.now();
    hub.down(0);
    expect(await client.listTeams(HACKATHON)).toHaveLength(2);
    await waitFor(delivered, 5000);
    // Not a millisecond of the minute's back-off went by.
    expect(clock.now()).toBe(started);
    expect(hub.criteriaWrites().length).toBe(postsBefore + 2);
    expect(hub.current("alpha", "JUDGE_SCORE")?.score).toBe(8);
  });

  it("while backing off it probes the Hub every HUB_PROBE_INTERVAL; the first probe answered ends the wait", async () => {
    const { clock, delivered, postsBefore } = await startDuringOutage("probe");
    const started = clock.now();
    const probesBefore = probes().length;
    // Still down: the probe gets a 503 and the worker keeps waiting.
    await clock.advance(PROBE_MS);
    await waitFor(async () => probes().length === probesBefore + 1 && probes().at(-1)!.status === 503);
    expect(hub.criteriaWrites().length).toBe(postsBefore + 1);
    // Up again: the next probe is answered, and the reports go well before the back-off's end.
    hub.down(0);
    let intervals = 1;
    while (!(await delivered())) {
      expect(++intervals, "probe intervals waited").toBeLessThan(BACK_OFF_MS / PROBE_MS);
      await clock.advance(PROBE_MS);
      await waitFor(delivered, 2000).catch(() => undefined);
    }
    expect(clock.now() - started).toBe(intervals * PROBE_MS);
    expect(probes().at(-1)!.status).toBe(200);
    expect(hub.criteriaWrites().length).toBe(postsBefore + 2);
  });
});

describe("outbox delivery against the Hub's body size limit", () => {
  const limited = new FakeHub({ bodyLimitBytes: 2500 });

  beforeAll(async () => {
    limited.addKey(key, ["*"]);
    await limited.start();
    for (let i = 0; i < 10; i++) limited.addTeam({ nickname: `team-${i}`, hackathonId: HACKATHON });
  });

  afterAll(() => limited.close());

  it("a batch over the limit (413) is split until it fits: every report delivered, none parked", async () => {
    const clock = new ManualClock("2025-06-01T00:00:00Z");
    const store = new SqliteStore(join(dir, "body-limit.db"));
    await store.migrate();
    // About 600 bytes each: 10 in one POST are over the limit, 3 are not.
    const reports = Array.from({ length: 10 }, (_, i) => ({
      ...report(`team-${i}`, clock.now()), sourceKey: `limit:${i}`, metrics: { judgeScore: 8, note: "x".repeat(450) },
    }));
    await store.outbox.enqueue(reports);
    const client = new HubClient({ baseUrl: limited.url, apiKey: key, timeoutMs: 5000, readAttempts: 1 });
    const delivery = new OutboxDelivery(store.outbox, client, options, null, pino({ level: "silent" }), clock);
    opened = { store, delivery };
    const delivered = async () => (await store.outbox.list({ states: ["DELIVERED"], limit: 20 })).length;
    for (let pass = 0; (await delivered()) < 10; pass++) {
      expect(pass, "delivery passes").toBeLessThan(options.maxRejections * 4);
      const result = await delivery.deliverOnce();
      if (result === "idle") await clock.advance(BACK_OFF_MS);
    }
    expect(limited.criteriaWrites()[0]!.status).toBe(413);
    expect(limited.criteriaWrites().filter((w) => w.status === 200).length).toBeGreaterThan(1);
    expect(await store.outbox.list({ states: ["PARKED"], limit: 20 })).toEqual([]);
    for (let i = 0; i < 10; i++) expect(limited.current(`team-${i}`, "JUDGE_SCORE")?.score).toBe(8);
  });
});
