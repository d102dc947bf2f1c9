// What only the leader runs: recovery of the runs in flight, the dispatcher, the schedule firer,
// the runtime's watch and reconcile (started by recovery and launches), and outbox delivery.
// A replica starts it when it begins a term and stops it before it releases the lease.
import type { Logger } from "pino";
import type { Runtime } from "../runtime/runtime.js";

interface Loop {
  start(): Promise<void> | void;
  stop(): Promise<void>;
}

export interface LeaderWorkParts {
  lifecycle: { recover(): Promise<unknown> };
  scheduler: Loop;
  dispatcher: Loop;
  hub: Loop;
  callbacks: Loop;
  runtime: Runtime;
  /** Leave runs running for the next leader to adopt (replicas), rather than stopping them (the single instance). */
  handOverRuns: boolean;
  shutdownTimeoutMs: number;
}

export class LeaderWork {
  private started?: Promise<void>;

  constructor(private readonly parts: LeaderWorkParts, private readonly logger: Logger) {}

  start(): Promise<void> {
    const { lifecycle, scheduler, dispatcher, hub, callbacks } = this.parts;
    this.started = (async () => {
      await lifecycle.recover();
      await scheduler.start();
      await dispatcher.start();
      await hub.start();
      await callbacks.start();
    })();
    return this.started;
  }

  /** The lease is lost: no new admission, fire or delivery from now on (what is in flight is fenced). */
  abandon(): void {
    const { scheduler, dispatcher, hub, callbacks, runtime } = this.parts;
    for (const loop of [dispatcher, scheduler, hub, callbacks]) void loop.stop().catch(() => undefined);
    if (this.parts.handOverRuns) void runtime.detach?.().catch(() => undefined);
  }

  /** Finishes the admissions under way and stops leading; runs are handed over or stopped. */
  async stop(): Promise<void> {
    const { scheduler, dispatcher, hub, callbacks, runtime } = this.parts;
    await this.started?.catch(() => undefined);
    await scheduler.stop();
    await dispatcher.stop();
    if (this.parts.handOverRuns && runtime.detach) await runtime.detach();
    else await runtime.shutdown(this.parts.shutdownTimeoutMs);
    await hub.stop();
    await callbacks.stop();
    if (this.started) this.logger.info("stopped leading");
  }
}
