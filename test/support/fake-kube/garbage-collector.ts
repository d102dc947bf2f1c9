// Deletion: graceful pod deletion, finalizers, and the garbage collector's handling of dependents
// (objects whose ownerReferences name the deleted object) under each propagation policy.
import { resourceByKind } from "./resources.js";
import type { Scheduler } from "./scheduler.js";
import { ApiError, conflict, notFound } from "./status.js";
import type { ObjectStore, StoreEvent } from "./store.js";
import { apiSeconds, type Timing } from "./timing.js";
import { asPod, kubeTime, type Kind, type KubeObject, type OwnerReference, type PropagationPolicy } from "./types.js";

export const FOREGROUND_FINALIZER = "foregroundDeletion";

export interface DeleteOptions {
  propagationPolicy?: PropagationPolicy;
  orphanDependents?: boolean;
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface DeleteResult {
  /** The object as it was removed, or as it now is while its deletion is pending. */
  object: KubeObject;
  /** False while a graceful deletion or finalizers hold the object. */
  removed: boolean;
}

const KINDS: readonly Kind[] = ["Job", "Pod", "ConfigMap", "Lease"];

export class GarbageCollector {
  /** Owners ("Kind/namespace/name") waiting for their blocking dependents to go. */
  private readonly foregroundOwners = new Set<string>();

  constructor(
    private readonly store: ObjectStore,
    private readonly scheduler: Scheduler,
    private readonly timing: Timing,
  ) {}

  start(): () => void {
    return this.store.subscribe((event) => this.onEvent(event));
  }

  delete(kind: Kind, namespace: string, name: string, opts: DeleteOptions = {}): DeleteResult {
    const rt = resourceByKind(kind);
    const current = this.store.get(kind, namespace, name);
    if (!current) throw notFound(rt, name);
    const pre = opts.preconditions;
    if (pre?.uid !== undefined && pre.uid !== current.metadata.uid) {
      throw conflict(rt, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid}`);
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(
        rt,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`,
      );
    }
    if (kind === "Pod") return this.deletePod(current, opts.gracePeriodSeconds);
    if (current.metadata.deletionTimestamp) return { object: current, removed: false };

    const policy =
      opts.propagationPolicy ??
      (opts.orphanDependents === true ? "Orphan" : opts.orphanDependents === false ? "Background" : rt.defaultPropagation);
    if (policy === "Orphan") this.orphanDependents(current);
    if (policy === "Foreground" || (current.metadata.finalizers ?? []).length > 0) {
      const marked = this.store.mutate(kind, namespace, name, (obj) => {
        obj.metadata.deletionTimestamp = kubeTime();
        obj.metadata.deletionGracePeriodSeconds = 0;
        if (policy === "Foreground") obj.metadata.finalizers = [...(obj.metadata.finalizers ?? []), FOREGROUND_FINALIZER];
      });
      if (policy === "Foreground") {
        this.foregroundOwners.add(`${kind}/${namespace}/${name}`);
        // The garbage collector is a controller: it deletes the dependents once it sees the mark.
        // Until they are gone (pods through their grace period) the owner stays, marked.
        this.scheduler.after(this.timing.gcDelayMs, () => {
          this.deleteDependents(current);
          this.releaseForegroundOwners();
        });
      }
      this.releaseForegroundOwners();
      const now = this.store.get(kind, namespace, name);
      return now ? { object: now, removed: false } : { object: marked ?? current, removed: true };
    }
    const removed = this.store.remove(kind, namespace, name);
    return { object: removed ?? current, removed: true };
  }

