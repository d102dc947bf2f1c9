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
 * The most recently read job rows, as the store read them (so a hit returns exactly what a
 * read would), deep-frozen because every reader gets the same object. Exact only while this
 * store writes its file alone: the store drops a job's entry after each write of that job.
 */
export class JobCache {
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently
  // used entry first.
  private readonly records = new Map<string, JobRecord>();

  constructor(private readonly capacity: number) {}

  get(id: string): JobRecord | undefined {
    const record = this.records.get(id);
    if (record) {
      this.records.delete(id);
      this.records.set(id, record);
    }
    return record;
  }

  /** Caches a record as read from the store; returns the frozen record to hand out. */
  remember(record: JobRecord): JobRecord {
    this.records.delete(record.id);
    this.records.set(record.id, deepFreeze(record));
    if (this.records.size > this.capacity) this.records.delete(this.records.keys().next().value!);
    return record;
  }

  forget(id: string): void {
    this.records.delete(id);
  }

  get size(): number {
    return this.records.size;
  }
}
