// What only the leader runs: recovery of the runs in flight, the dispatcher, the schedule firer,
// the runtime's watch and reconcile (started by recovery and launches), and outbox delivery.
// A replica starts it when it begins a term and stops it before it releases the lease; a replica
// that loses its lease abandons it and, once it has stopped, may lead a later term in the same
// process: each term starts it afresh from the store (recovery first), nothing of the last kept.
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

/** A start cut short: the term ended before this step. */
class TermEnded extends Error {
  constructor() {
    super("the term ended while its leader work was starting");
  }
}

export class LeaderWork {
  private started?: Promise<void>;
  /** Bumped when a term's work starts and when it is abandoned or stopped: a start in progress stops at its next step. */
  private generation = 0;
  private abandoning?: Promise<void>;

  constructor(private readonly parts: LeaderWorkParts, private readonly logger: Logger) {}

  start(): Promise<void> {
    const { lifecycle, scheduler, dispatcher, hub, callbacks } = this.parts;
    const generation = ++this.generation;
    const step = async (run: () => Promise<unknown> | unknown) => {
      if (generation !== this.generation) throw new TermEnded();
      await run();
    };
    this.started = (async () => {
      // A term lost just before: its work must be gone before this one's begins.
      await this.abandoning;
      await step(() => lifecycle.recover());
      await step(() => scheduler.start());
      await step(() => dispatcher.start());
      await step(() => hub.start());
      await step(() => callbacks.start());
    })();
    return this.started;
  }

  /**
   * The lease is lost: no new admission, fire or delivery from now on (what is in flight is
   * fenced). Resolves once every loop has stopped, the launches and deliveries in flight have
   * settled and the runtime has let its runs go, so that a next term starts from the store alone.
   */
  abandon(): Promise<void> {
    this.generation++;
    const { runtime } = this.parts;
    this.abandoning ??= (async () => {
      // At once, then again once a start in progress has reached its next step (it may have
      // started a loop meanwhile); stop() is idempotent.
      await Promise.all([this.stopLoops(), this.started?.catch(() => undefined)]);
      await this.stopLoops();
      if (this.parts.handOverRuns) await runtime.detach?.();
      this.logger.info("leader work stopped after the lease was lost");
    })().finally(() => (this.abandoning = undefined));
    return this.abandoning;
  }

  /** Finishes the admissions under way and stops leading; runs are handed over or stopped. */
  async stop(): Promise<void> {
    const { scheduler, dispatcher, hub, callbacks, runtime } = this.parts;
    const wasStarted = this.started !== undefined;
    this.generation++;
    await this.started?.catch(() => undefined);
    await this.abandoning?.catch(() => undefined);
    await scheduler.stop();
    await dispatcher.stop();
    if (this.parts.handOverRuns && runtime.detach) await runtime.detach();
    else await runtime.shutdown(this.parts.shutdownTimeoutMs);
    await hub.stop();
    await callbacks.stop();
    if (wasStarted) this.logger.info("stopped leading");
  }

  private async stopLoops(): Promise<void> {
    const { scheduler, dispatcher, hub, callbacks } = this.parts;
    await Promise.all([dispatcher.stop(), scheduler.stop(), hub.stop(), callbacks.stop()]);
  }
}
