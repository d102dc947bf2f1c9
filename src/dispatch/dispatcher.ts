import type { Logger } from "pino";
import { Reason, type JobRecord } from "../jobs/job.js";
import type { JobRegistry } from "../jobs/registry.js";
import type { Runtime } from "../runtime/runtime.js";
import type { JobStore } from "../store/store.js";
import type { JobLifecycle } from "./lifecycle.js";

const PAUSED_SETTING = "dispatch.paused";

export interface DispatcherOptions {
  maxRunning: number;
  /** Safety net: look for queued work this often even without a wake-up. */
  pollIntervalMs: number;
}

export interface DispatchingState {
  paused: boolean;
  pausedReason: string;
  running: number;
  maxRunning: number;
}

/**
 * Moves QUEUED jobs to the runtime, highest priority and oldest first, while
 * there is capacity and dispatching is not paused.
 */
export class Dispatcher {
  private paused = false;
  private pausedReason = "";
  private stopped = true;
  private wakeUp?: () => void;
  private loopDone?: Promise<void>;
  private readonly launching = new Set<Promise<void>>();

  constructor(
    private readonly store: JobStore,
    private readonly registry: JobRegistry,
    private readonly runtime: Runtime,
    private readonly lifecycle: JobLifecycle,
    private readonly options: DispatcherOptions,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const saved = await this.store.getSetting(PAUSED_SETTING);
    this.paused = saved !== null;
    this.pausedReason = saved ?? "";
    this.stopped = false;
    this.loopDone = this.loop();
  }

  wake(): void {
    this.wakeUp?.();
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

  state(): DispatchingState {
    return { paused: this.paused, pausedReason: this.pausedReason, running: this.inUse(), maxRunning: this.options.maxRunning };
  }

  /** Stops taking new work and waits for launches already under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loopDone;
    await Promise.all(this.launching);
  }

  private inUse(): number {
    return this.runtime.activeRuns() + this.launching.size;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const capacity = this.options.maxRunning - this.inUse();
      let launched = 0;
      if (!this.paused && capacity > 0) {
        try {
          const candidates = await this.store.jobsInDispatchOrder(["QUEUED"], capacity);
          for (const job of candidates) {
            if (this.stopped || this.paused) break;
            this.track(this.launch(job));
            launched++;
          }
        } catch (error) {
          this.logger.error({ err: error }, "dispatching failed; retrying");
        }
      }
      // A full batch means more may be waiting: go round again at once.
      if (launched > 0 && launched === capacity) continue;
      await this.sleep();
    }
  }

  private track(launch: Promise<void>): void {
    this.launching.add(launch);
    void launch.finally(() => {
      this.launching.delete(launch);
      this.wake();
    });
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.pollIntervalMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private launch(queued: JobRecord): Promise<void> {
    return this.lifecycle.exclusive(queued.id, async () => {
      const job = await this.lifecycle.transition(queued.id, { from: ["QUEUED"], to: "STARTING" });
      if (!job) return; // cancelled or taken meanwhile
      try {
        const handler = this.registry.require(job.type);
        const workload = handler.buildWorkload(job as never);
        await this.runtime.launch(job, workload);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        this.logger.error({ jobId: job.id, err: error }, "launch failed");
        await this.lifecycle.transition(job.id, {
          from: ["STARTING"], to: "FAILED", reason: Reason.LAUNCH_FAILED, message, patch: { finishedAt: Date.now() },
        });
      }
    });
  }
}
