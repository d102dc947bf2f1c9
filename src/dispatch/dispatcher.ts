import type { Logger } from "pino";
import { Reason, type JobRecord } from "../jobs/job.js";
import type { JobRegistry } from "../jobs/registry.js";
import { workloadFor } from "../jobs/workload.js";
import type { Runtime } from "../runtime/runtime.js";
import type { ActiveCounts, DispatchCursor } from "../store/admission-queries.js";
import type { JobStore } from "../store/store.js";
import { systemClock, type Clock } from "./clock.js";
import type { JobLifecycle } from "./lifecycle.js";
import { admissionBlocker, countAdmitted, type Blocker, type DispatchLimits } from "./limits.js";
import type { LimitsStore } from "./limits-store.js";
import { SOLE_TERM, type Term } from "../leadership/term.js";

const PAUSED_SETTING = "dispatch.paused";
/** Queued jobs read per query while looking for ones the limits let through. */
const MAX_CANDIDATE_PAGE = 256;
/** Bound on the backlog scanned per pass, so a pass never takes long. */
const MAX_SCANNED_PER_PASS = 4096;
/**
 * How long the counts of active runs behind a queued job's waiting reason (GetJobStatus) are
 * shared between requests. The leader also drops them at every wake-up (an admission, a run
 * that ended, a job changed on another replica), so there they lag the runs only while a
 * wake-up is on its way; a follower's are at most that old. Admission always reads the store.
 */
const BLOCKER_COUNTS_MAX_AGE_MS = 100;

export interface DispatcherOptions {
  /** Safety net: look for queued work this often even without a wake-up. */
  pollIntervalMs: number;
  clock?: Clock;
  /** Admits only while this replica's term is valid (it leads and renewed in time). */
  term?: Term;
}

export interface DispatchingState {
  paused: boolean;
  pausedReason: string;
  running: number;
  maxRunning: number;
}

export interface AdmissionObserver {
  admitted(job: JobRecord, waitedMs: number): void;
  /** A pass ended (it looked at the due queue, or found dispatching paused). */
  passed(): void;
}

/**
 * Admits QUEUED jobs to the runtime: due ones only (run_at passed), highest
 * priority then oldest first, within the global, per-type, per-key and
 * exclusive-group limits; and fails those whose queue deadline passed. Every
 * decision is made from the store, so a restart loses nothing.
 */
export class Dispatcher {
  private paused = false;
  private pausedReason = "";
  private stopped = true;
  private readonly wakeUps = new Set<AbortController>();
  private loopDone?: Promise<void>;
  private readonly launching = new Set<Promise<void>>();
  /** Launches whose STARTING transition is not stored yet: the next pass's counts must include them. */
  private readonly admitting = new Set<Promise<void>>();
  private readonly clock: Clock;
  private readonly term: Term;
  private observer?: AdmissionObserver;
  private blockerCounts?: { readAt: number; counts: Promise<ActiveCounts> };

  constructor(
    private readonly store: JobStore,
    private readonly registry: JobRegistry,
    private readonly runtime: Runtime,
    private readonly lifecycle: JobLifecycle,
    private readonly limits: LimitsStore,
    private readonly options: DispatcherOptions,
    private readonly logger: Logger,
  ) {
    this.clock = options.clock ?? systemClock;
    this.term = options.term ?? SOLE_TERM;
  }

  observe(observer: AdmissionObserver): void {
    this.observer = observer;
  }

  async start(): Promise<void> {
    await this.reload();
    this.stopped = false;
    this.loopDone = this.loop();
  }

  /** Reads the pause and the limits from the store (another replica changed them). */
  async reload(): Promise<void> {
    const saved = await this.store.getSetting(PAUSED_SETTING);
    this.paused = saved !== null;
    this.pausedReason = saved ?? "";
    await this.limits.load();
    this.wake();
  }

  wake(): void {
    this.blockerCounts = undefined;
    // While paused nothing is admitted; queue deadlines are still checked every poll interval.
    if (this.paused && !this.stopped) return;
    for (const controller of this.wakeUps) controller.abort();
  }

  async pause(reason: string): Promise<DispatchingState> {
    await this.store.setSetting(PAUSED_SETTING, reason);
    this.paused = true;
    this.pausedReason = reason;
    this.logger.info({ reason }, "dispatching paused");
    return this.state();
  }

  async resume(): Promise<DispatchingState> {
    await this.store.setSetting(PAUSED_SETTING, null);
    this.paused = false;
    this.pausedReason = "";
    this.logger.info("dispatching resumed");
    this.wake();
    return this.state();
  }

  async setLimits(limits: DispatchLimits): Promise<DispatchLimits> {
    const saved = await this.limits.set(limits);
    this.logger.info({ limits: saved }, "dispatch limits changed");
    this.wake();
    return saved;
  }

  limitsInForce(): DispatchLimits {
    return this.limits.get();
  }

  state(): DispatchingState {
    return {
      paused: this.paused,
      pausedReason: this.pausedReason,
      running: this.runtime.activeRuns() + this.launching.size,
      maxRunning: this.limits.get().maxRunning,
    };
  }

  /** Why a queued job is not running yet. */
  async blockerOf(job: JobRecord): Promise<Blocker> {
    const known = this.blockerWithoutCounts(job);
    if (known) return known;
    const counts = await this.sharedActiveCounts();
    return admissionBlocker(job, counts, this.limits.get()) ?? { reason: "WAITING_TURN", message: "waiting for the jobs ahead of it" };
  }

