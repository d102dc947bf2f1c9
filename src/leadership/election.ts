// Leader election over a lease, with client-go's semantics (k8s.io/client-go/tools/leaderelection):
// a follower tries to take the lease every retry period (sooner when told it was released); the
// leader renews it every retry period, and stops leading the moment it has not renewed for the
// renew deadline, which is shorter than the lease duration after which the others may take it.
// So a leader that is cut off or paused has stopped before anyone else starts. Whatever still
// slips through (a write in flight across a pause) is refused by the epoch (store/fencing.ts).
import type { Logger } from "pino";
import type { Term } from "./term.js";

export interface LeaseBackend {
  readonly kind: "postgres" | "kubernetes";
  /**
   * Takes the lease when free, expired or last held under our identity: a new term with a new epoch.
   * Not taken: who holds it, and when known, how long until it expires unless renewed.
   */
  acquire(identity: string): Promise<{ acquired: true; epoch: number } | { acquired: false; holder: string; expiresInMs?: number }>;
  /** Extends our term; false when the lease is no longer ours (taken, or our term ended). */
  renew(identity: string, epoch: number): Promise<boolean>;
  /** Gives the lease up so a follower need not wait for it to expire. */
  release(identity: string, epoch: number): Promise<void>;
  /** Calls `listener` when the lease may have become free (e.g. released), so followers try at once. */
  onMaybeFree(listener: () => void): void;
  close(): Promise<void>;
}

export interface ElectionTiming {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface ElectionCallbacks {
  /** This replica began a term. Runs beside the renewals; the returned promise is awaited only by `start`. */
  startedLeading(epoch: number): Promise<void>;
  /**
   * The term ended without a release (renew deadline passed, lease taken): leader work must stop
   * now. The replica campaigns again once the returned promise resolves (the work has stopped, so
   * nothing of the lost term runs beside a next one); a rejection ends campaigning.
   */
  stoppedLeading(reason: string): void | Promise<void>;
}

export type Role = "follower" | "leader" | "stepped-down" | "released";

const JITTER = 0.2;
const EXPIRY_MARGIN_MS = 25;

export class LeaderElection implements Term {
  private role: Role = "follower";
  private currentEpoch?: number;
  /** performance.now() when the last successful renew (or the take) was sent. */
  private renewedAt = 0;
  private deadlineTimer?: NodeJS.Timeout;
  private wake?: () => void;
  private loopDone?: Promise<void>;
  private loopGeneration = 0;
  private observedHolder = "";
  private leading?: Promise<void>;
  private startedUp = false;
  /** A follower's next try, sooner than the retry period when the lease expires before then. */
  private nextTryMs?: number;

  constructor(
    private readonly backend: LeaseBackend,
    readonly identity: string,
    private readonly timing: ElectionTiming,
    private readonly callbacks: ElectionCallbacks,
    private readonly logger: Logger,
  ) {
    if (!(timing.renewDeadlineMs < timing.leaseDurationMs)) throw new Error("the renew deadline must be shorter than the lease duration");
    if (!(timing.retryPeriodMs < timing.renewDeadlineMs)) throw new Error("the retry period must be shorter than the renew deadline");
    backend.onMaybeFree(() => this.wake?.());
  }

  get kind(): LeaseBackend["kind"] {
    return this.backend.kind;
  }

  /** Makes the first attempt (and, when it wins, awaits startedLeading), then keeps going in the background. */
  async start(): Promise<void> {
    await this.attempt();
    this.loopDone = this.loop();
    try {
      await this.leading;
    } finally {
      this.startedUp = true;
    }
  }

  epoch(): number | undefined {
    return this.currentEpoch;
  }

  valid(): boolean {
    return this.role === "leader" && performance.now() - this.renewedAt < this.timing.renewDeadlineMs;
  }

  state(): { role: Role; holder: string; epoch: number | undefined } {
    return { role: this.role, holder: this.role === "leader" ? this.identity : this.observedHolder, epoch: this.currentEpoch };
  }

  /** Stops campaigning; a leader gives the lease up (call after its leader work has stopped). */
  async release(): Promise<void> {
    const wasLeader = this.role === "leader";
    this.role = "released";
    clearTimeout(this.deadlineTimer);
    this.wake?.();
    await this.loopDone;
    if (wasLeader && this.currentEpoch !== undefined) {
      try {
        await this.backend.release(this.identity, this.currentEpoch);
        this.logger.info({ epoch: this.currentEpoch }, "leadership released");
      } catch (error) {
        this.logger.warn({ err: error }, "could not release the lease; the next leader takes it once it expires");
      }
    }
    await this.backend.close();
  }

