// The TTL-after-finished controller: deletes a finished Job (and, in the foreground, its pods)
// ttlSecondsAfterFinished after it completed or failed.
import { findCondition } from "./conditions.js";
import type { GarbageCollector } from "./garbage-collector.js";
import type { Cancel, Scheduler } from "./scheduler.js";
import { ApiError } from "./status.js";
import type { ObjectStore, StoreEvent } from "./store.js";
import { apiSeconds, type Timing } from "./timing.js";
import { asJob } from "./types.js";

export class TtlAfterFinished {
  private readonly timers = new Map<string, Cancel>();

  constructor(
    private readonly store: ObjectStore,
    private readonly scheduler: Scheduler,
    private readonly gc: GarbageCollector,
    private readonly timing: Timing,
  ) {}

  start(): () => void {
    return this.store.subscribe((event) => this.onEvent(event));
  }

  private onEvent(event: StoreEvent): void {
    if (event.kind !== "Job") return;
    const job = asJob(event.object);
    const { uid, namespace, name } = job.metadata;
    if (event.type === "DELETED") {
      this.timers.get(uid)?.();
      this.timers.delete(uid);
      return;
    }
    const ttl = job.spec?.ttlSecondsAfterFinished;
    const conditions = job.status?.conditions;
    const finished = findCondition(conditions, "Complete") ?? findCondition(conditions, "Failed");
    if (ttl === undefined || !finished || this.timers.has(uid) || job.metadata.deletionTimestamp) return;
    const cancel = this.scheduler.after(apiSeconds(this.timing, ttl), () => {
      this.timers.delete(uid);
      if (this.store.get("Job", namespace, name)?.metadata.uid !== uid) return;
      try {
        this.gc.delete("Job", namespace, name, { propagationPolicy: "Foreground", preconditions: { uid } });
      } catch (err) {
        if (!(err instanceof ApiError && (err.code === 404 || err.code === 409))) throw err;
      }
    });
    this.timers.set(uid, cancel);
  }
}
