import { describe, expect, it } from "vitest";
import { JOB_ID, newJobId } from "../src/jobs/ids.js";

describe("job ids", () => {
  it("are UUIDv7 carrying the creation millisecond", () => {
    const now = Date.UTC(2026, 10, 23, 12, 0, 0, 123);
    const id = newJobId(now);
    expect(id).toMatch(JOB_ID);
    expect(id[14]).toBe("7");
    expect("89ab").toContain(id[19]);
    expect(parseInt(id.replace(/-/g, "").slice(0, 12), 16)).toBe(now);
  });

  it("sort in the order they were made, also many within one millisecond", () => {
    const now = Date.now() + 60_000;
    const ids = Array.from({ length: 10_000 }, () => newJobId(now));
    for (let i = 1; i < ids.length; i++) expect(ids[i] > ids[i - 1]).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // The next millisecond's ids still come after all of them.
    expect(newJobId(now + 1) > ids.at(-1)!).toBe(true);
  });

  it("never go backwards when the clock does", () => {
    const later = newJobId(Date.now() + 120_000);
    expect(newJobId(Date.now()) > later).toBe(true);
  });
});
