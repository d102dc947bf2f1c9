// Deleting our finished Jobs. Once a run's end (result, exit state, output tail) is in the store,
// its Job and pods are only a copy: the runtime hands the Job here, which deletes it with
// propagationPolicy Background (the Job goes at once, the garbage collector takes its pods and
// its files ConfigMap). A Job that Kubernetes marked Failed is kept `keepFailedMs` first, counted
// from its Failed condition, so its pods and logs can be looked at; that time lives in the Job
// itself, so a restart resumes the wait where it was. ttlSecondsAfterFinished stays the backstop
// for anything this misses (the service down for long, a delete refused).
//
// Deletes go through the client's rate limit and retries (429 with Retry-After, 5xx, connection
// errors); 404 means done, and so does 409 (the uid precondition: the name now belongs to
// another Job). A delete still failing after the client's retries is tried again later, with
// back-off. Deletes take low-priority tokens (launches, lists and watches go first; one that has
// waited LOW_PRIORITY_MAX_WAIT_MS goes next), at most MAX_IN_FLIGHT at once: a backlog (the first
// start after an upgrade, with a day of finished Jobs) neither delays launches nor floods the
// bucket, and deletes keep pace with ends (each needs one round trip).
import type { V1Job } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { timeMs } from "./job-status.js";
import { backoffDelay, statusOf, type KubeClient } from "./kube-client.js";

const MAX_IN_FLIGHT = 32;
/** Failed deletes are tried again this many times (the TTL removes the Job in the end anyway). */
const MAX_FAILURES = 10;
const RETRY_BASE_MS = 1000;
const RETRY_CAP_MS = 5 * 60_000;

export interface JobCleanupOptions {
  client: KubeClient;
  namespace: string;
  /** How long a Failed Job is kept after its failure; 0: deleted at once. */
  keepFailedMs: number;
  logger: Logger;
  /** The Job as the watch cache holds it now, or undefined when it is gone. */
  current(name: string): V1Job | undefined;
}

interface Pending {
  uid: string;
  failures: number;
  timer?: NodeJS.Timeout;
}

/** When a finished Job may go: now, or for a Failed one its failure time + keepFailedMs. */
export function deletableAt(job: V1Job, keepFailedMs: number, now = Date.now()): number {
  const failed = job.status?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
  if (!failed || keepFailedMs <= 0) return now;
  const failedAt = timeMs(failed.lastTransitionTime) || now;
  return failedAt + keepFailedMs;
}

export class JobCleanup {
  /** By Job name: waiting for its time, for a token, or for a retry. */
  private readonly pending = new Map<string, Pending>();
  private readonly ready: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly options: JobCleanupOptions) {}

  /**
   * A finished Job whose end the store holds, or whose job no longer expects it: deleted now, or
   * once a failed one's keep time is over. Repeated calls for one Job change nothing.
   */
  collect(job: V1Job): void {
    const name = job.metadata?.name;
    const uid = job.metadata?.uid;
    if (this.stopped || !name || !uid || this.pending.has(name)) return;
    const entry: Pending = { uid, failures: 0 };
    this.pending.set(name, entry);
    this.after(name, entry, deletableAt(job, this.options.keepFailedMs) - Date.now());
  }

  /** The Job is gone (the watch said DELETED): nothing left to do for it. */
  forget(name: string): void {
    const entry = this.pending.get(name);
    if (!entry) return;
    clearTimeout(entry.timer);
    this.pending.delete(name);
  }

  /** Takes Jobs again after a stop (a replica leading a new term). */
  start(): void {
    this.stopped = false;
  }

  /** Stops the timers; waits up to graceMs for deletes already sent. What is left, the next start finds again. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    for (const entry of this.pending.values()) clearTimeout(entry.timer);
    this.pending.clear();
    this.ready.length = 0;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all([...this.inFlight]), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  private after(name: string, entry: Pending, ms: number): void {
    if (ms <= 0) return this.enqueue(name);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.enqueue(name);
    }, ms);
    entry.timer.unref();
  }

  private enqueue(name: string): void {
    if (this.stopped || !this.pending.has(name)) return;
    this.ready.push(name);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < MAX_IN_FLIGHT && this.ready.length > 0) {
      const name = this.ready.shift()!;
      const entry = this.pending.get(name);
      if (!entry) continue;
      const task = this.delete(name, entry).finally(() => {
        this.inFlight.delete(task);
        this.pump();
      });
      this.inFlight.add(task);
    }
  }

  private async delete(name: string, entry: Pending): Promise<void> {
    const { client, namespace, logger } = this.options;
    // Gone meanwhile (the TTL, someone else), or the name now belongs to another Job: not ours to delete.
    if (this.options.current(name)?.metadata?.uid !== entry.uid) {
      this.pending.delete(name);
      return;
    }
    try {
      await client.call(
        `deleting finished Job ${namespace}/${name}`,
        () => client.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Background", body: { preconditions: { uid: entry.uid } } }),
        { priority: "low" },
      );
      this.done(name, entry);
      logger.debug({ kubernetesJob: name }, "finished Kubernetes Job deleted");
    } catch (error) {
      const code = statusOf(error);
      if (code === 404 || code === 409) {
        this.done(name, entry);
        logger.debug({ kubernetesJob: name, code }, "finished Kubernetes Job deleted (gone already, or its name taken by another Job)");
        return;
      }
      if (this.pending.get(name) !== entry) return;
      entry.failures++;
      const retryable = code === undefined || code === 429 || code >= 500;
      if (!retryable || entry.failures >= MAX_FAILURES) {
        logger.warn({ err: (error as Error).message, kubernetesJob: name, failures: entry.failures }, "could not delete a finished Job; its ttlSecondsAfterFinished will");
        this.pending.delete(name);
        return;
      }
      const wait = backoffDelay(entry.failures, RETRY_BASE_MS, RETRY_CAP_MS);
      logger.warn({ err: (error as Error).message, kubernetesJob: name, failures: entry.failures, retryInMs: Math.round(wait) }, "deleting a finished Job failed; retrying");
      this.after(name, entry, wait);
    }
  }

  private done(name: string, entry: Pending): void {
    if (this.pending.get(name) === entry) this.pending.delete(name);
  }
}