  private deletePod(current: KubeObject, gracePeriodSeconds: number | undefined): DeleteResult {
    const pod = asPod(current);
    const { namespace, name } = pod.metadata;
    if (pod.metadata.deletionTimestamp) return { object: current, removed: false };
    const grace = gracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    const phase = pod.status?.phase;
    const finished = phase === "Succeeded" || phase === "Failed";
    // Like kube-apiserver: finished and never-scheduled pods, and grace 0, skip graceful termination.
    if (grace === 0 || finished || !pod.spec?.nodeName) {
      const removed = this.store.remove("Pod", namespace, name);
      return { object: removed ?? current, removed: true };
    }
    const marked = this.store.mutate("Pod", namespace, name, (obj) => {
      obj.metadata.deletionTimestamp = kubeTime(Date.now() + apiSeconds(this.timing, grace));
      obj.metadata.deletionGracePeriodSeconds = grace;
    });
    return { object: marked ?? current, removed: false };
  }

  private onEvent(event: StoreEvent): void {
    const meta = event.object.metadata;
    if (event.type === "DELETED") {
      this.scheduler.after(this.timing.gcDelayMs, () => this.collectDependents(meta.uid, meta.namespace));
    } else if (event.type === "MODIFIED" && event.kind !== "Pod" && meta.deletionTimestamp && (meta.finalizers ?? []).length === 0) {
      this.store.remove(event.kind, meta.namespace, meta.name);
      return;
    }
    this.releaseForegroundOwners();
  }

  /** Background propagation: once the owner is gone, delete dependents that have no other live owner. */
  private collectDependents(ownerUid: string, namespace: string): void {
    for (const dep of this.store.dependentsOf(ownerUid, namespace)) {
      const others = (dep.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== ownerUid && this.ownerExists(ref, namespace));
      if (others.length > 0) {
        this.store.mutate(dep.kind as Kind, namespace, dep.metadata.name, (obj) => {
          obj.metadata.ownerReferences = (obj.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== ownerUid);
        });
      } else {
        this.deleteQuietly(dep, "Background");
      }
    }
  }

  private deleteDependents(owner: KubeObject): void {
    for (const dep of this.store.dependentsOf(owner.metadata.uid, owner.metadata.namespace)) this.deleteQuietly(dep, "Foreground");
  }

  private orphanDependents(owner: KubeObject): void {
    for (const dep of this.store.dependentsOf(owner.metadata.uid, owner.metadata.namespace)) {
      this.store.mutate(dep.kind as Kind, dep.metadata.namespace, dep.metadata.name, (obj) => {
        const refs = (obj.metadata.ownerReferences ?? []).filter((ref) => ref.uid !== owner.metadata.uid);
        if (refs.length > 0) obj.metadata.ownerReferences = refs;
        else delete obj.metadata.ownerReferences;
      });
    }
  }

  /** Foreground deletion finishes when no dependent with blockOwnerDeletion remains. */
  private releaseForegroundOwners(): void {
    for (const key of [...this.foregroundOwners]) {
      const [kind, namespace, name] = key.split("/") as [Kind, string, string];
      const owner = this.store.get(kind, namespace, name);
      if (!owner?.metadata.finalizers?.includes(FOREGROUND_FINALIZER)) {
        this.foregroundOwners.delete(key);
        continue;
      }
      const blocking = this.store
        .dependentsOf(owner.metadata.uid, namespace)
        .some((dep) => dep.metadata.ownerReferences?.some((ref) => ref.uid === owner.metadata.uid && ref.blockOwnerDeletion));
      if (blocking) continue;
      this.foregroundOwners.delete(key);
      this.store.mutate(kind, namespace, name, (obj) => {
        obj.metadata.finalizers = (obj.metadata.finalizers ?? []).filter((f) => f !== FOREGROUND_FINALIZER);
      });
    }
  }

  private ownerExists(ref: OwnerReference, namespace: string): boolean {
    if (!KINDS.includes(ref.kind as Kind)) return true; // an owner kind the fake does not store
    const owner = this.store.get(ref.kind as Kind, namespace, ref.name);
    return owner?.metadata.uid === ref.uid;
  }

  private deleteQuietly(obj: KubeObject, propagationPolicy: PropagationPolicy): void {
    try {
      this.delete(obj.kind as Kind, obj.metadata.namespace, obj.metadata.name, { propagationPolicy });
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }
}
