import type { Logger } from "pino";
import { ACTIVE_STATES, isTerminal, Reason, type JobRecord, type JobStateName } from "../jobs/job.js";
import type { JobEvents } from "../jobs/job-events.js";
import type { JobRegistry } from "../jobs/registry.js";
import { inFlightRun } from "../jobs/workload.js";
import type { Placement, Recovery, RunEnd, RunOutput, RunRef, Runtime, RuntimeListener } from "../runtime/runtime.js";
import { KeyedSerial } from "../shared/keyed-serial.js";
import type { JobStore, JobTransition } from "../store/store.js";
import type { OutboxInsert } from "../store/outbox-queries.js";
import { systemClock, type Clock } from "./clock.js";
import { failureCause } from "./failure-cause.js";
import { callbackOutboxItem } from "./callback-outbox.js";
import { backoffMs, isRetryable } from "./retry.js";
import { SOLE_TERM, type Term } from "../leadership/term.js";

/** Turns a job's end into a Hub criterion report (src/hub/outbox.ts), or null when there is none. */
export type CriteriaReporter = (job: JobRecord, end: { state: "SUCCEEDED" | "FAILED"; reason: string; result: Record<string, unknown> | null; at: number }) => OutboxInsert | null;

export type CancelOutcome =
  | { kind: "cancelled"; job: JobRecord }
  | { kind: "stopping"; job: JobRecord }
  | { kind: "already-finished"; job: JobRecord }
  | { kind: "not-found" };

/**
 * Every change of a job's state goes through here: written to the store first
 * (compare-and-set on the state it expects), then published to watchers. Calls for
 * one job are serialised, so a run's "running" can never overtake its "finished".
 */
export class JobLifecycle implements RuntimeListener {
  private readonly serial = new KeyedSerial();
  private reportCriteria?: CriteriaReporter;
  /**
   * The reason given with the cancel of a job still running, until the run has stopped and the
   * job ends with it as its message. Held in memory: a restart in between ends the job with
   * "cancelled while running".
   */
  private readonly cancelReasons = new Map<string, string>();

  constructor(
    private readonly store: JobStore,
    private readonly registry: JobRegistry,
    private readonly runtime: Runtime,
    private readonly events: JobEvents,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
    /** A replica's writes carry its term's epoch once it led (a follower's API writes carry none). */
    private readonly term: Term = SOLE_TERM,
  ) {
    runtime.setListener(this);
  }

  /** Jobs bound to a team and criterion get their report written with the transition that ends them. */
  setCriteriaReporter(reporter: CriteriaReporter): void {
    this.reportCriteria = reporter;
  }

  /** Serialises `task` with every other change to the job. */
  exclusive<T>(jobId: string, task: () => Promise<T>): Promise<T> {
    return this.serial.run(jobId, task);
  }

  async transition(jobId: string, change: Omit<JobTransition, "at">, at = this.clock.now()): Promise<JobRecord | null> {
    const outcome = await this.store.transition(jobId, { ...change, at, epoch: this.term.epoch() });
    if (!outcome) return null;
    this.events.publish(outcome);
    return outcome.job;
  }

  running(job: RunRef, placement: Placement, at: number): Promise<void> {
    // Runtimes report this without waiting for it: a failure (an outage, or this replica no longer
    // leading) is logged here; the run's end is recorded all the same, by this leader or the next.
    return this.exclusive(job.id, async () => {
      await this.transition(job.id, { from: ["STARTING"], to: "RUNNING", patch: { placement, startedAt: at } }, at);
    }).catch((error: unknown) => this.logger.warn({ err: error, jobId: job.id }, "recording a run as RUNNING failed"));
  }

  /** A launched run that is not running yet says why (e.g. UNSCHEDULABLE): recorded as a STARTING event with that reason. */
  progress(job: RunRef, update: { reason: string; message: string }, at: number): Promise<void> {
    return this.exclusive(job.id, async () => {
      const current = await this.store.getJob(job.id);
      if (!current || current.attempt !== job.attempt || current.state !== "STARTING") return;
      if (current.reason === update.reason && current.message === update.message) return;
      await this.transition(job.id, { from: ["STARTING"], to: "STARTING", reason: update.reason, message: update.message }, at);
    });
  }

  finished(job: RunRef, end: RunEnd, at: number): Promise<void> {
    return this.exclusive(job.id, async () => {
      const current = await this.store.getJob(job.id);
      if (!current || current.attempt !== job.attempt || !ACTIVE_STATES.includes(current.state)) {
        this.logger.warn({ jobId: job.id, attempt: job.attempt, state: current?.state }, "ignoring the end of a run the store no longer expects");
        return;
      }
      const change = this.withCallback(current, this.withCriteriaReport(current, this.endToTransition(current, end), at), at);
      const recorded = await this.transition(job.id, change, at);
      if (recorded && isTerminal(recorded.state)) this.cancelReasons.delete(job.id);
      if (recorded) this.logger.info({ jobId: job.id, state: recorded.state, reason: recorded.reason }, "job ended");
    });
  }

