// Replicas sharing a PostgreSQL store hear each other's commits (store/postgres/job-feed.ts):
// - a transition of a job someone here follows (WatchJob on a follower, a cancel waiting for the
//   end) is read from the rows and published to its subscribers, every event in sequence order;
//   a feed that was down re-reads what its followed jobs missed;
// - any other job change wakes the dispatcher (a job scheduled on a follower is admitted at once);
// - a cancel requested on a follower reaches the leader, whose runtime stops the run;
// - a change of the dispatch settings (pause, limits) is loaded by every replica.
import type { Logger } from "pino";
import { isTerminal, type JobEventRecord, type JobRecord } from "../jobs/job.js";
import type { JobEvents } from "../jobs/job-events.js";
import { KeyedSerial } from "../shared/keyed-serial.js";
import type { JobNotice } from "../store/postgres/job-feed.js";
import type { JobStore } from "../store/store.js";

export interface ReplicaEventHandlers {
  /** Another replica created or changed a job. */
  jobChanged(): void;
  cancelRequested(jobId: string): void;
  settingsChanged(): void;
  schedulesChanged(): void;
}

export class ReplicaEvents {
  private readonly serial = new KeyedSerial();
  /** The last sequence published per followed job. */
  private readonly published = new Map<string, number>();
  private feed?: { close(): Promise<void> };

  constructor(
    private readonly store: JobStore,
    private readonly events: JobEvents,
    private readonly handlers: ReplicaEventHandlers,
    private readonly logger: Logger,
  ) {}

  /** Listens (stores shared by replicas only); resolves once listening. */
  async start(): Promise<void> {
    if (!this.store.listen) return;
    this.feed = await this.store.listen({ notice: (notice) => this.onNotice(notice), resync: () => this.resync() });
  }

  async stop(): Promise<void> {
    await this.feed?.close();
  }

  private onNotice(notice: JobNotice): void {
    switch (notice.kind) {
      case "settings":
        this.handlers.settingsChanged();
        return;
      case "schedules":
        this.handlers.schedulesChanged();
        return;
      case "cancel":
        this.handlers.cancelRequested(notice.jobId);
        return;
      case "transition":
        this.handlers.jobChanged();
        if (this.events.isFollowed(notice.jobId)) void this.catchUp(notice.jobId, notice.sequence);
        else this.published.delete(notice.jobId);
    }
  }

  private resync(): void {
    this.handlers.jobChanged();
    this.handlers.settingsChanged();
    this.handlers.schedulesChanged();
    for (const jobId of this.events.followedJobs()) void this.catchUp(jobId, Number.MAX_SAFE_INTEGER);
  }

  /** Publishes the job's events up to `sequence` (all stored, when larger) that were not published yet. */
  private catchUp(jobId: string, sequence: number): Promise<void> {
    return this.serial.run(jobId, async () => {
      const last = this.published.get(jobId) ?? sequence - 1;
      if (last >= sequence) return;
      try {
        const [events, job] = await Promise.all([this.store.listEvents(jobId, last), this.store.getJob(jobId)]);
        if (!job) return;
        let sent = last;
        for (const event of events) {
          if (event.sequence > job.sequence) break;
          this.events.publishRemote({ job: asOf(job, event), event });
          sent = event.sequence;
        }
        if (this.events.isFollowed(jobId) && !isTerminal(job.state)) this.published.set(jobId, sent);
        else this.published.delete(jobId);
      } catch (error) {
        this.logger.warn({ err: error, jobId }, "could not read a job another replica changed");
      }
    });
  }
}

/** The job as it was at `event` (the row holds its latest state; earlier events show their own state). */
function asOf(job: JobRecord, event: JobEventRecord): JobRecord {
  if (event.sequence === job.sequence) return job;
  return { ...job, state: event.state, reason: event.reason, message: event.message, attempt: event.attempt, sequence: event.sequence, updatedAt: event.at };
}
