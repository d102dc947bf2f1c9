// canonicalJson feeds the stored request hash that tells a repeated ScheduleJob from a key reused
// for another request, so its output must stay byte for byte what the first version produced.
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../src/api/validation.js";

/** The first implementation, kept as the reference. */
function referenceCanonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(referenceCanonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${referenceCanonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Deterministic pseudo-random values (mulberry32), so a failure can be replayed. */
function generator(seed: number) {
  let state = seed;
  const next = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
  const keys = ["a", "b", "B", "_", "10", "2", "é", "ü", "日本", "\"quote\"", "line\nbreak", "emoji 😀", "", "z", "aa"];
  const scalars = [0, -0, 1, -1.5, 1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, "", "text", "ü\u0000\u001f", "\ud800", true, false, null, undefined];
  const value = (depth: number): unknown => {
    const kind = depth > 3 ? 0 : Math.floor(next() * 4);
    if (kind === 0 || kind === 1) return pick(scalars);
    if (kind === 2) return Array.from({ length: Math.floor(next() * 4) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(next() * 6) }, () => [pick(keys), value(depth + 1)]));
  };
  return value;
}

describe("canonicalJson", () => {
  it("sorts keys, leaves out undefined members and writes arrays in order", () => {
    expect(canonicalJson({ b: 1, a: [3, undefined, { d: undefined, c: "x" }], u: undefined })).toBe('{"a":[3,,{"c":"x"}],"b":1}');
  });

  it.each([
    ["a request-shaped object", {
      type: "timer", name: "bench", labels: { suite: "bench", "app.kubernetes.io/name": "x" }, timeoutMs: 60_000,
      params: { timerName: "t", durationMs: 1000, completionCallbackUrl: "" }, runAt: null, retryPolicy: { jitter: 0.2, retryOnTimeout: false },
    }],
    ["a date and boxed values", { when: new Date(0), boxed: Object("s"), n: Object(1) }],
    ["sparse arrays", [1, , 3]], // eslint-disable-line no-sparse-arrays
    ["scalars at the top", "plain"],
  ])("matches the reference for %s", (_, value) => {
    expect(canonicalJson(value)).toBe(referenceCanonicalJson(value));
  });

  it("matches the reference on many generated values", () => {
    const value = generator(20_240_601);
    for (let i = 0; i < 5000; i++) {
      const input = value(0);
      expect(canonicalJson(input)).toBe(referenceCanonicalJson(input));
    }
  });
});
