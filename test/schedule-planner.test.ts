// Unit tests of the schedule building blocks: cron helpers, the fire planner,
// overlap decisions, jitter, SCHEDULES_FILE parsing and the manual clock.
import { describe, expect, it } from "vitest";
import { compileCron, validateTimeZone } from "../src/dispatch/schedules/cron.js";
import { parseDeclaredSchedules } from "../src/api/declared-schedules.js";
import { ON_TIME_GRACE_MS, planFires, type PlanInput } from "../src/dispatch/schedules/fire-planner.js";
import { jitterDelayMs } from "../src/dispatch/schedules/jitter.js";
import { decideOverlap, exclusiveGroupOf } from "../src/dispatch/schedules/overlap.js";
import { CatchupPolicy, OverlapPolicy } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { InvalidField } from "../src/jobs/errors.js";
import { makeJob } from "./support/job-fixtures.js";
import { ManualClock } from "./support/manual-clock.js";

const t = (text: string) => Date.parse(text);
const isoList = (times: number[]) => times.map((ms) => new Date(ms).toISOString());
const HOUR = 3_600_000;

function fieldOf(work: () => unknown): string | undefined {
  try {
    work();
  } catch (error) {
    if (error instanceof InvalidField) return error.field;
    throw error;
  }
  throw new Error("expected INVALID_ARGUMENT");
}

describe("cron helpers", () => {
  it("fire a daily 02:30 Berlin job at 03:00 CEST on the spring-forward night (02:30 does not exist)", () => {
    const cron = compileCron("30 2 * * *", "Europe/Berlin");
    expect(isoList(cron.between(t("2025-03-28T12:00:00Z"), t("2025-04-01T12:00:00Z"), 10))).toEqual([
      "2025-03-29T01:30:00.000Z", // 02:30 CET
      "2025-03-30T01:00:00.000Z", // 03:00 CEST, the first valid time after the gap
      "2025-03-31T00:30:00.000Z", // 02:30 CEST
      "2025-04-01T00:30:00.000Z",
    ]);
  });

  it("fire an hourly New York job on both 01:00s of the fall-back night, and a fixed 01:30 job once", () => {
    const hourly = compileCron("0 * * * *", "America/New_York");
    expect(isoList(hourly.between(t("2025-11-02T03:30:00Z"), t("2025-11-02T08:30:00Z"), 10))).toEqual([
      "2025-11-02T04:00:00.000Z", // 00:00 EDT
      "2025-11-02T05:00:00.000Z", // 01:00 EDT
      "2025-11-02T06:00:00.000Z", // 01:00 EST
      "2025-11-02T07:00:00.000Z", // 02:00 EST
      "2025-11-02T08:00:00.000Z",
    ]);
    const fixed = compileCron("30 1 * * *", "America/New_York");
    expect(isoList(fixed.between(t("2025-11-01T12:00:00Z"), t("2025-11-03T12:00:00Z"), 10))).toEqual([
      "2025-11-02T05:30:00.000Z", // 01:30 EDT only
      "2025-11-03T06:30:00.000Z",
    ]);
  });

  it("nextAfter is strictly after; between is (after, until] and honours the limit", () => {
    const cron = compileCron("0 12 * * *", "UTC");
    expect(cron.nextAfter(t("2025-01-01T12:00:00Z"))).toBe(t("2025-01-02T12:00:00Z"));
    expect(cron.nextAfter(t("2025-01-01T11:59:59.999Z"))).toBe(t("2025-01-01T12:00:00Z"));
    expect(cron.between(t("2025-01-01T12:00:00Z"), t("2025-01-03T12:00:00Z"), 10)).toEqual([t("2025-01-02T12:00:00Z"), t("2025-01-03T12:00:00Z")]);
    expect(cron.between(t("2025-01-01T00:00:00Z"), t("2025-01-09T00:00:00Z"), 3)).toHaveLength(3);
  });

  it("accepts six fields (seconds first) and nicknames", () => {
    expect(isoList(compileCron("*/20 * * * * *", "UTC").between(t("2025-01-01T00:00:00Z"), t("2025-01-01T00:01:00Z"), 10))).toEqual([
      "2025-01-01T00:00:20.000Z", "2025-01-01T00:00:40.000Z", "2025-01-01T00:01:00.000Z",
    ]);
    expect(compileCron("@daily", "UTC").nextAfter(t("2025-01-01T10:00:00Z"))).toBe(t("2025-01-02T00:00:00Z"));
  });

  it("rejects bad expressions naming spec.cron", () => {
    for (const bad of ["", "* * * *", "61 * * * *", "* * * * * * *", "2025-01-01T00:00:00", "@sometimes", "0 0 30 2 *", "x y z a b"]) {
      expect(fieldOf(() => compileCron(bad, "UTC")), bad).toBe("spec.cron");
    }
  });

  it("checks and canonicalises IANA zones, naming spec.time_zone", () => {
    expect(validateTimeZone("")).toBe("UTC");
    expect(validateTimeZone("europe/berlin")).toBe("Europe/Berlin");
    expect(validateTimeZone("Asia/Almaty")).toBe("Asia/Almaty");
    for (const bad of ["Mars/Olympus_Mons", "+05:00", "Europe/Berlin; DROP", "x".repeat(80)]) {
      expect(fieldOf(() => validateTimeZone(bad)), bad).toBe("spec.time_zone");
    }
    expect(fieldOf(() => compileCron("0 * * * *", "Nowhere/City"))).toBe("spec.time_zone");
  });
});

