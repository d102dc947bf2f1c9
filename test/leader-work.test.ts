// A replica may lead several terms in one process: each leader-only loop must stop and start
// again (stop() then start() then stop()), and LeaderWork must not let a lost term's start run on.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { CallbackDelivery, DEFAULT_CALLBACK_DELIVERY } from "../src/dispatch/callback-delivery.js";
import { OutboxDelivery } from "../src/hub/delivery.js";
import type { HubClient } from "../src/hub/hub-client.js";
import { LeaderWork } from "../src/leadership/leader-work.js";
import type { Runtime } from "../src/runtime/runtime.js";
import type { OutboxStore } from "../src/store/outbox-queries.js";

const silent = pino({ level: "silent" });

/** An outbox with nothing to deliver, counting the delivery passes (claims). */
function emptyOutbox(): OutboxStore & { claims: number } {
  const outbox = {
    claims: 0,
    enqueue: async () => 0,
    claimDue: async () => {
      outbox.claims++;
      return [];
    },
    settle: async () => undefined,
    list: async () => [],
    get: async () => null,
    resend: async () => 0,
    counts: async () => [],
    nextDue: async () => null,
  };
  return outbox as unknown as OutboxStore & { claims: number };
}

/** Resolves with the promise, or rejects when it takes longer than ms. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)))])
    .finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Three terms of a delivery loop: each start makes a pass, and each stop cuts its idle wait (a
 * minute) short. The bound only tells a stop that returns from one that hangs until the next poll.
 */
async function threeTerms(delivery: { start(): void; stop(): Promise<void> }, outbox: { claims: number }): Promise<void> {
  for (let term = 0; term < 3; term++) {
    const before = outbox.claims;
    delivery.start();
    await within(10_000, until(() => outbox.claims > before), `a delivery pass in term ${term}`);
    await within(10_000, delivery.stop(), `stop in term ${term}`);
  }
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await sleep(5);
}

describe("leader-only loops stop and start again", () => {
  it("callback delivery: a second term delivers, and its stop is as quick as the first", async () => {
    const outbox = emptyOutbox();
    const delivery = new CallbackDelivery(outbox, { ...DEFAULT_CALLBACK_DELIVERY, pollIntervalMs: 60_000 }, silent, { policy: {} as never, resolver: {} as never });
    await threeTerms(delivery, outbox);
    const claims = outbox.claims;
    delivery.wake();
    await sleep(50);
    expect(outbox.claims).toBe(claims);
  });

  it("Hub outbox delivery: a second term delivers, and its stop is as quick as the first", async () => {
    const outbox = emptyOutbox();
    const client = { onReachable: () => () => undefined } as unknown as HubClient;
    const delivery = new OutboxDelivery(outbox, client, {
      batchSize: 10, batchDelayMs: 10, pollIntervalMs: 60_000, retryInitialMs: 100, retryMaxMs: 1000, retryJitter: 0,
      probeIntervalMs: 1000, maxRejections: 3, authRetryIntervalMs: 60_000, updatedBy: "test", leaseMs: 1000,
    } as ConstructorParameters<typeof OutboxDelivery>[2], null, silent);
    await threeTerms(delivery, outbox);
  });
});

describe("LeaderWork across terms", () => {
  function parts() {
    const log: string[] = [];
    let recoveries = 0;
    let releaseRecovery: (() => void) | undefined;
    const loop = (name: string) => ({
      running: false,
      async start() {
        this.running = true;
        log.push(`${name} start`);
      },
      async stop() {
        this.running = false;
        log.push(`${name} stop`);
      },
    });
    const loops = { scheduler: loop("scheduler"), dispatcher: loop("dispatcher"), hub: loop("hub"), callbacks: loop("callbacks") };
    const runtime = { detach: async () => void log.push("detach"), shutdown: async () => void log.push("shutdown") } as unknown as Runtime;
    const lifecycle = {
      async recover() {
        recoveries++;
        log.push("recover");
        if (recoveries === 1) await new Promise<void>((resolve) => (releaseRecovery = resolve));
      },
    };
    const work = new LeaderWork({ lifecycle, runtime, ...loops, handOverRuns: true, shutdownTimeoutMs: 100 }, silent);
    return { work, log, loops, release: () => releaseRecovery?.() };
  }

  it("a term lost during its recovery starts no loop; the next term starts every loop afresh", async () => {
    const { work, log, loops, release } = parts();
    const first = work.start().catch((error: Error) => error);
    await sleep(10);
    const abandoned = work.abandon();
    release();
    expect(String(await first)).toMatch(/term ended/);
    await abandoned;
    expect(Object.values(loops).some((l) => l.running)).toBe(false);
    expect(log.filter((l) => l.endsWith(" start"))).toEqual([]);
    expect(log.at(-1)).toBe("detach");

    log.length = 0;
    await work.start();
    expect(log).toEqual(["recover", "scheduler start", "dispatcher start", "hub start", "callbacks start"]);
    expect(Object.values(loops).every((l) => l.running)).toBe(true);
    await work.abandon();
    expect(Object.values(loops).some((l) => l.running)).toBe(false);
    await work.start();
    await work.stop();
    expect(log.at(-3)).toBe("detach");
  });
});