  private sharedActiveCounts(): Promise<ActiveCounts> {
    const now = performance.now();
    const held = this.blockerCounts;
    if (held && now - held.readAt <= BLOCKER_COUNTS_MAX_AGE_MS) return held.counts;
    const counts = this.store.activeCounts();
    const entry = { readAt: now, counts };
    this.blockerCounts = entry;
    counts.catch(() => {
      if (this.blockerCounts === entry) this.blockerCounts = undefined;
    });
    return counts;
  }

  /** What holds a queued job when it needs no look at the running jobs (delayed, paused), else null. */
  blockerWithoutCounts(job: JobRecord): Blocker | null {
    const now = this.clock.now();
    if (job.runAt > now) {
      return job.attempt > 1
        ? { reason: "RETRY_BACKOFF", message: `attempt ${job.attempt} starts after ${new Date(job.runAt).toISOString()}` }
        : { reason: "DELAYED", message: `delayed until ${new Date(job.runAt).toISOString()}` };
    }
    if (this.paused) return { reason: "DISPATCH_PAUSED", message: `dispatching is paused: ${this.pausedReason}` };
    return null;
  }

  /** Stops taking new work and waits for launches already under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loopDone;
    await Promise.all(this.launching);
  }

  /** One admission pass; returns how many jobs were launched. Exposed for tests and benchmarks. */
  async pass(): Promise<number> {
    try {
      return await this.admit();
    } finally {
      this.observer?.passed();
    }
  }

  private async admit(): Promise<number> {
    const now = this.clock.now();
    if (!this.term.valid()) return 0;
    await this.failExpired(now);
    if (this.paused) return 0;
    const limits = this.limits.get();
    const counts = await this.store.activeCounts();
    // Launches already under way are STARTING in the store, so the counts include them.
    let launched = 0;
    let scanned = 0;
    let after: DispatchCursor | undefined;
    while (counts.total < limits.maxRunning && scanned < MAX_SCANNED_PER_PASS && !this.stopped && !this.paused && this.term.valid()) {
      // Read about what the free slots can take (a few more, for jobs a limit skips), not the whole backlog.
      const pageSize = Math.min(MAX_CANDIDATE_PAGE, Math.max(16, (limits.maxRunning - counts.total) * 2));
      const page = await this.store.dueQueuedJobs(now, pageSize, after);
      for (const job of page) {
        // The page may have come back after the term ended (a slow store): decide nothing more from it.
        if (counts.total >= limits.maxRunning || this.stopped || !this.term.valid()) break;
        if (admissionBlocker(job, counts, limits)) continue;
        countAdmitted(job, counts);
        this.track(this.launch(job, now));
        launched++;
      }
      scanned += page.length;
      if (page.length < pageSize) break;
      const last = page[page.length - 1];
      after = { priority: last.priority, createdAt: last.createdAt, id: last.id };
    }
    return launched;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const controller = new AbortController();
      this.wakeUps.add(controller);
      try {
        await this.pass();
        // Launches mark jobs STARTING asynchronously; let those writes land before counting again,
        // but not the runtime's starts (a Job create can wait on the API server's rate limits):
        // the next pass fills whatever slots are still free meanwhile.
        await Promise.all(this.admitting);
        const now = this.clock.now();
        const next = await this.store.nextQueueChange(now);
        const wait = next === null ? this.options.pollIntervalMs : Math.min(this.options.pollIntervalMs, Math.max(0, next - now));
        await this.clock.sleep(wait, controller.signal);
      } catch (error) {
        this.logger.error({ err: error }, "dispatching failed; retrying");
        await this.clock.sleep(this.options.pollIntervalMs, controller.signal);
      } finally {
        this.wakeUps.delete(controller);
      }
    }
  }

  private async failExpired(now: number): Promise<void> {
    for (const job of await this.store.expiredQueuedJobs(now, 500)) {
      await this.lifecycle.exclusive(job.id, () =>
        this.lifecycle.transition(job.id, {
          from: ["QUEUED"], to: "FAILED", reason: Reason.QUEUE_TIMEOUT,
          message: `not started within its queue timeout (deadline ${new Date(job.queueDeadline!).toISOString()})`,
          patch: { finishedAt: now },
        }, now),
      );
    }
  }

  private track(launch: Promise<void>): void {
    // A store that fails (or refuses an ex-leader's write) fails this admission only.
    const tracked = launch.catch((error: unknown) => this.logger.error({ err: error }, "admission failed"));
    this.launching.add(tracked);
    void tracked.finally(() => {
      this.launching.delete(tracked);
      this.wake();
    });
  }

  private launch(queued: JobRecord, now: number): Promise<void> {
    let admitted!: () => void;
    const admission = new Promise<void>((resolve) => (admitted = resolve));
    this.admitting.add(admission);
    void admission.then(() => this.admitting.delete(admission));
    const launched = this.lifecycle.exclusive(queued.id, async () => {
      const job = await this.lifecycle.transition(queued.id, { from: ["QUEUED"], to: "STARTING" }, now).finally(admitted);
      if (!job) return; // cancelled or taken meanwhile
      // The term ended since the pass began: the next leader's recovery finds it STARTING, unlaunched.
      if (!this.term.valid()) return;
      this.observer?.admitted(job, now - Math.max(job.createdAt, job.runAt));
      try {
        const workload = workloadFor(this.registry.require(job.type), job);
        await this.runtime.launch(job, workload);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.logger.error({ jobId: job.id, err: error }, "launch failed");
        await this.lifecycle.recordLaunchFailure(job, message);
      }
    });
    launched.then(admitted, admitted);
    return launched;
  }
}
