// The system resolver's bounds, with the name lookup replaced by one the test answers (no DNS):
// one lookup per name at a time whoever asks, a time limit per caller, and a bound on names in
// flight, so a slow or dead DNS cannot pile lookups up behind libuv's thread pool.
import { describe, expect, it } from "vitest";
import { boundedResolver } from "../src/shared/egress/resolver.js";

/** A lookup that answers only when the test says so, counting the calls per name. */
function heldLookup() {
  const calls = new Map<string, number>();
  const answers: Array<{ host: string; answer: (addresses: string[]) => void }> = [];
  const resolve = (host: string) => {
    calls.set(host, (calls.get(host) ?? 0) + 1);
    return new Promise<string[]>((answer) => answers.push({ host, answer }));
  };
  return { resolve, calls, answerAll: (addresses: string[]) => answers.splice(0).forEach((a) => a.answer(addresses)) };
}

const codeOf = (promise: Promise<unknown>) => promise.then(() => "resolved", (error: NodeJS.ErrnoException) => error.code);

describe("boundedResolver", () => {
  it("asks once per name while a lookup is in flight, however many callers wait or gave up", async () => {
    const dns = heldLookup();
    const resolver = boundedResolver(dns.resolve, { timeoutMs: 20 });
    const first = await Promise.all(Array.from({ length: 200 }, (_, i) => codeOf(resolver.lookup(`team-${i % 5}.example`))));
    expect(first.every((code) => code === "DNS_TIMEOUT")).toBe(true);
    const second = await Promise.all(Array.from({ length: 200 }, (_, i) => codeOf(resolver.lookup(`team-${i % 5}.example`))));
    expect(second.every((code) => code === "DNS_TIMEOUT")).toBe(true);
    expect([...dns.calls.values()]).toEqual([1, 1, 1, 1, 1]);
    // Once answered, the next caller starts a fresh lookup and gets its answer.
    dns.answerAll(["203.0.113.9"]);
    await new Promise((resolve) => setImmediate(resolve));
    const late = resolver.lookup("team-0.example");
    dns.answerAll(["203.0.113.10"]);
    expect(await late).toEqual(["203.0.113.10"]);
    expect(dns.calls.get("team-0.example")).toBe(2);
  });

  it("refuses a lookup of another name at once (DNS_BUSY) while the bound of names in flight is reached; answers free the slots", async () => {
    const dns = heldLookup();
    const resolver = boundedResolver(dns.resolve, { timeoutMs: 20, maxPending: 3 });
    const codes = await Promise.all(Array.from({ length: 10 }, (_, i) => codeOf(resolver.lookup(`app-${i}.example`))));
    expect(codes).toEqual(["DNS_TIMEOUT", "DNS_TIMEOUT", "DNS_TIMEOUT", ...Array(7).fill("DNS_BUSY")]);
    expect(dns.calls.size).toBe(3);
    // A name already in flight still joins its lookup.
    expect(await codeOf(resolver.lookup("app-1.example"))).toBe("DNS_TIMEOUT");
    dns.answerAll(["203.0.113.1"]);
    await new Promise((resolve) => setImmediate(resolve));
    const next = resolver.lookup("app-9.example");
    dns.answerAll(["203.0.113.2"]);
    expect(await next).toEqual(["203.0.113.2"]);
  });

  it("a failed lookup is reported to every caller waiting on it, and is not kept", async () => {
    let calls = 0;
    const resolver = boundedResolver(async () => {
      calls++;
      throw Object.assign(new Error("no such name"), { code: "ENOTFOUND" });
    }, { timeoutMs: 1000 });
    expect(await Promise.all([codeOf(resolver.lookup("gone.example")), codeOf(resolver.lookup("gone.example"))])).toEqual(["ENOTFOUND", "ENOTFOUND"]);
    expect(await codeOf(resolver.lookup("gone.example"))).toBe("ENOTFOUND");
    expect(calls).toBe(2);
  });
});
