import { describe, expect, it } from "vitest";
import { fireKey } from "../src/dispatch/schedules/scheduler.js";
import { fireTargetKey, lastDurations, longestFirst } from "../src/dispatch/schedules/target-order.js";
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

  it("starts the longest first, targets without history before them, ties in the order given", () => {
    const durations = new Map([["a", 300], ["b", 10_000], ["c", 300], ["d", 5_000]]);
    const ordered = longestFirst(["a", "b", "new-1", "c", "d", "new-2"].map(target), durations);
    expect(ordered.map((t) => t.key)).toEqual(["new-1", "new-2", "b", "d", "a", "c"]);
  });

  it("keeps the given order when there is no history", () => {
    const keys = Array.from({ length: 50 }, (_, i) => `team-${i}`);
    expect(longestFirst(keys.map(target), new Map()).map((t) => t.key)).toEqual(keys);
  });
});