  /** A launch that threw: an infrastructure failure, retried when the job allows it. */
  async recordLaunchFailure(job: JobRecord, message: string): Promise<void> {
    const end: RunEnd = { kind: "failed", reason: Reason.LAUNCH_FAILED, message, output: { rawResult: null, outputTail: "" } };
    await this.transition(job.id, this.endToTransition(job, end));
  }

  /** Handles a cancel request; the caller may then wait for the end of a stopping job. */
  cancel(jobId: string, requestedReason: string): Promise<CancelOutcome> {
    return this.exclusive(jobId, async () => {
      const job = await this.store.getJob(jobId);
      if (!job) return { kind: "not-found" };
      if (job.state === "CANCELLED") return { kind: "cancelled", job };
      if (isTerminal(job.state)) return { kind: "already-finished", job };
      const message = requestedReason || "cancelled by request";
      if (job.state === "QUEUED") {
        const cancelled = await this.transition(jobId, {
          from: ["QUEUED"], to: "CANCELLED", reason: Reason.CANCELLED_BY_USER, message, patch: { finishedAt: this.clock.now() },
        });
        return { kind: "cancelled", job: cancelled! };
      }
      const marked = (await this.store.patchJob(jobId, { cancelRequested: true }, this.clock.now()))!;
      // A follower: the leader's runtime runs it, and hears of the request (cancelRequested below);
      // without a leader now, the next one's recovery stops it.
      if (!this.term.valid()) return { kind: "stopping", job: marked };
      if (requestedReason) this.cancelReasons.set(jobId, requestedReason);
      if (await this.runtime.cancel(marked)) return { kind: "stopping", job: marked };
      this.cancelReasons.delete(jobId);
      // Not running here (launch failed or never happened): nothing left to stop.
      const cancelled = await this.transition(jobId, {
        from: ACTIVE_STATES, to: "CANCELLED", reason: Reason.CANCELLED_BY_USER, message, patch: { finishedAt: this.clock.now() },
      });
      return { kind: "cancelled", job: cancelled ?? marked };
    });
  }

  /** The leader hears of a cancel requested on another replica: stops the run as cancel() does. */
  stopRequested(jobId: string): Promise<void> {
    return this.exclusive(jobId, async () => {
      if (!this.term.valid()) return;
      const job = await this.store.getJob(jobId);
      if (!job || !job.cancelRequested || !ACTIVE_STATES.includes(job.state)) return;
      if (await this.runtime.cancel(job)) return;
      await this.transition(jobId, {
        from: ACTIVE_STATES, to: "CANCELLED", reason: Reason.CANCELLED_BY_USER, message: "cancelled by request", patch: { finishedAt: this.clock.now() },
      });
    });
  }

  /**
   * At start-up, before dispatching: every job the store holds as in flight is
   * either re-adopted by the runtime or ended/re-queued, so none stays RUNNING.
   */
  async recover(): Promise<{ adopted: number; requeued: number; interrupted: number }> {
    // A term starts from the store: reasons held for a previous term's cancels are not this one's.
    this.cancelReasons.clear();
    const inFlight = await this.store.jobsInDispatchOrder(ACTIVE_STATES, 1_000_000);
    const decisions = await this.runtime.recover(inFlight.map((job) => inFlightRun(this.registry, job)));
    const counts = { adopted: 0, requeued: 0, interrupted: 0 };
    for (const job of inFlight) {
      const decision: Recovery = decisions.get(job.id) ?? { action: "lost", message: "the runtime no longer knows this run" };
      if (decision.action === "adopted") {
        counts.adopted++;
        continue;
      }
      const state = await this.exclusive(job.id, () => this.endLostRun(job, decision.message, decision.output));
      if (state === "QUEUED") counts.requeued++;
      else counts.interrupted++;
    }
    if (inFlight.length) this.logger.info(counts, "recovered jobs that were in flight when the service last stopped");
    return counts;
  }

  private async endLostRun(job: JobRecord, message: string, output?: RunOutput): Promise<JobStateName | undefined> {
    const end: RunEnd = job.cancelRequested
      ? { kind: "cancelled", output: output ?? { rawResult: null, outputTail: job.outputTail } }
      : { kind: "interrupted", message, output: output ?? { rawResult: null, outputTail: job.outputTail } };
    const recorded = await this.transition(job.id, this.endToTransition(job, end));
    if (recorded && isTerminal(recorded.state)) this.cancelReasons.delete(job.id);
    return recorded?.state;
  }

