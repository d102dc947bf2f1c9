// The lease on Kubernetes: a coordination.k8s.io/v1 Lease in the jobs namespace, with client-go's
// LeaseLock semantics. The holder is the pod name; a follower judges expiry by its own clock from
// the moment it last saw the record change (so clocks of different nodes never compare); every
// write is a PUT carrying the resourceVersion read, so of two replicas racing for an expired lease
// exactly one wins (the other gets 409 Conflict). Every call is one try with a short timeout: a
// renewal that fails is retried at the next retry period, within the renew deadline.
import {
  CoordinationV1Api, ServerConfiguration, V1MicroTime, createConfiguration,
  type KubeConfig, type Middleware, type V1Lease, type V1LeaseSpec,
} from "@kubernetes/client-node";
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
}

export class KubernetesLease implements LeaseBackend {
  readonly kind = "kubernetes" as const;
  private readonly api: CoordinationV1Api;
  private readonly namespace: string;
  /** The Lease as last read or written (its resourceVersion is what the next PUT must carry). */
  private current?: V1Lease;
  /** When the record last changed, by our clock (performance.now()). */
  private observedAt = 0;
  private observedSpec = "";

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

  onMaybeFree(): void {
    // Followers poll every retry period (a released Lease has no holder and is taken at once).
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

  async close(): Promise<void> {}

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
