// The lease on Kubernetes: a coordination.k8s.io/v1 Lease in the jobs namespace, with client-go's
// LeaseLock semantics. The holder is the pod name; a follower judges expiry by its own clock from
// the moment it last saw the record change (so clocks of different nodes never compare); every
// write is a PUT carrying the resourceVersion read, so of two replicas racing for an expired lease
// exactly one wins (the other gets 409 Conflict). Every call is one try with a short timeout: a
// renewal that fails is retried at the next retry period, within the renew deadline.
//
// A watch on the Lease (field selector metadata.name) tells the followers when it may have become
// free, as PostgreSQL's NOTIFY does: a release (no holder), a change of holder or duration, its
// deletion. Like client-go's reflector it resumes from the last resourceVersion after a cut,
// starts afresh (resourceVersion unset: the current state first) after 410 Gone, and backs off
// on failures (429, 5xx, refused); it never throws, and stops on close(). It only hastens a
// follower's next try: the retry period still polls whatever the watch misses.
import {
  CoordinationV1Api, ServerConfiguration, V1MicroTime, Watch, createConfiguration,
  type KubeConfig, type Middleware, type V1Lease, type V1LeaseSpec,
} from "@kubernetes/client-node";
import { Backoff } from "../runtime/kubernetes/backoff.js";
import { statusOf } from "../runtime/kubernetes/kube-client.js";
import type { LeaseBackend } from "./election.js";

/** The Lease's name; one per jobs namespace, so two schedulers never both manage its Jobs. */
export const LEASE_OBJECT_NAME = "jobscheduler-leader";

export interface KubernetesLeaseOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  leaseDurationMs: number;
  callTimeoutMs: number;
  /** Fencing on a shared PostgreSQL store: the store's epoch is raised for each term (postgres-lease.ts); else the Lease's transitions count. */
  beginTerm?: (identity: string) => Promise<number>;
  /** Where the watch says why it reconnects. */
  logger?: { warn(details: object, message: string): void; debug(details: object, message: string): void };
}

/** Re-watch back-off: as the runtime's reflectors (client-go's: a watch open a second was healthy). */
const WATCH_BACKOFF = { baseMs: 100, capMs: 10_000, resetAfterMs: 60_000 };
const HEALTHY_WATCH_MS = 1000;

export class KubernetesLease implements LeaseBackend {
  readonly kind = "kubernetes" as const;
  private readonly api: CoordinationV1Api;
  private readonly namespace: string;
  /** The Lease as last read or written (its resourceVersion is what the next PUT must carry). */
  private current?: V1Lease;
  /** When the record last changed, by our clock (performance.now()). */
  private observedAt = 0;
  private observedSpec = "";
  private readonly listeners: (() => void)[] = [];
  private closed = false;
  private watching?: Promise<void>;
  private currentWatch?: AbortController;
  private wakeWatch?: () => void;
  /** The Lease's holder and duration as the watch last saw them ("" holder: none; undefined: no Lease). */
  private watched?: { holder: string; durationSeconds: number };