describe("fire planner", () => {
  const hourly = compileCron("0 * * * *", "UTC");
  const base = (overrides: Partial<PlanInput>): PlanInput => ({
    after: t("2025-01-01T00:00:00Z"),
    now: t("2025-01-01T00:00:00Z"),
    catchupWindowMs: 0,
    catchupPolicy: "ALL",
    startTime: null,
    endTime: null,
    fireTimes: hourly.between,
    ...overrides,
  });

  it("runs a fire time reached on time, even with no catch-up window", () => {
    const plan = planFires(base({ now: t("2025-01-01T01:00:00Z") }));
    expect(plan).toEqual({ run: [t("2025-01-01T01:00:00Z")], missed: 0, skipped: 0, lastProcessed: t("2025-01-01T01:00:00Z"), complete: true });
    const late = planFires(base({ now: t("2025-01-01T01:00:00Z") + ON_TIME_GRACE_MS }));
    expect(late.run).toEqual([t("2025-01-01T01:00:00Z")]);
  });

  it("with nothing due, runs nothing and processes nothing", () => {
    expect(planFires(base({ now: t("2025-01-01T00:59:59Z") }))).toEqual({ run: [], missed: 0, skipped: 0, lastProcessed: null, complete: true });
  });

  it("after downtime: ALL runs every late fire time inside the window, oldest first", () => {
    const plan = planFires(base({ now: t("2025-01-01T03:30:00Z"), catchupWindowMs: 24 * HOUR }));
    expect(isoList(plan.run)).toEqual(["2025-01-01T01:00:00.000Z", "2025-01-01T02:00:00.000Z", "2025-01-01T03:00:00.000Z"]);
    expect(plan).toMatchObject({ missed: 0, skipped: 0, lastProcessed: t("2025-01-01T03:00:00Z"), complete: true });
  });

  it("after downtime: ONE runs the latest and skips the others", () => {
    const plan = planFires(base({ now: t("2025-01-01T03:30:00Z"), catchupWindowMs: 24 * HOUR, catchupPolicy: "ONE" }));
    expect(isoList(plan.run)).toEqual(["2025-01-01T03:00:00.000Z"]);
    expect(plan).toMatchObject({ missed: 0, skipped: 2 });
  });

  it("fire times older than the window are missed, whatever the policy", () => {
    for (const catchupPolicy of ["ALL", "ONE"] as const) {
      const plan = planFires(base({ now: t("2025-01-01T03:30:00Z"), catchupWindowMs: 80 * 60_000, catchupPolicy }));
      expect(isoList(plan.run)).toEqual(["2025-01-01T03:00:00.000Z"]);
      expect(plan).toMatchObject({ missed: 2, skipped: 0, lastProcessed: t("2025-01-01T03:00:00Z") });
    }
    const none = planFires(base({ now: t("2025-01-01T03:30:00Z") }));
    expect(none).toMatchObject({ run: [], missed: 3, skipped: 0, lastProcessed: t("2025-01-01T03:00:00Z") });
  });

  it("the window's lower edge is inclusive", () => {
    const plan = planFires(base({ now: t("2025-01-01T03:00:00Z"), catchupWindowMs: HOUR }));
    expect(isoList(plan.run)).toEqual(["2025-01-01T02:00:00.000Z", "2025-01-01T03:00:00.000Z"]);
    expect(plan.missed).toBe(1);
  });

  it("ignores fire times before start_time and at or after end_time", () => {
    const plan = planFires(base({
      now: t("2025-01-01T06:00:00Z"), catchupWindowMs: 24 * HOUR,
      startTime: t("2025-01-01T02:00:00Z"), endTime: t("2025-01-01T05:00:00Z"),
    }));
    expect(isoList(plan.run)).toEqual(["2025-01-01T02:00:00.000Z", "2025-01-01T03:00:00.000Z", "2025-01-01T04:00:00.000Z"]);
    expect(plan).toMatchObject({ missed: 0, skipped: 0 });
  });

  it("works through a long gap in bounded chunks; ONE runs only in the last", () => {
    const input = base({ now: t("2025-01-01T10:30:00Z"), catchupWindowMs: 5 * HOUR, catchupPolicy: "ONE", budget: 4 });
    let after = input.after;
    const totals = { run: [] as number[], missed: 0, skipped: 0, plans: 0 };
    for (;;) {
      const plan = planFires({ ...input, after });
      totals.run.push(...plan.run);
      totals.missed += plan.missed;
      totals.skipped += plan.skipped;
      totals.plans++;
      if (plan.complete) break;
      after = plan.lastProcessed!;
    }
    expect(isoList(totals.run)).toEqual(["2025-01-01T10:00:00.000Z"]);
    expect(totals).toMatchObject({ missed: 5, skipped: 4, plans: 3 });
  });
});

