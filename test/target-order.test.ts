import { describe, expect, it } from "vitest";
import { fireKey } from "../src/dispatch/schedules/scheduler.js";
import type { FireTarget } from "../src/dispatch/schedules/fire-targets.js";
import { fireTargetKey, alternateShortLong, lastDurations } from "../src/dispatch/schedules/target-order.js";
import { ScheduleJobRequest } from "../src/gen/jobscheduler/v1/jobscheduler.js";

const SCHEDULE = "01a20916-8196-7f7c-8afd-7a088dd4e10d";
const FIRE = Date.parse("2026-11-23T12:00:00Z");
const target = (key: string) => ({ key, request: ScheduleJobRequest.fromPartial({ name: key }) });

describe("the order a fire's jobs start in", () => {
  it("reads the target back out of a fire's idempotency key", () => {
    expect(fireTargetKey(fireKey(SCHEDULE, FIRE, "team-07"), SCHEDULE)).toBe("team-07");
    expect(fireTargetKey(fireKey(SCHEDULE, FIRE, "a:b"), SCHEDULE)).toBe("a:b");
    expect(fireTargetKey(fireKey(SCHEDULE, FIRE), SCHEDULE)).toBe("");
    expect(fireTargetKey(fireKey("another-schedule", FIRE, "team-07"), SCHEDULE)).toBeNull();
    expect(fireTargetKey("client-key", SCHEDULE)).toBeNull();
  });

  it("takes each target's newest run", () => {
    const runs = [
      { idempotencyKey: fireKey(SCHEDULE, FIRE + 900_000, "slow"), durationMs: 10_000 },
      { idempotencyKey: fireKey(SCHEDULE, FIRE + 900_000, "fast"), durationMs: 200 },
      { idempotencyKey: fireKey(SCHEDULE, FIRE, "fast"), durationMs: 9_000 },
      { idempotencyKey: null, durationMs: 50_000 },
      { idempotencyKey: fireKey("another-schedule", FIRE, "other"), durationMs: 60_000 },
    ];
    expect(lastDurations(runs, SCHEDULE)).toEqual(new Map([["slow", 10_000], ["fast", 200]]));
  });

  it("alternates the shortest and the longest left; targets without history count as longest; ties in the order given", () => {
    const durations = new Map([["a", 300], ["b", 10_000], ["c", 300], ["d", 5_000], ["e", 250], ["f", 400]]);
    const ordered = alternateShortLong(["a", "b", "new-1", "c", "d", "new-2", "e", "f"].map(target), durations);
    // Ascending: e a c f d b new-1 new-2.
    expect(ordered.map((t) => t.key)).toEqual(["e", "new-2", "a", "new-1", "c", "b", "f", "d"]);
  });

  it("keeps a long target second however the short ones' durations vary", () => {
    const durations = new Map([["fast-1", 900], ["fast-2", 2_100], ["slow", 2_400], ["fast-3", 1_000]]);
    expect(alternateShortLong(["fast-1", "fast-2", "slow", "fast-3"].map(target), durations).map((t) => t.key)).toEqual(["fast-1", "slow", "fast-3", "fast-2"]);
  });

  it("keeps the given order when there is no history", () => {
    const keys = Array.from({ length: 50 }, (_, i) => `team-${i}`);
    expect(alternateShortLong(keys.map(target), new Map()).map((t) => t.key)).toEqual(keys);
  });
});

/** Jobs dispatched FIFO onto `width` slots, each taking its duration: when the last ends and when the first ends. */
function simulate(durations: readonly number[], width: number): { makespan: number; firstEnd: number } {
  const slots = new Array<number>(width).fill(0);
  let makespan = 0;
  let firstEnd = Number.POSITIVE_INFINITY;
  for (const duration of durations) {
    const slot = slots.indexOf(Math.min(...slots));
    slots[slot]! += duration;
    makespan = Math.max(makespan, slots[slot]!);
    firstEnd = Math.min(firstEnd, slots[slot]!);
  }
  return { makespan, firstEnd };
}

/** A deterministic shuffle (the Hub lists teams by slug, unrelated to how their apps behave). */
function shuffled<T>(items: readonly T[], seed = 7): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 16_807) % 2_147_483_647;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe("the alternating order against longest-first and the order given (simulated rounds)", () => {
  const repeat = (count: number, seconds: number) => Array.from({ length: count }, () => seconds);
  // Seconds per team check, as the last round measured them.
  const rounds = {
    // bench/hub-round.ts on a loaded machine: 25 hanging or half-hanging apps (10 s timeout + spawn),
    // 45 slow apps, the rest (refused, 5xx, instant) costing a spawned check each.
    "500 teams, loaded machine": shuffled([...repeat(25, 13), ...repeat(45, 5.3), ...repeat(430, 3.3)]),
    // The same round where a check costs nothing but its app's wait.
    "500 teams, quiet machine": shuffled([...repeat(25, 10), ...repeat(45, 2), ...repeat(430, 0.05)]),
    "100 teams, a fifth of them hanging": shuffled([...repeat(20, 10), ...repeat(80, 1)]),
    "40 teams, mostly hanging time": shuffled([...repeat(10, 10), ...repeat(30, 1)]),
  };

  for (const [name, seconds] of Object.entries(rounds)) {
    for (const width of [8, 16, 32]) {
      it(`${name}, ${width} wide: as short as longest-first (within one short check), first result as soon as the order given`, () => {
        const targets = seconds.map((_, i) => target(`team-${i}`));
        const durations = new Map(seconds.map((s, i) => [`team-${i}`, s * 1000]));
        const order = (ordered: FireTarget[]) => ordered.map((t) => durations.get(t.key)! / 1000);
        const interleaved = simulate(order(alternateShortLong(targets, durations)), width);
        const longest = simulate([...seconds].sort((a, b) => b - a), width);
        const given = simulate(seconds, width);
        const shortest = Math.min(...seconds);
        expect(interleaved.makespan).toBeLessThanOrEqual(longest.makespan + shortest + 1);
        expect(interleaved.makespan).toBeLessThanOrEqual(given.makespan + shortest);
        expect(interleaved.firstEnd).toBe(shortest);
        // What the interleaving is for: with at least `width` long checks, longest-first reports
        // nothing until one of them ends.
        const long = seconds.filter((s) => s > 2 * shortest).length;
        if (long >= width) expect(longest.firstEnd).toBeGreaterThan(2 * shortest);
      });
    }
  }
});