  private async loop(): Promise<void> {
    // A loop left behind by a step-down (its renewal may still hang) ends at its next turn.
    const generation = ++this.loopGeneration;
    while ((this.role === "leader" || this.role === "follower") && generation === this.loopGeneration) {
      const period = this.timing.retryPeriodMs * (1 - JITTER / 2 + Math.random() * JITTER);
      await this.sleep(this.role === "follower" && this.nextTryMs !== undefined ? Math.min(period, this.nextTryMs) : period);
      if (generation !== this.loopGeneration) return;
      if (this.role === "leader") await this.renew();
      else if (this.role === "follower") await this.attempt();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private async attempt(): Promise<void> {
    const sentAt = performance.now();
    try {
      const outcome = await this.backend.acquire(this.identity);
      if (this.role !== "follower") return;
      if (!outcome.acquired) {
        if (outcome.holder !== this.observedHolder) this.logger.info({ holder: outcome.holder }, "another replica leads");
        this.observedHolder = outcome.holder;
        // Try right after the expiry (a little later: its renewal may be on its way).
        this.nextTryMs = outcome.expiresInMs === undefined ? undefined : Math.max(0, outcome.expiresInMs) + EXPIRY_MARGIN_MS;
        return;
      }
      this.role = "leader";
      this.currentEpoch = outcome.epoch;
      this.observedHolder = this.identity;
      this.renewed(sentAt);
      this.logger.info({ epoch: outcome.epoch, identity: this.identity, lease: this.backend.kind }, "leading");
      // A later term whose start fails ends the term (the first one's failure fails start()).
      this.leading = this.callbacks.startedLeading(outcome.epoch).catch((error: unknown) => {
        // A start cut short because the term already ended is no failure of the replica's.
        if (!this.startedUp && this.role === "leader") throw error;
        this.stepDown(`leader work could not start: ${errorText(error)}`);
      });
    } catch (error) {
      this.logger.warn({ err: errorText(error) }, "could not try for the lease");
    }
  }

  private async renew(): Promise<void> {
    const sentAt = performance.now();
    const epoch = this.currentEpoch!;
    try {
      const ours = await this.backend.renew(this.identity, epoch);
      // A late answer for a term that ended (this replica may lead a later one by now).
      if (this.role !== "leader" || this.currentEpoch !== epoch) return;
      if (!ours) this.stepDown("the lease is no longer ours (another replica took it)");
      else this.renewed(sentAt);
    } catch (error) {
      if (this.role !== "leader" || this.currentEpoch !== epoch) return;
      this.logger.warn({ err: errorText(error) }, "could not renew the lease");
    }
  }

  private renewed(sentAt: number): void {
    if (this.role !== "leader") return;
    this.renewedAt = Math.max(this.renewedAt, sentAt);
    clearTimeout(this.deadlineTimer);
    const left = this.renewedAt + this.timing.renewDeadlineMs - performance.now();
    this.deadlineTimer = setTimeout(() => this.stepDown(`the lease was not renewed within the renew deadline (${this.timing.renewDeadlineMs} ms)`), Math.max(0, left));
  }

  /** Stops leading at once; once the leader work has stopped, campaigns again as a follower. */
  private stepDown(reason: string): void {
    if (this.role !== "leader") return;
    this.role = "stepped-down";
    clearTimeout(this.deadlineTimer);
    this.wake?.();
    this.logger.error({ epoch: this.currentEpoch, reason }, "leadership lost");
    let workStopped: Promise<void>;
    try {
      workStopped = Promise.resolve(this.callbacks.stoppedLeading(reason));
    } catch (error) {
      workStopped = Promise.reject(error);
    }
    // The loop ends at its next turn (its role is no longer leader or follower; a renewal that
    // hangs is answered in vain); a new one starts once the lost term's work has stopped.
    this.loopDone = (async () => {
      try {
        await workStopped;
      } catch (error) {
        this.logger.error({ err: errorText(error) }, "the lost term's leader work did not stop: no longer campaigning");
        return;
      }
      if (this.role !== "stepped-down") return; // released meanwhile
      this.role = "follower";
      this.nextTryMs = undefined;
      this.logger.info({ epoch: this.currentEpoch }, "stepped down: campaigning again as a follower");
      await this.attempt();
      await this.loop();
    })();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