  constructor(private readonly options: KubernetesLeaseOptions) {
    const cluster = options.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("the Kubernetes configuration names no current cluster");
    const timeout: Middleware = {
      pre: async (context) => {
        context.setSignal(AbortSignal.timeout(options.callTimeoutMs));
        return context;
      },
      post: async (context) => context,
    };
    this.api = new CoordinationV1Api(createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: options.kubeConfig },
      promiseMiddleware: [timeout],
    }));
    this.namespace = options.namespace;
  }

  /** Calls `listener` when the watch sees the Lease released, handed to another holder, changed in duration or deleted. */
  onMaybeFree(listener: () => void): void {
    this.listeners.push(listener);
    this.watching ??= this.watchLoop();
  }

  async acquire(identity: string): Promise<{ acquired: true; epoch: number } | { acquired: false; holder: string; expiresInMs?: number }> {
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name: LEASE_OBJECT_NAME, namespace: this.namespace });
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      return this.create(identity);
    }
    this.observe(lease);
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const durationMs = (spec.leaseDurationSeconds ?? 0) * 1000;
    const left = this.observedAt + durationMs - performance.now();
    if (holder !== "" && holder !== identity && left > 0) return { acquired: false, holder, expiresInMs: left };
    const now = new V1MicroTime();
    const taken: V1LeaseSpec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: this.durationSeconds(),
      acquireTime: now,
      renewTime: now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === identity ? 0 : 1),
    };
    try {
      this.record(await this.api.replaceNamespacedLease({ name: LEASE_OBJECT_NAME, namespace: this.namespace, body: { ...lease, spec: taken } }));
    } catch (error) {
      if (statusOf(error) === 409) return { acquired: false, holder };
      throw error;
    }
    return { acquired: true, epoch: await this.epoch(identity) };
  }

  async renew(identity: string, _epoch: number): Promise<boolean> {
    for (let tries = 0; tries < 2; tries++) {
      const lease = this.current;
      if (!lease || lease.spec?.holderIdentity !== identity) return false;
      try {
        const body = { ...lease, spec: { ...lease.spec, renewTime: new V1MicroTime(), leaseDurationSeconds: this.durationSeconds() } };
        this.record(await this.api.replaceNamespacedLease({ name: LEASE_OBJECT_NAME, namespace: this.namespace, body }));
        return true;
      } catch (error) {
        if (statusOf(error) !== 409) throw error;
        // Someone wrote it meanwhile: ours still if it names us.
        this.observe(await this.api.readNamespacedLease({ name: LEASE_OBJECT_NAME, namespace: this.namespace }));
      }
    }
    return false;
  }

  async release(identity: string): Promise<void> {
    const lease = this.current;
    if (!lease || lease.spec?.holderIdentity !== identity) return;
    const now = new V1MicroTime();
    // As client-go's ReleaseOnCancel: no holder, a one-second duration.
    const { holderIdentity: _released, ...rest } = lease.spec ?? {};
    const body = { ...lease, spec: { ...rest, leaseDurationSeconds: 1, renewTime: now, acquireTime: now } };
    this.record(await this.api.replaceNamespacedLease({ name: LEASE_OBJECT_NAME, namespace: this.namespace, body }));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.currentWatch?.abort();
    this.wakeWatch?.();
    await this.watching;
  }

  // ---- the watch --------------------------------------------------------------------------

  private async watchLoop(): Promise<void> {
    const backoff = new Backoff(WATCH_BACKOFF);
    let resourceVersion = "";
    while (!this.closed) {
      const outcome = await this.watchOnce(resourceVersion).catch((error: unknown) => ({ kind: "error" as const, error, healthy: false, resourceVersion }));
      if (this.closed) return;
      resourceVersion = outcome.resourceVersion;
      if (outcome.healthy) backoff.reset();
      if (outcome.kind === "expired") {
        // The history is gone: the next watch starts from the current state (sent first as ADDED).
        this.options.logger?.debug({ lease: LEASE_OBJECT_NAME }, "Lease watch expired (410 Gone); watching afresh");
        resourceVersion = "";
        continue;
      }
      if (outcome.kind === "closed" && outcome.healthy) continue;
      const wait = backoff.failure();
      this.options.logger?.warn(
        { lease: LEASE_OBJECT_NAME, err: outcome.kind === "error" ? errorText(outcome.error) : "closed at once", failures: backoff.failures, retryInMs: Math.round(wait) },
        "Lease watch ended; watching again after back-off",
      );
      // A refused watch may be refused for its resourceVersion: start afresh.
      if (outcome.kind === "error") resourceVersion = "";
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wakeWatch = done;
      });
      this.wakeWatch = undefined;
    }
  }

  /** One watch, to its end: how it ended, and the resourceVersion to resume from. */
  private async watchOnce(from: string): Promise<{ kind: "closed" | "expired" | "error"; error?: unknown; healthy: boolean; resourceVersion: string }> {
    let resourceVersion = from;
    let events = 0;
    let failure: { kind: "expired" | "error"; error?: unknown } | undefined;
    const openedAt = performance.now();
    let finish!: (error: unknown) => void;
    const ended = new Promise<unknown>((resolve) => (finish = resolve));
    const path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.namespace)}/leases`;
    const query = {
      fieldSelector: `metadata.name=${LEASE_OBJECT_NAME}`,
      allowWatchBookmarks: true,
      timeoutSeconds: 300 + Math.floor(Math.random() * 300),
      ...(from ? { resourceVersion: from } : {}),
    };
    const controller = await new Watch(this.options.kubeConfig).watch(path, query, (type: string, object: unknown) => {
      const item = object as V1Lease & { code?: number; message?: string };
      if (type === "ERROR") {
        failure = item.code === 410 ? { kind: "expired" } : { kind: "error", error: new Error(`watch error ${item.code ?? ""}: ${item.message ?? "unknown"}`) };
        return;
      }
      events++;
      if (item.metadata?.resourceVersion) resourceVersion = item.metadata.resourceVersion;
      if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") this.seen(type === "DELETED" ? undefined : item);
    }, (error: unknown) => finish(error ?? null));
    this.currentWatch = controller;
    if (this.closed) controller.abort();
    const error = await ended;
    this.currentWatch = undefined;
    const healthy = events > 0 || performance.now() - openedAt >= HEALTHY_WATCH_MS;
    if (failure) return { ...failure, healthy, resourceVersion };
    if (statusOf(error) === 410) return { kind: "expired", healthy, resourceVersion };
    // An answer other than 200 (403, 429, 5xx): refused.
    if (error && statusOf(error) !== undefined) return { kind: "error", error, healthy, resourceVersion };
    // Ended by the server (timeoutSeconds) or cut: resume from where it got to.
    return { kind: "closed", healthy, resourceVersion };
  }

  /** A Lease as the watch sees it (undefined: deleted): the followers try when it may be free. */
  private seen(lease: V1Lease | undefined): void {
    const now = lease ? { holder: lease.spec?.holderIdentity ?? "", durationSeconds: lease.spec?.leaseDurationSeconds ?? 0 } : undefined;
    const before = this.watched;
    this.watched = now;
    const maybeFree = now === undefined || now.holder === ""
      || (before !== undefined && (before.holder !== now.holder || before.durationSeconds !== now.durationSeconds));
    if (maybeFree) for (const listener of this.listeners) listener();
  }

  private async create(identity: string): Promise<{ acquired: true; epoch: number } | { acquired: false; holder: string }> {
    const now = new V1MicroTime();
    const body: V1Lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: LEASE_OBJECT_NAME, namespace: this.namespace, labels: { "app.kubernetes.io/part-of": "jobscheduler" } },
      spec: { holderIdentity: identity, leaseDurationSeconds: this.durationSeconds(), acquireTime: now, renewTime: now, leaseTransitions: 0 },
    };
    try {
      this.record(await this.api.createNamespacedLease({ namespace: this.namespace, body }));
    } catch (error) {
      if (statusOf(error) === 409) return { acquired: false, holder: "" };
      throw error;
    }
    return { acquired: true, epoch: await this.epoch(identity) };
  }

  private async epoch(identity: string): Promise<number> {
    return this.options.beginTerm ? this.options.beginTerm(identity) : (this.current?.spec?.leaseTransitions ?? 0);
  }

  private durationSeconds(): number {
    return Math.max(1, Math.ceil(this.options.leaseDurationMs / 1000));
  }

  /** What we wrote: seen now. */
  private record(lease: V1Lease): void {
    this.current = lease;
    this.observedSpec = JSON.stringify(lease.spec ?? {});
    this.observedAt = performance.now();
  }

  /** What we read: its expiry counts from when it last changed in our eyes. */
  private observe(lease: V1Lease): void {
    this.current = lease;
    const spec = JSON.stringify(lease.spec ?? {});
    if (spec !== this.observedSpec) {
      this.observedSpec = spec;
      this.observedAt = performance.now();
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
