import type { JobRecord } from "../../jobs/job.js";

/** Makes `value` and everything it holds read-only, so a shared record cannot be changed by one reader for all. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

/**
 * What one cached row costs, in bytes, from the text of its row: its strings held as the
 * record's (UTF-16 at worst), the API's Job message sharing them and its encoding (mapping.ts
 * keeps both while the record lives), plus the objects around them (measured: ~1.5 KiB for a
 * job with a few labels and params).
 */
export function rowCost(textLength: number): number {
  return 1536 + 3 * textLength;
}

/**
 * The most recently read job rows, as the store read them (so a hit returns exactly what a
 * read would), deep-frozen because every reader gets the same object. Exact only while this
 * store writes its file alone: the store drops a job's entry after each write of that job.
 * Bounded by bytes, not entries: a finished job with its output tail and result weighs tens of
 * times a queued one.
 */
export class JobCache {
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently
  // used entry first.
  private readonly records = new Map<string, { record: JobRecord; cost: number }>();
  private bytes = 0;

  constructor(private readonly capacityBytes: number) {}

  get(id: string): JobRecord | undefined {
    const entry = this.records.get(id);
    if (entry) {
      this.records.delete(id);
      this.records.set(id, entry);
    }
    return entry?.record;
  }

  /** Caches a record as read from the store (`cost`: see rowCost); returns the frozen record to hand out. */
  remember(record: JobRecord, cost: number): JobRecord {
    this.forget(record.id);
    if (cost > this.capacityBytes / 8) return deepFreeze(record);
    this.records.set(record.id, { record: deepFreeze(record), cost });
    this.bytes += cost;
    while (this.bytes > this.capacityBytes) this.forget(this.records.keys().next().value!);
    return record;
  }

  forget(id: string): void {
    const entry = this.records.get(id);
    if (!entry) return;
    this.records.delete(id);
    this.bytes -= entry.cost;
  }

  /** The cached rows' cost, in bytes. */
  get size(): number {
    return this.bytes;
  }

  get count(): number {
    return this.records.size;
  }

}