describe("overlap policy", () => {
  const running = makeJob({ state: "RUNNING" });
  const queued = makeJob({ state: "QUEUED" });

  it("SKIP skips while any job of the schedule is queued or running", () => {
    expect(decideOverlap("SKIP", [])).toEqual({ action: "create", cancel: [], exclusive: true });
    expect(decideOverlap("SKIP", [running])).toMatchObject({ action: "skip", reason: expect.stringContaining(running.id) });
  });

  it("BUFFER_ONE buffers one fire behind a running job, then skips", () => {
    expect(decideOverlap("BUFFER_ONE", [running])).toEqual({ action: "create", cancel: [], exclusive: true });
    expect(decideOverlap("BUFFER_ONE", [running, queued])).toMatchObject({ action: "skip" });
  });

  it("ALLOW always creates, outside any exclusive group", () => {
    expect(decideOverlap("ALLOW", [running, queued])).toEqual({ action: "create", cancel: [], exclusive: false });
  });

  it("CANCEL_PREVIOUS cancels every active job first", () => {
    expect(decideOverlap("CANCEL_PREVIOUS", [running, queued])).toEqual({ action: "create", cancel: [running, queued], exclusive: true });
  });

  it("names exclusive groups per schedule (and per fan-out target)", () => {
    expect(exclusiveGroupOf("s1")).toBe("schedule:s1");
    expect(exclusiveGroupOf("s1", "team-a")).toBe("schedule:s1:team-a");
  });
});

