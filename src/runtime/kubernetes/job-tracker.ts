// The runtime's view of the cluster: one list+watch of the service's own Jobs and one of their
// Pods (by the managed-by label), each kept as a cache. A watch resumes from the last
// resourceVersion after a clean close; after 410 Gone or an error it relists (with back-off) and
// reports the difference as events, as client-go's reflector does. The caches are a copy of the
// API server's state, never a source of truth of their own.
import type { V1Job, V1ObjectMeta, V1Pod } from "@kubernetes/client-node";
import { ObjectSerializer } from "@kubernetes/client-node/dist/serializer.js";
import type { Logger } from "pino";
import { backoffDelay, statusOf, type KubeClient, type WatchHandle } from "./kube-client.js";

export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

interface KubeObject {
  metadata?: V1ObjectMeta;
}

interface ReflectorSpec<T extends KubeObject> {
  /** "jobs" or "pods", for logs. */
  resource: string;
  /** The model name for ObjectSerializer ("V1Job"). */
  model: string;
  watchPath: string;
  labelSelector: string;
  list(): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
}

type WatchOutcome = { kind: "closed" } | { kind: "expired" } | { kind: "error"; error: unknown };

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

  constructor(
    private readonly client: KubeClient,
    private readonly spec: ReflectorSpec<T>,
    private readonly onChange: (type: ChangeType, object: T) => void,
    private readonly logger: Logger,
  ) {}

  /** Lists once (throws when that fails, e.g. 403), then keeps watching in the background. */
  async start(): Promise<void> {
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
    let failures = 0;
    let relist = false;
    while (!this.stopped) {
      if (relist) {
        try {
          await this.relist();
          relist = false;
        } catch (error) {
          failures++;
          this.logger.warn({ resource: this.spec.resource, err: (error as Error).message, failures }, "relisting failed; retrying");
          await this.pause(backoffDelay(failures, 200, 10_000));
          continue;
        }
      }
      const outcome = await this.watchOnce();
      if (this.stopped) return;
      switch (outcome.kind) {
        case "closed":
          // The server ended the watch (timeoutSeconds): resume where it stopped.
          failures = 0;
          break;
        case "expired":
          this.logger.info({ resource: this.spec.resource }, "watch resourceVersion expired (410 Gone); relisting");
          relist = true;
          break;
        case "error":
          failures++;
          relist = true;
          this.logger.warn({ resource: this.spec.resource, err: String((outcome.error as Error)?.message ?? outcome.error), failures }, "watch failed; relisting after back-off");
          await this.pause(backoffDelay(failures, 100, 10_000));
          break;
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
    const handle = await this.client.watch(
      this.spec.watchPath,
      {
        labelSelector: this.spec.labelSelector,
        resourceVersion: this.resourceVersion || undefined,
        allowWatchBookmarks: true,
        // The server ends the watch after this; we resume from the last resourceVersion.
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
      },
      (type, raw) => this.onWatchEvent(type, raw, (code, error) => {
        if (code === 410) expired = true;
        else streamError = error;
      }),
    );
    this.current = handle;
    if (this.stopped) handle.abort();
    const ended = await handle.ended;
    this.current = undefined;
    if (this.stopped) return { kind: "closed" };
    if (expired || statusOf(ended) === 410) return { kind: "expired" };
    if (streamError !== undefined) return { kind: "error", error: streamError };
    if (ended) return { kind: "error", error: ended };
    return { kind: "closed" };
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
    const item = ObjectSerializer.deserialize(raw, this.spec.model) as T;
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
    const { namespace, labelSelector, logger } = options;
    this.jobs = new Reflector<V1Job>(
      client,
      {
        resource: "jobs",
        model: "V1Job",
        watchPath: `/apis/batch/v1/namespaces/${namespace}/jobs`,
        labelSelector,
        list: () => client.batch.listNamespacedJob({ namespace, labelSelector }),
      },
      onJob,
      logger,
    );
    this.pods = new Reflector<V1Pod>(
      client,
      {
        resource: "pods",
        model: "V1Pod",
        watchPath: `/api/v1/namespaces/${namespace}/pods`,
        labelSelector,
        list: () => client.core.listNamespacedPod({ namespace, labelSelector }),
      },
      onPod,
      logger,
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
