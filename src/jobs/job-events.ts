import { EventEmitter } from "node:events";
import type { JobEventRecord, JobRecord } from "./job.js";

export interface PublishedTransition {
  job: JobRecord;
  event: JobEventRecord;
}

/**
 * In-process fan-out of stored transitions to WatchJob streams and metrics.
 * Only transitions already written to the store are published here.
 */
export class JobEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(transition: PublishedTransition): void {
    this.emitter.emit(transition.job.id, transition);
    this.emitter.emit("*", transition);
  }

  subscribe(jobId: string, listener: (t: PublishedTransition) => void): () => void {
    this.emitter.on(jobId, listener);
    return () => this.emitter.off(jobId, listener);
  }

  subscribeAll(listener: (t: PublishedTransition) => void): () => void {
    return this.subscribe("*", listener);
  }

  /** A transition another replica stored, for this job's subscribers only (each replica counts its own in metrics). */
  publishRemote(transition: PublishedTransition): void {
    this.emitter.emit(transition.job.id, transition);
  }

  /** The jobs someone here follows (WatchJob streams, cancels waiting for an end). */
  followedJobs(): string[] {
    return this.emitter.eventNames().filter((name): name is string => typeof name === "string" && name !== "*");
  }

  isFollowed(jobId: string): boolean {
    return this.emitter.listenerCount(jobId) > 0;
  }
}
