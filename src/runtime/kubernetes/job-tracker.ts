// The runtime's view of the cluster: one list+watch of the service's own Jobs and one of their
// Pods (by the managed-by label), each kept as a cache. As client-go's reflector does:
// - a watch that ends, cleanly or because its connection was cut (a proxy resetting connections,
//   a restarted API server), resumes from the last resourceVersion: what the cache holds is
//   exact up to there, so nothing needs listing again;
// - 410 Gone relists at once; an error the server answered (a watch refused, an ERROR event)
//   relists after a back-off; the difference between the old cache and the new list is
//   reported as events;
// - the back-off counts failures only until a healthy period: a watch that stayed open
//   healthyWatchMs (or brought events) starts the count over, so routine resets never climb
//   to the cap, while a watch that fails at once ("very short watch") still backs off.
// The caches are a copy of the API server's state, never a source of truth of their own. Objects
// from watch events are kept as the JSON the server sent (no model conversion: a burst of ends
// brings several events per run), so times are RFC 3339 strings there and Dates in listed
// objects: code reading a time takes either (job-status.ts timeMs).
import type { V1Job, V1ObjectMeta, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Backoff } from "./backoff.js";
import { statusOf, type KubeClient, type WatchHandle } from "./kube-client.js";

export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

interface KubeObject {
  metadata?: V1ObjectMeta;
}

interface ReflectorSpec<T extends KubeObject> {
  /** "jobs" or "pods", for logs. */
  resource: string;
  watchPath: string;
  labelSelector: string;
  list(): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
}

/** How a watch ended; `healthy` when it stayed open healthyWatchMs or brought any event. */
type WatchOutcome = { healthy: boolean } & ({ kind: "closed"; cut?: unknown } | { kind: "expired" } | { kind: "error"; error: unknown });

export interface WatchBackoffSettings {
  baseMs: number;
  capMs: number;
  /** Failures are forgotten after this long without one. */
  resetAfterMs: number;
  /** A watch open at least this long was healthy, whatever ended it. */
  healthyWatchMs: number;
}

/** client-go calls a watch under 1 s without events a "very short watch", a failure. */
export const WATCH_BACKOFF: WatchBackoffSettings = { baseMs: 100, capMs: 10_000, resetAfterMs: 60_000, healthyWatchMs: 1000 };

/** One resource's list+watch cache, by object name. */
export class Reflector<T extends KubeObject> {
  readonly items = new Map<string, T>();
  private resourceVersion = "";

  /** The resourceVersion the cache is current to (the last list, event or bookmark). */
  get syncedTo(): string {
    return this.resourceVersion;
  }
  private stopped = false;
  private current?: WatchHandle;
  private loop?: Promise<void>;
  /** Completed relists (the first list included). */
  relists = 0;
  /** Watches opened (the first one included). */
  watches = 0;
  private readonly backoff: Backoff;

  constructor(
    private readonly client: KubeClient,
    private readonly spec: ReflectorSpec<T>,
    private readonly onChange: (type: ChangeType, object: T) => void,
    private readonly logger: Logger,
    private readonly backoffSettings: WatchBackoffSettings = WATCH_BACKOFF,
  ) {
    this.backoff = new Backoff(backoffSettings);
  }

  /** Failures counted by the reconnect back-off since the last healthy watch. */
  get failures(): number {
    return this.backoff.failures;
  }

  /** Lists once (throws when that fails, e.g. 403), then keeps watching in the background. Again after stop(): from a fresh list. */
  async start(): Promise<void> {
    await this.loop;
    this.stopped = false;
    this.items.clear();
    this.resourceVersion = "";
    this.backoff.reset();
    await this.relist();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.abort();
    this.wake?.();
    await this.loop;
  }

  private wake?: () => void;

  /** A back-off that stop() cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async run(): Promise<void> {
    let relist = false;
    while (!this.stopped) {
      if (relist) {
        try {
          await this.relist();
          relist = false;
        } catch (error) {
          const wait = this.backoff.failure();
          this.logger.warn({ resource: this.spec.resource, err: (error as Error).message, failures: this.backoff.failures, retryInMs: Math.round(wait) }, "relisting failed; retrying");
          await this.pause(wait);
          continue;
        }
      }
      const outcome = await this.watchOnce();
      if (this.stopped) return;
      if (outcome.healthy) this.backoff.reset();
      switch (outcome.kind) {
        case "closed": {
          // Ended by the server (timeoutSeconds) or cut on the way: resume where it stopped.
          if (outcome.healthy) break;
          const wait = this.backoff.failure();
          this.logger.warn(
            { resource: this.spec.resource, err: outcome.cut ? String((outcome.cut as Error)?.message ?? outcome.cut) : undefined, failures: this.backoff.failures, retryInMs: Math.round(wait) },
            "watch ended at once; resuming after back-off",
          );
          await this.pause(wait);
          break;
        }
        case "expired":
          this.logger.info({ resource: this.spec.resource }, "watch resourceVersion expired (410 Gone); relisting");
          relist = true;
          break;
        case "error": {
          relist = true;
          const wait = this.backoff.failure();
          this.logger.warn(
            { resource: this.spec.resource, err: String((outcome.error as Error)?.message ?? outcome.error), failures: this.backoff.failures, retryInMs: Math.round(wait) },
            "watch failed; relisting after back-off",
          );
          await this.pause(wait);
          break;
        }
      }
    }
  }

  /** Replaces the cache with a fresh list, reporting what changed as events. */
  private async relist(): Promise<void> {
    const list = await this.client.call(`listing ${this.spec.resource}`, () => this.spec.list());
    if (this.stopped) return;
    const fresh = new Map<string, T>();
    for (const item of list.items) if (item.metadata?.name) fresh.set(item.metadata.name, item);
    const previous = new Map(this.items);
    this.items.clear();
    for (const [name, item] of fresh) this.items.set(name, item);
    this.resourceVersion = list.metadata?.resourceVersion ?? "";
    this.relists++;
    for (const [name, old] of previous) if (!fresh.has(name)) this.onChange("DELETED", old);
    for (const [name, item] of fresh) {
      const old = previous.get(name);
      if (!old) this.onChange("ADDED", item);
      else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.onChange("MODIFIED", item);
    }
  }

