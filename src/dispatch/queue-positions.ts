import type { JobRecord } from "../jobs/job.js";
import type { JobStore } from "../store/store.js";
import type { Clock } from "./clock.js";

/** Positions beyond this are counted one by one (rare: a very deep queue). */
const INDEXED_POSITIONS = 10_000;

/**
 * Queue positions for GetJobStatus, from one ordered read of the queue shared by
 * every request for `maxAgeMs` (a position may lag the queue by that much), instead
 * of a count over the queue per request. A job the snapshot does not hold yet
 * (it arrived since) refreshes it.
 */
export class QueuePositions {
  private snapshot: { at: number; positions: Map<string, number> } | null = null;
  private loading: Promise<{ at: number; positions: Map<string, number> }> | null = null;

  constructor(
    private readonly store: JobStore,
    private readonly clock: Clock,
    private readonly maxAgeMs = 250,
  ) {}

  async positionOf(job: JobRecord): Promise<number> {
    const now = this.clock.now();
    const known = this.cachedPositionOf(job, now);
    if (known !== undefined) return known;
    const snapshot = await this.refresh(now);
    return snapshot.positions.get(job.id) ?? this.store.queuePosition(job, now);
  }

  /** The job's position from the current snapshot when that is fresh and holds it (no I/O), else undefined. */
  cachedPositionOf(job: JobRecord, now = this.clock.now()): number | undefined {
    const snapshot = this.snapshot;
    return snapshot && now - snapshot.at <= this.maxAgeMs ? snapshot.positions.get(job.id) : undefined;
  }

  private refresh(now: number) {
    this.loading ??= this.store.dueQueuedIds(now, INDEXED_POSITIONS).then((ids) => {
      this.snapshot = { at: now, positions: new Map(ids.map((id, i) => [id, i + 1])) };
      this.loading = null;
      return this.snapshot;
    }, (error: unknown) => {
      this.loading = null;
      throw error;
    });
    return this.loading;
  }
}