describe("jitter", () => {
  it("is stable per schedule and fire time, below the maximum, and spreads", () => {
    const fire = t("2025-01-01T01:00:00Z");
    const delay = jitterDelayMs("schedule-a", fire, 600_000);
    expect(jitterDelayMs("schedule-a", fire, 600_000)).toBe(delay);
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThan(600_000);
    const delays = new Set(Array.from({ length: 20 }, (_, i) => jitterDelayMs("schedule-a", fire + i * HOUR, 600_000)));
    expect(delays.size).toBeGreaterThan(15);
    expect(jitterDelayMs("schedule-b", fire, 600_000)).not.toBe(delay);
    expect(jitterDelayMs("schedule-a", fire, 0)).toBe(0);
  });
});

describe("SCHEDULES_FILE parsing", () => {
  it("reads proto JSON (either naming), enums by name and durations as text or messages", () => {
    const [spec] = parseDeclaredSchedules(JSON.stringify([{
      name: "nightly",
      cron: "0 3 * * *",
      time_zone: "Europe/Berlin",
      overlapPolicy: "OVERLAP_POLICY_ALLOW",
      catchup_policy: "CATCHUP_POLICY_ONE",
      catchupWindow: "2h",
      jitter: { seconds: 30 },
      jobTemplate: { timer: { duration: "1.5s", timerName: "nightly" } },
    }]));
    expect(spec).toMatchObject({
      name: "nightly", cron: "0 3 * * *", timeZone: "Europe/Berlin",
      overlapPolicy: OverlapPolicy.OVERLAP_POLICY_ALLOW, catchupPolicy: CatchupPolicy.CATCHUP_POLICY_ONE,
      catchupWindow: { seconds: 7200, nanos: 0 }, jitter: { seconds: 30, nanos: 0 },
    });
    expect(spec.jobTemplate?.spec).toEqual({ $case: "timer", value: { duration: { seconds: 1, nanos: 500_000_000 }, timerName: "nightly", completionCallbackUrl: "" } });
  });

  it("names SCHEDULES_FILE and the entry in its errors", () => {
    expect(() => parseDeclaredSchedules("{")).toThrow(/^SCHEDULES_FILE: must be JSON/);
    expect(() => parseDeclaredSchedules("{}")).toThrow(/^SCHEDULES_FILE: must be a JSON array/);
    expect(() => parseDeclaredSchedules('[{"name":"a","overlapPolicy":"SOMETIMES"}]')).toThrow(/^SCHEDULES_FILE: \[0\]: Unrecognized enum value SOMETIMES/);
    expect(() => parseDeclaredSchedules('[{"name":"a","jitter":"soon"}]')).toThrow('SCHEDULES_FILE: [0].jitter: "soon" is not a duration');
    expect(() => parseDeclaredSchedules('[{"name":"a"},{"name":"a"}]')).toThrow('SCHEDULES_FILE: [1].name: "a" is declared more than once');
  });
});

describe("manual clock", () => {
  it("wakes sleepers in deadline order at their deadlines, and on abort", async () => {
    const clock = new ManualClock("2025-01-01T00:00:00Z");
    const woke: string[] = [];
    const start = clock.now();
    void clock.sleep(2000).then(() => woke.push(`b@${clock.now() - start}`));
    void clock.sleep(1000).then(async () => {
      woke.push(`a@${clock.now() - start}`);
      await clock.sleep(500);
      woke.push(`a2@${clock.now() - start}`);
    });
    const aborted = new AbortController();
    void clock.sleep(10_000, aborted.signal).then(() => woke.push(`c@${clock.now() - start}`));
    await clock.advance(999);
    expect(woke).toEqual([]);
    await clock.advance(1001);
    expect(woke).toEqual(["a@1000", "a2@1500", "b@2000"]);
    aborted.abort();
    await clock.advance(0);
    expect(woke).toEqual(["a@1000", "a2@1500", "b@2000", "c@2000"]);
    expect(clock.pending()).toBe(0);
    await expect(clock.set(start)).rejects.toThrow(/does not go back/);
  });
});
