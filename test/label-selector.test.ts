import { describe, expect, it } from "vitest";
import {
  LabelSelectorError, matchesLabels, MAX_SELECTOR_LENGTH, MAX_SELECTOR_REQUIREMENTS, MAX_SELECTOR_SET_VALUES, parseLabelSelector, type LabelRequirement,
} from "../src/store/label-selector.js";

describe("parseLabelSelector", () => {
  it("reads an empty or blank selector as no requirements", () => {
    expect(parseLabelSelector("")).toEqual([]);
    expect(parseLabelSelector("   ")).toEqual([]);
  });

  it.each<[string, LabelRequirement[]]>([
    ["app=web", [{ key: "app", op: "=", values: ["web"] }]],
    ["app==web", [{ key: "app", op: "=", values: ["web"] }]],
    ["app!=web", [{ key: "app", op: "!=", values: ["web"] }]],
    ["app=", [{ key: "app", op: "=", values: [""] }]],
    ["app in (web,api)", [{ key: "app", op: "in", values: ["web", "api"] }]],
    ["app notin (web)", [{ key: "app", op: "notin", values: ["web"] }]],
    ["app", [{ key: "app", op: "exists", values: [] }]],
    ["!app", [{ key: "app", op: "!exists", values: [] }]],
    ["example.com/team=core", [{ key: "example.com/team", op: "=", values: ["core"] }]],
    ["app.kubernetes.io/name in (My_App-1.2)", [{ key: "app.kubernetes.io/name", op: "in", values: ["My_App-1.2"] }]],
  ])("parses %j", (selector, expected) => {
    expect(parseLabelSelector(selector)).toEqual(expected);
  });

  it("tolerates whitespace around terms, operators and list items", () => {
    expect(parseLabelSelector("  app = web ,tier   in ( a ,  b ) , ! gone ,  present  ,x != y")).toEqual([
      { key: "app", op: "=", values: ["web"] },
      { key: "tier", op: "in", values: ["a", "b"] },
      { key: "gone", op: "!exists", values: [] },
      { key: "present", op: "exists", values: [] },
      { key: "x", op: "!=", values: ["y"] },
    ]);
  });

  it("splits on commas outside parentheses only", () => {
    expect(parseLabelSelector("a in (x,y),b notin (z, w),c")).toEqual([
      { key: "a", op: "in", values: ["x", "y"] },
      { key: "b", op: "notin", values: ["z", "w"] },
      { key: "c", op: "exists", values: [] },
    ]);
  });

  it.each([
    ["app=web,", /empty requirement/],
    [",app=web", /empty requirement/],
    ["a=b,,c=d", /empty requirement/],
    ["app in ()", /"app in \(\)" needs a non-empty value list/],
    ["app in (a,,b)", /"app in \(a,,b\)" needs a non-empty value list/],
    ["app in (a", /cannot parse "app in \(a"/],
    ["app between (a)", /cannot parse "app between \(a\)"/],
    ["app=web=x", /"web=x" is not a valid label value/],
    ["!app=web", /cannot parse "!app=web"/],
    ["-app=web", /"-app" is not a valid label key/],
    ["Example.com/team=x", /"Example.com\/team" is not a valid label key/],
    ["team/=x", /"team\/" is not a valid label key/],
    ["a/b/c", /"a\/b\/c" is not a valid label key/],
    [`${"k".repeat(64)}=v`, /has a name longer than 63 characters/],
    [`${"p".repeat(254)}/k=v`, /prefix "p{100}…\(254 bytes\)" is longer than 253 characters/],
    [`${"k".repeat(5000)}=v`, /^label key "k{100}…\(5000 bytes\)" is longer than 317 characters$/],
    [`app in (${"x".repeat(300)}`, /^cannot parse "app in \(x{92}…\(308 bytes\)"$/],
    ["app=web-", /"web-" is not a valid label value/],
    ["app in (ok, bad!)", /"bad!" is not a valid label value/],
    [`app=${"v".repeat(64)}`, /label value "v{20}\.\.\." is longer than 63 characters/],
  ])("rejects %j, naming the bad part", (selector, message) => {
    expect(() => parseLabelSelector(selector)).toThrow(LabelSelectorError);
    expect(() => parseLabelSelector(selector)).toThrow(message);
  });

  it("is bounded: length, requirements, values per set (each past its limit is refused, naming the limit)", () => {
    const requirements = (n: number) => Array.from({ length: n }, (_, i) => `k${i}`).join(",");
    const set = (n: number) => `a in (${Array.from({ length: n }, (_, i) => `v${i}`).join(",")})`;
    expect(parseLabelSelector(requirements(MAX_SELECTOR_REQUIREMENTS))).toHaveLength(MAX_SELECTOR_REQUIREMENTS);
    expect(() => parseLabelSelector(requirements(MAX_SELECTOR_REQUIREMENTS + 1))).toThrow(`has 65 requirements; at most 64 are allowed`);
    expect(parseLabelSelector(set(MAX_SELECTOR_SET_VALUES))[0].values).toHaveLength(MAX_SELECTOR_SET_VALUES);
    expect(() => parseLabelSelector(set(MAX_SELECTOR_SET_VALUES + 1))).toThrow(/lists 257 values; at most 256 are allowed/);
    const long = `a=${"v".repeat(MAX_SELECTOR_LENGTH)}`;
    expect(() => parseLabelSelector(long)).toThrow(`is ${long.length} characters long; at most ${MAX_SELECTOR_LENGTH} are allowed`);
  });

  it("accepts names and values at the length limits", () => {
    expect(parseLabelSelector(`${"k".repeat(63)}=${"v".repeat(63)}`)).toHaveLength(1);
  });
});

describe("matchesLabels", () => {
  const labels = { app: "web", tier: "frontend", empty: "" };
  const matches = (selector: string, on: Record<string, string> = labels) => matchesLabels(on, parseLabelSelector(selector));

  it("matches everything with no requirements", () => {
    expect(matches("")).toBe(true);
    expect(matches("", {})).toBe(true);
  });

  it.each([
    ["app=web", true],
    ["app=api", false],
    ["missing=web", false],
    ["empty=", true],
    ["missing=", false],
    ["app!=api", true],
    ["app!=web", false],
    ["missing!=web", true],
    ["app in (api, web)", true],
    ["app in (api)", false],
    ["missing in (web)", false],
    ["app notin (api)", true],
    ["app notin (web)", false],
    ["missing notin (web)", true],
    ["app", true],
    ["empty", true],
    ["missing", false],
    ["!missing", true],
    ["!app", false],
    ["app=web,tier=frontend", true],
    ["app=web,tier=backend", false],
  ])("%j → %s", (selector, expected) => {
    expect(matches(selector)).toBe(expected);
  });

  it("does not treat inherited object properties as labels", () => {
    expect(matches("constructor", {})).toBe(false);
    expect(matches("toString!=x", {})).toBe(true);
  });
});
