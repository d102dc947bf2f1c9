// The API key cache (src/auth/key-directory.ts): a key in use is read again before its entry is
// REFRESH_MS old, so no call waits for that read; a change made here is never overwritten by
// a read that began before it.
import pino from "pino";
import { describe, expect, it, vi } from "vitest";
import { KeyDirectory, REFRESH_MS } from "../src/auth/key-directory.js";
import type { ApiKeyRecord, AuthStore } from "../src/store/auth-store.js";

function record(id: string, role = "viewer"): ApiKeyRecord {
  return {
    id, name: id, role, team: null, allowInlineScripts: false, keyHash: "00".repeat(32), source: "api",
    createdBy: null, createdAt: 0, expiresAt: null, revokedAt: null, lastUsedAt: null,
  } as ApiKeyRecord;
}

/** A store whose getApiKey answers from `keys`, when `release` is called if `held`. */
function fakeStore(keys: Map<string, ApiKeyRecord>) {
  const state = { reads: 0, held: false, waiting: [] as (() => void)[] };
  const store = {
    async getApiKey(id: string) {
      state.reads++;
      const answer = keys.get(id) ?? null;
      if (state.held) await new Promise<void>((resolve) => state.waiting.push(resolve));
      return answer;
    },
  } as unknown as AuthStore;
  return { store, state, release: () => state.waiting.splice(0).forEach((resolve) => resolve()) };
}

describe("KeyDirectory", () => {
  it("reads a key in use again in the background: no lookup waits, none answers from a read older than REFRESH_MS", async () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      const keys = new Map([["k1", record("k1")]]);
      const { store, state } = fakeStore(keys);
      const directory = new KeyDirectory(store, [], pino({ level: "silent" }));
      expect((await directory.lookup("k1"))?.principal.role).toBe("viewer");
      expect(state.reads).toBe(1);
      keys.set("k1", record("k1", "admin"));
      let waited = 0;
      const roles: string[] = [];
      for (let ms = 0; ms <= 2 * REFRESH_MS; ms += 20) {
        const found = directory.lookup("k1");
        if (found instanceof Promise) waited++;
        else roles.push(found!.principal.role);
        vi.advanceTimersByTime(20);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(waited).toBe(0);
      // The change is seen from the first read made after it: half REFRESH_MS in.
      expect(roles.indexOf("admin")).toBe(REFRESH_MS / 2 / 20 + 1);
      // One read per half REFRESH_MS while in use.
      expect(state.reads).toBe(1 + 4);
    } finally {
      vi.useRealTimers();
    }
  });

  it("keeps nothing of a read that began before forget() (a change made here)", async () => {
    const keys = new Map([["k1", record("k1")]]);
    const { store, state, release } = fakeStore(keys);
    const directory = new KeyDirectory(store, [], pino({ level: "silent" }));
    state.held = true;
    const first = directory.lookup("k1");
    expect(first).toBeInstanceOf(Promise);
    // Revoked here while the read is under way: the key is gone from the store, and forgotten.
    keys.delete("k1");
    directory.forget("k1");
    release();
    expect((await first)?.record.id).toBe("k1");
    state.held = false;
    const next = directory.lookup("k1");
    expect(next).toBeInstanceOf(Promise);
    expect(await next).toBeNull();
  });
});