  private async watchOnce(): Promise<WatchOutcome> {
    let expired = false;
    let streamError: unknown;
    let events = 0;
    this.watches++;
    const openedAt = performance.now();
    const handle = await this.client.watch(
      this.spec.watchPath,
      {
        labelSelector: this.spec.labelSelector,
        resourceVersion: this.resourceVersion || undefined,
        allowWatchBookmarks: true,
        // The server ends the watch after this; we resume from the last resourceVersion.
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
      },
      (type, raw) => {
        if (type !== "ERROR") events++;
        this.onWatchEvent(type, raw, (code, error) => {
          if (code === 410) expired = true;
          else streamError = error;
        });
      },
    );
    this.current = handle;
    if (this.stopped) handle.abort();
    const ended = await handle.ended;
    this.current = undefined;
    const healthy = events > 0 || performance.now() - openedAt >= this.backoffSettings.healthyWatchMs;
    if (this.stopped) return { kind: "closed", healthy };
    if (expired || statusOf(ended) === 410) return { kind: "expired", healthy };
    if (streamError !== undefined) return { kind: "error", error: streamError, healthy };
    // An answer other than 200 (403, 429, 5xx): the server refused the watch.
    if (ended && statusOf(ended) !== undefined) return { kind: "error", error: ended, healthy };
    // No answer, or the connection cut mid-stream: the cache is exact up to resourceVersion.
    return { kind: "closed", cut: ended ?? undefined, healthy };
  }

  private onWatchEvent(type: string, raw: unknown, onError: (code: number | undefined, error: unknown) => void): void {
    if (this.stopped) return;
    const object = raw as { metadata?: { resourceVersion?: string; name?: string }; code?: number; message?: string };
    if (type === "ERROR") {
      onError(object?.code, new Error(`watch error ${object?.code ?? ""}: ${object?.message ?? "unknown"}`));
      return;
    }
    if (type === "BOOKMARK") {
      if (object?.metadata?.resourceVersion) this.resourceVersion = object.metadata.resourceVersion;
      return;
    }
    if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED") return;
    const item = raw as T;
    const name = item.metadata?.name;
    if (!name) return;
    if (item.metadata?.resourceVersion) this.resourceVersion = item.metadata.resourceVersion;
    if (type === "DELETED") this.items.delete(name);
    else this.items.set(name, item);
    this.onChange(type, item);
  }
}

export interface JobTrackerOptions {
  namespace: string;
  labelSelector: string;
  logger: Logger;
  watchBackoff?: WatchBackoffSettings;
}

/** The service's Jobs and their Pods in the jobs namespace, watched by label. */
export class JobTracker {
  readonly jobs: Reflector<V1Job>;
  readonly pods: Reflector<V1Pod>;

  constructor(
    client: KubeClient,
    options: JobTrackerOptions,
    onJob: (type: ChangeType, job: V1Job) => void,
    onPod: (type: ChangeType, pod: V1Pod) => void,
  ) {
    const { namespace, labelSelector, logger, watchBackoff } = options;
    this.jobs = new Reflector<V1Job>(
      client,
      {
        resource: "jobs",
        watchPath: `/apis/batch/v1/namespaces/${namespace}/jobs`,
        labelSelector,
        list: () => client.batch.listNamespacedJob({ namespace, labelSelector }),
      },
      onJob,
      logger,
      watchBackoff,
    );
    this.pods = new Reflector<V1Pod>(
      client,
      {
        resource: "pods",
        watchPath: `/api/v1/namespaces/${namespace}/pods`,
        labelSelector,
        list: () => client.core.listNamespacedPod({ namespace, labelSelector }),
      },
      onPod,
      logger,
      watchBackoff,
    );
  }

  /** Both caches filled: Jobs first, so every pod listed has its Job known. */
  async start(): Promise<void> {
    await this.jobs.start();
    try {
      await this.pods.start();
    } catch (error) {
      await this.jobs.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.jobs.stop(), this.pods.stop()]);
  }
}
