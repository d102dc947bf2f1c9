import type { JobRecord } from "../jobs/job.js";
import type { JobStore } from "../store/store.js";
import type { Clock } from "./clock.js";

/**
 * Positions are exact up to this many jobs ahead; a job further back is shown at
 * QUEUE_POSITION_BOUND + 1 (10,001), which reads "more than 10,000 jobs ahead".
 */
export const QUEUE_POSITION_BOUND = 10_000;

interface Snapshot {
  at: number;
  positions: Map<string, number>;
  /** The last job of a full snapshot (the bound-th due job): anything after it is beyond the bound. */
  last: JobRecord | null;
}

/** Whether `a` comes after `b` in dispatch order (priority desc, then oldest first, then id). */
function after(a: Pick<JobRecord, "priority" | "createdAt" | "id">, b: Pick<JobRecord, "priority" | "createdAt" | "id">): boolean {
  if (a.priority !== b.priority) return a.priority < b.priority;
  if (a.createdAt !== b.createdAt) return a.createdAt > b.createdAt;
  return a.id > b.id;
}

/**
 * Queue positions for GetJobStatus, from one ordered read of the first `bound` due jobs
 * shared by every request for `maxAgeMs` (a position may lag the queue by that much),
 * instead of a count over the queue per request. A job behind the snapshot's last
 * entry is beyond the bound (answered from memory); a job the snapshot does not hold
 * yet (it arrived since, ahead of the last entry) refreshes it, then is counted with
 * a bounded count.
 */
export class QueuePositions {
  private snapshot: Snapshot | null = null;
  private loading: Promise<Snapshot> | null = null;

  constructor(
    private readonly store: JobStore,
    private readonly clock: Clock,
    private readonly maxAgeMs = 250,
    private readonly bound = QUEUE_POSITION_BOUND,
  ) {}

  /** 1-based position among due jobs; 0 for a job not due yet (it has no place in the line). */
  async positionOf(job: JobRecord): Promise<number> {
    const now = this.clock.now();
    if (job.runAt > now) return 0;
    const known = this.cachedPositionOf(job, now);
    if (known !== undefined) return known;
    const snapshot = await this.refresh(now);
    return this.fromSnapshot(snapshot, job) ?? this.store.queuePosition(job, now, this.bound);
  }

  /** The job's position from the current snapshot when that is fresh and answers it (no I/O), else undefined. */
  cachedPositionOf(job: JobRecord, now = this.clock.now()): number | undefined {
    if (job.runAt > now) return 0;
    const snapshot = this.snapshot;
    return snapshot && now - snapshot.at <= this.maxAgeMs ? this.fromSnapshot(snapshot, job) : undefined;
  }

  private fromSnapshot(snapshot: Snapshot, job: JobRecord): number | undefined {
    const position = snapshot.positions.get(job.id);
    if (position !== undefined) return position;
    return snapshot.last && after(job, snapshot.last) ? this.bound + 1 : undefined;
  }

  private refresh(now: number): Promise<Snapshot> {
    this.loading ??= this.load(now).finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  private async load(now: number): Promise<Snapshot> {
    const ids = await this.store.dueQueuedIds(now, this.bound);
    // The last entry's order key, read only when the snapshot is full (the queue is longer than the bound).
    const last = ids.length === this.bound ? await this.store.getJob(ids[ids.length - 1]) : null;
    this.snapshot = { at: now, positions: new Map(ids.map((id, i) => [id, i + 1])), last };
    return this.snapshot;
  }
}