  private endToTransition(job: JobRecord, end: RunEnd): Omit<JobTransition, "at"> {
    const from = ACTIVE_STATES;
    const finishedAt = this.clock.now();
    const outputTail = end.output.outputTail;
    const partial = this.partialResult(job, end.output.rawResult);
    const failed = (reason: string, message: string) => this.failure(job, end, reason, message, { finishedAt, outputTail, result: partial });
    switch (end.kind) {
      case "exited": {
        const handler = this.registry.require(job.type);
        // A verdict exit code (k6's 99: thresholds failed) still carries a result: parse it.
        const verdictExit = end.exitCode !== 0 && (handler.verdictExitCodes?.includes(end.exitCode) ?? false);
        if (end.exitCode !== 0 && (!verdictExit || end.output.rawResult === null)) return failed(Reason.EXIT_CODE, exitMessage(end.exitCode, outputTail));
        if (end.output.rawResult === null) return failed(Reason.RESULT_INVALID, "the run succeeded but wrote no result");
        const parsed = handler.parseResult(end.output.rawResult, job);
        if (!parsed.ok) return failed(verdictExit ? Reason.EXIT_CODE : Reason.RESULT_INVALID, verdictExit ? `${exitMessage(end.exitCode, outputTail)} (${parsed.message})` : parsed.message);
        if (parsed.failure) return failed(parsed.failure.reason, parsed.failure.message);
        return { from, to: "SUCCEEDED", patch: { finishedAt, outputTail, result: parsed.result } };
      }
      case "failed":
        return failed(end.reason, end.message);
      case "timed-out":
        return failed(Reason.TIMED_OUT, end.message);
      case "cancelled":
        return {
          from, to: "CANCELLED", reason: Reason.CANCELLED_BY_USER,
          message: this.cancelReasons.get(job.id) ?? "cancelled while running",
          patch: { finishedAt, outputTail, result: partial },
        };
      case "interrupted":
        return failed(Reason.INTERRUPTED, end.message);
    }
  }

  /**
   * A failed attempt: back to the queue after a back-off when the failure is
   * retryable and attempts remain; else the end of the job (a dead letter with
   * RETRIES_EXHAUSTED when retries were allowed and all were spent).
   */
  private failure(
    job: JobRecord, end: RunEnd, reason: string, message: string,
    patch: { finishedAt: number; outputTail: string; result: Record<string, unknown> | null },
  ): Omit<JobTransition, "at"> {
    const from = ACTIVE_STATES;
    const retryable = isRetryable(this.registry.get(job.type), end, job.retryPolicy);
    if (retryable && job.attempt < job.maxAttempts) {
      const next = job.attempt + 1;
      const delay = backoffMs(job, next);
      return {
        from, to: "QUEUED", reason,
        message: `${message}; retrying as attempt ${next} of ${job.maxAttempts} in ${(delay / 1000).toFixed(1)}s`,
        patch: {
          attempt: next, runAt: patch.finishedAt + delay, outputTail: patch.outputTail, placement: null, startedAt: null,
          attempts: [...job.attempts, { attempt: job.attempt, state: "FAILED", reason, message, startedAt: job.startedAt, finishedAt: patch.finishedAt }],
          queueDeadline: job.queueDeadline === null ? null : patch.finishedAt + delay + (job.queueDeadline - job.runAt),
        },
      };
    }
    if (retryable && job.maxAttempts > 1) {
      return { from, to: "FAILED", reason: Reason.RETRIES_EXHAUSTED, message: `${reason}: ${message} (attempt ${job.attempt} of ${job.maxAttempts})`, patch };
    }
    return { from, to: "FAILED", reason, message, patch };
  }

  /** Adds the Hub criterion report to a transition that ends a team-bound job (same store transaction). */
  private withCriteriaReport(job: JobRecord, change: Omit<JobTransition, "at">, at: number): Omit<JobTransition, "at"> {
    if (!this.reportCriteria || !job.team || !job.criteriaType || (change.to !== "SUCCEEDED" && change.to !== "FAILED")) return change;
    try {
      const outbox = this.reportCriteria(job, { state: change.to, reason: change.reason ?? "", result: change.patch?.result ?? null, at });
      return outbox ? { ...change, outbox: [...(change.outbox ?? []), outbox] } : change;
    } catch (error) {
      // A bad report must not keep the job from ending.
      this.logger.error({ err: error, jobId: job.id, criteriaType: job.criteriaType }, "evaluating the job's criterion failed; nothing is reported");
      return change;
    }
  }

  /** Adds the job's completion callback (its handler's) to a transition to SUCCEEDED: one outbox row per job, keyed by its id. */
  private withCallback(job: JobRecord, change: Omit<JobTransition, "at">, at: number): Omit<JobTransition, "at"> {
    const handler = this.registry.get(job.type);
    if (change.to !== "SUCCEEDED" || !handler?.completionCallback || !change.patch?.result) return change;
    const callback = handler.completionCallback(job, change.patch.result, at);
    if (!callback) return change;
    return { ...change, outbox: [...(change.outbox ?? []), callbackOutboxItem(job.id, callback, at)] };
  }

  /** Whatever a stopped or failed run left behind, kept for the user to see. */
  private partialResult(job: JobRecord, raw: string | null): Record<string, unknown> | null {
    if (raw === null) return null;
    const parsed = this.registry.get(job.type)?.parseResult(raw, job);
    if (parsed?.ok) return parsed.result;
    try {
      const value: unknown = JSON.parse(raw);
      if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // not JSON: keep the text
    }
    return { raw: raw.slice(0, 4096) };
  }
}

function exitMessage(exitCode: number, outputTail: string): string {
  const cause = failureCause(outputTail);
  return `exited with code ${exitCode}${cause ? `: ${cause}` : ""}`;
}
