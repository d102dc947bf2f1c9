import type { JobRecord } from "../jobs/job.js";
import type { DispatchCursor } from "../store/admission-queries.js";
import type { JobStore } from "../store/store.js";
import type { Clock } from "./clock.js";

/**
 * Positions are exact up to this many jobs ahead; a job further back is shown at
 * QUEUE_POSITION_BOUND + 1 (10,001), which reads "more than 10,000 jobs ahead".
 */
export const QUEUE_POSITION_BOUND = 10_000;

interface Line {
  at: number;
  /** The bound-th due job in dispatch order (null: fewer are due). A job after it is beyond the bound. */
  last: DispatchCursor | null;
}

/** Whether `a` comes after `b` in dispatch order (priority desc, then oldest first, then id). */
function after(a: DispatchCursor, b: DispatchCursor): boolean {
  if (a.priority !== b.priority) return a.priority < b.priority;
  if (a.createdAt !== b.createdAt) return a.createdAt > b.createdAt;
  return a.id > b.id;
}

/**
 * Queue positions for GetJobStatus. Where the bound-th due job stands is read once and shared
 * by every request for `maxAgeMs` (so "beyond the bound" may lag the queue by that much): a job
 * behind it is answered from memory, which is nearly every job of a deep queue; a job ahead of
 * it is counted, a count the bound caps (an index range of at most `bound` entries).
 * The line is read again in the background once it is older than `refreshAfterMs` (a request
 * using it starts that read, and is answered from the line still fresh), so while requests keep
 * coming none of them waits for the read (a scan of `bound` index entries, ~5 ms at 1M jobs on
 * PostgreSQL); only the first request after a quiet spell longer than `maxAgeMs` does.
 */
export class QueuePositions {
  private line: Line | null = null;
  private loading: Promise<Line> | null = null;

  constructor(
    private readonly store: JobStore,
    private readonly clock: Clock,
    private readonly maxAgeMs = 250,
    private readonly bound = QUEUE_POSITION_BOUND,
    private readonly refreshAfterMs = maxAgeMs / 2,
  ) {}

  /** 1-based position among due jobs (bound + 1 beyond the bound); 0 for a job not due yet (it has no place in the line). */
  async positionOf(job: JobRecord): Promise<number> {
    const now = this.clock.now();
    const known = this.cachedPositionOf(job, now);
    if (known !== undefined) return known;
    const line = await this.refresh(now);
    if (line.last && after(job, line.last)) return this.bound + 1;
    return this.store.queuePosition(job, now, this.bound);
  }

  /** The job's position when it is known without I/O (not due, or behind a fresh line), else undefined. */
  cachedPositionOf(job: JobRecord, now = this.clock.now()): number | undefined {
    if (job.runAt > now) return 0;
    const line = this.line;
    if (!line || now - line.at > this.maxAgeMs) return undefined;
    // A failed read in the background is retried by the next request that needs the line.
    if (now - line.at > this.refreshAfterMs && !this.loading) this.load(now).catch(() => undefined);
    if (line.last && after(job, line.last)) return this.bound + 1;
    return undefined;
  }

  private refresh(now: number): Promise<Line> {
    const line = this.line;
    if (line && now - line.at <= this.maxAgeMs) return Promise.resolve(line);
    return this.load(now);
  }

  private load(now: number): Promise<Line> {
    this.loading ??= this.store.nthDueQueued(now, this.bound).then((last) => (this.line = { at: now, last })).finally(() => {
      this.loading = null;
    });
    return this.loading;
  }
}
