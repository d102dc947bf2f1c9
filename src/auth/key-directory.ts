// Every API key the service accepts: those stored (created through the API, or generated at
// the first start) and those declared in API_KEYS_FILE (held in memory; the file is their
// record). Lookups by id are cached: an entry is trusted for at most REFRESH_MS after the
// read that filled it began, so a revocation (or a new key) made anywhere is seen within a
// second; one made through this process is seen at once. Last uses are noted in memory and
// written every few seconds, never once per call.
import type { Logger } from "pino";
import type { ApiKeyRecord, AuthStore } from "../store/auth-store.js";
import type { Principal, Role } from "./principal.js";

/** How old a cached key may be: revocation is effective within this. */
export const REFRESH_MS = 1000;
/** Cached ids at most (unknown ids included, so a flood of made-up keys cannot grow it). */
const MAX_ENTRIES = 10_000;
const TOUCH_INTERVAL_MS = 5000;

/** A key as authentication uses it: the record, its principal (made once) and its hash as bytes. */
export interface KnownKey {
  record: ApiKeyRecord;
  principal: Principal;
  hash: Buffer;
}

interface Entry {
  key: KnownKey | null;
  /** performance.now() when the read that filled the entry began. */
  readAt: number;
  pending?: Promise<KnownKey | null>;
}

export function principalOf(record: ApiKeyRecord): Principal {
  return {
    id: record.id,
    name: record.name,
    kind: "api-key",
    role: record.role as Role,
    ...(record.team ? { team: record.team } : {}),
    allowInlineScripts: record.allowInlineScripts,
  };
}

function known(record: ApiKeyRecord): KnownKey {
  return { record, principal: principalOf(record), hash: Buffer.from(record.keyHash, "hex") };
}

export class KeyDirectory {
  private readonly cache = new Map<string, Entry>();
  private readonly declared: Map<string, KnownKey>;
  private readonly used = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly store: AuthStore,
    declared: readonly ApiKeyRecord[],
    private readonly logger: Logger,
  ) {
    this.declared = new Map(declared.map((record) => [record.id, known(record)]));
  }

  /** The key with this id, from the cache when fresh enough (synchronously), else read. */
  lookup(id: string): KnownKey | null | Promise<KnownKey | null> {
    const fromFile = this.declared.get(id);
    if (fromFile) return fromFile;
    const entry = this.cache.get(id);
    if (entry) {
      const age = performance.now() - entry.readAt;
      if (age < REFRESH_MS) {
        // Read again meanwhile, so that a key in use is never older than REFRESH_MS and no call waits for the read.
        if (age >= REFRESH_MS / 2 && !entry.pending) this.read(id, entry).catch(() => undefined);
        return entry.key;
      }
      if (entry.pending) return entry.pending;
    }
    return this.read(id, entry);
  }

  private read(id: string, entry: Entry | undefined): Promise<KnownKey | null> {
    const readAt = performance.now();
    const target: Entry = entry ?? { key: null, readAt: -Infinity };
    if (!entry) this.remember(id, target);
    const pending = this.store.getApiKey(id).then(
      (record) => {
        const key = record ? known(record) : null;
        // Unless forgotten meanwhile (a change made here): what was read before it may be stale.
        if (this.cache.get(id) === target) this.remember(id, { key, readAt });
        return key;
      },
      (error: unknown) => {
        // A failed read leaves the entry stale: the next call reads again.
        delete target.pending;
        throw error;
      },
    );
    target.pending = pending;
    return pending;
  }

  private remember(id: string, entry: Entry): void {
    this.cache.delete(id);
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(id, entry);
  }

  /** Drops a key from the cache: the next call reads it (after a change made here). */
  forget(id: string): void {
    this.cache.delete(id);
  }

  /** The key as recorded now (no cache): for scope checks of key management, which are rare. */
  async find(id: string): Promise<ApiKeyRecord | null> {
    return this.declared.get(id)?.record ?? (await this.store.getApiKey(id));
  }

  /** Keys declared in API_KEYS_FILE, for ListApiKeys. */
  declaredKeys(): ApiKeyRecord[] {
    return [...this.declared.values()].map((k) => k.record);
  }

  isDeclared(id: string): boolean {
    return this.declared.has(id);
  }

  /** Notes a use; written by the next flush. */
  touch(id: string, at: number): void {
    if (!this.declared.has(id)) this.used.set(id, at);
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), TOUCH_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  async flush(): Promise<void> {
    if (this.used.size === 0) return;
    const uses = [...this.used].map(([id, at]) => ({ id, at }));
    this.used.clear();
    try {
      await this.store.touchApiKeys(uses);
    } catch (error) {
      this.logger.warn({ err: error }, "recording API key last uses failed");
    }
  }
}
