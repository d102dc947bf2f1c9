// The object store: one global resourceVersion counter (like etcd's revision), a bounded event
// history for watches to replay from, and synchronous, strictly ordered change notification.
import { randomUUID } from "node:crypto";
import { resourceByKind } from "./resources.js";
import { STALE_OBJECT, alreadyExists, conflict, notFound } from "./status.js";
import { kubeTime, type Kind, type KubeObject } from "./types.js";

export type ChangeType = "ADDED" | "MODIFIED" | "DELETED";

/**
 * A change. Its objects are shared by every listener and the history (the store never changes a
 * stored object in place, it stores a new one): listeners must not modify them.
 */
export interface StoreEvent {
  type: ChangeType;
  kind: Kind;
  /** The object after the change; for DELETED its last state, carrying the deletion's resourceVersion. */
  object: KubeObject;
  /** The object before the change (MODIFIED and DELETED). */
  previous?: KubeObject;
  resourceVersion: number;
}

export type StoreListener = (event: StoreEvent) => void;

/** An object as a caller hands it in: the store fills uid, resourceVersion and creationTimestamp. */
export type NewObject = Omit<KubeObject, "metadata"> & {
  metadata: Partial<KubeObject["metadata"]> & { name: string; namespace: string };
};

function key(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

// Objects are plain JSON (as they travel): a JSON round trip copies them faster than structuredClone.
function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

export class ObjectStore {
  private readonly objects = new Map<string, KubeObject>();
  /** Keys of the objects naming each uid in their ownerReferences (a Job's pods, without a scan). */
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly history: StoreEvent[] = [];
  private readonly listeners = new Set<StoreListener>();
  private readonly pending: StoreEvent[] = [];
  private dispatching = false;
  private revision: number;
  /** A watch may resume from any resourceVersion at or after this one. */
  private oldestResumable: number;

  constructor(
    private readonly historySize: number,
    firstRevision: number,
    private readonly onListenerError: (err: unknown) => void,
  ) {
    this.revision = firstRevision;
    this.oldestResumable = firstRevision;
  }

  get resourceVersion(): number {
    return this.revision;
  }

  get oldestResumableVersion(): number {
    return this.oldestResumable;
  }

  get(kind: Kind, namespace: string, name: string): KubeObject | undefined {
    const obj = this.objects.get(key(kind, namespace, name));
    return obj && clone(obj);
  }

  /** Objects of a kind in a namespace (all namespaces when omitted), in etcd key order. */
  list(kind: Kind, namespace?: string): KubeObject[] {
    const found: KubeObject[] = [];
    for (const obj of this.objects.values()) {
      if (obj.kind === kind && (namespace === undefined || obj.metadata.namespace === namespace)) found.push(clone(obj));
    }
    return found.sort((a, b) =>
      key(a.kind, a.metadata.namespace, a.metadata.name).localeCompare(key(b.kind, b.metadata.namespace, b.metadata.name)),
    );
  }

  /** The objects of a kind in a namespace that the predicate selects (only those are copied). */
  select(kind: Kind, namespace: string, predicate: (obj: KubeObject) => boolean): KubeObject[] {
    const found: KubeObject[] = [];
    for (const obj of this.objects.values()) {
      if (obj.kind === kind && obj.metadata.namespace === namespace && predicate(obj)) found.push(clone(obj));
    }
    return found;
  }

  /** Objects in the namespace with an ownerReference to the given uid. */
  dependentsOf(ownerUid: string, namespace: string): KubeObject[] {
    const found: KubeObject[] = [];
    for (const k of this.byOwner.get(ownerUid) ?? []) {
      const obj = this.objects.get(k);
      if (obj && obj.metadata.namespace === namespace) found.push(clone(obj));
    }
    return found.sort((a, b) => key(a.kind, a.metadata.namespace, a.metadata.name).localeCompare(key(b.kind, b.metadata.namespace, b.metadata.name)));
  }

  private put(k: string, obj: KubeObject, previous?: KubeObject): void {
    for (const ref of previous?.metadata.ownerReferences ?? []) this.byOwner.get(ref.uid)?.delete(k);
    this.objects.set(k, obj);
    for (const ref of obj.metadata.ownerReferences ?? []) {
      let keys = this.byOwner.get(ref.uid);
      if (!keys) this.byOwner.set(ref.uid, (keys = new Set()));
      keys.add(k);
    }
  }

  private drop(k: string, previous: KubeObject): void {
    this.objects.delete(k);
    for (const ref of previous.metadata.ownerReferences ?? []) {
      const keys = this.byOwner.get(ref.uid);
      keys?.delete(k);
      if (keys?.size === 0) this.byOwner.delete(ref.uid);
    }
  }

  create(input: NewObject): KubeObject {
    const kind = input.kind as Kind;
    const k = key(kind, input.metadata.namespace, input.metadata.name);
    if (this.objects.has(k)) throw alreadyExists(resourceByKind(kind), input.metadata.name);
    const rv = ++this.revision;
    const obj = clone(input) as KubeObject;
    obj.metadata.uid ??= randomUUID();
    obj.metadata.creationTimestamp = kubeTime();
    obj.metadata.resourceVersion = String(rv);
    this.put(k, obj);
    this.record({ type: "ADDED", kind, object: obj, resourceVersion: rv });
    return clone(obj);
  }

  /**
   * Replaces an object (PUT). When expectedVersion is given it must equal the stored
   * resourceVersion, or the write fails with 409 Conflict.
   */
  replace(next: KubeObject, expectedVersion?: string): KubeObject {
    const kind = next.kind as Kind;
    const { namespace, name } = next.metadata;
    const current = this.objects.get(key(kind, namespace, name));
    const rt = resourceByKind(kind);
    if (!current) throw notFound(rt, name);
    if (expectedVersion !== undefined && expectedVersion !== current.metadata.resourceVersion) {
      throw conflict(rt, name, STALE_OBJECT);
    }
    const obj = clone(next);
    obj.metadata.uid = current.metadata.uid;
    obj.metadata.creationTimestamp = current.metadata.creationTimestamp;
    return this.write(obj, current);
  }

  /**
   * Changes an object in place, as a controller writing status would. Returns the new object, or
   * undefined when it does not exist. A change that alters nothing writes nothing.
   */
  mutate(kind: Kind, namespace: string, name: string, change: (obj: KubeObject) => void): KubeObject | undefined {
    const current = this.objects.get(key(kind, namespace, name));
    if (!current) return undefined;
    const obj = clone(current);
    change(obj);
    if (JSON.stringify(obj) === JSON.stringify(current)) return clone(current);
    return this.write(obj, current);
  }

  remove(kind: Kind, namespace: string, name: string): KubeObject | undefined {
    const k = key(kind, namespace, name);
    const current = this.objects.get(k);
    if (!current) return undefined;
    this.drop(k, current);
    const rv = ++this.revision;
    const last = clone(current);
    last.metadata.resourceVersion = String(rv);
    this.record({ type: "DELETED", kind, object: last, previous: current, resourceVersion: rv });
    return clone(last);
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events after the given resourceVersion, or undefined when history no longer reaches back that far. */
  eventsAfter(resourceVersion: number): StoreEvent[] | undefined {
    if (resourceVersion < this.oldestResumable) return undefined;
    return this.history.filter((e) => e.resourceVersion > resourceVersion).map(clone);
  }

  /** Forgets all history, as etcd compaction does: resuming from any earlier version now answers 410. */
  compact(): void {
    this.history.length = 0;
    this.oldestResumable = this.revision;
  }

  private write(obj: KubeObject, previous: KubeObject): KubeObject {
    const rv = ++this.revision;
    obj.metadata.resourceVersion = String(rv);
    this.put(key(obj.kind, obj.metadata.namespace, obj.metadata.name), obj, previous);
    this.record({ type: "MODIFIED", kind: obj.kind as Kind, object: obj, previous, resourceVersion: rv });
    return clone(obj);
  }

  private record(event: StoreEvent): void {
    this.history.push(event);
    while (this.history.length > this.historySize) {
      const dropped = this.history.shift();
      if (dropped) this.oldestResumable = dropped.resourceVersion;
    }
    this.pending.push(event);
    this.dispatch();
  }

  // A listener that writes while being notified must not let its own event overtake the one being
  // delivered, or watchers would see resourceVersions out of order: events queue, one loop delivers.
  private dispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      for (let event = this.pending.shift(); event; event = this.pending.shift()) {
        for (const listener of [...this.listeners]) {
          try {
            listener(event);
          } catch (err) {
            this.onListenerError(err);
          }
        }
      }
    } finally {
      this.dispatching = false;
    }
  }
}
