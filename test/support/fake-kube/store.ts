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
  /** When each history event was recorded (performance.now()), in step with history. */
  private readonly historyAt: number[] = [];
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
    /** Events older than this (real ms) are compacted away, as etcd compaction and the watch cache forget them. */
    private readonly maxAgeMs = Infinity,
  ) {
    this.revision = firstRevision;
    this.oldestResumable = firstRevision;
  }

  get resourceVersion(): number {
    return this.revision;
  }

  get oldestResumableVersion(): number {
    this.prune();
    return this.oldestResumable;
  }

  /**
   * The oldest resourceVersion a read that reaches back ageMs can start from: the version of the
   * newest event older than that (or of the last one compacted away). Reads from before it get 410.
   */
  oldestVersionWithin(ageMs: number): number {
    this.prune();
    const cutoff = performance.now() - ageMs;
    let oldest = this.oldestResumable;
    for (let i = 0; i < this.history.length && this.historyAt[i] < cutoff; i++) oldest = this.history[i].resourceVersion;
    return oldest;
  }

  /**
   * The objects of a kind (in a namespace, or all) as they were at the given resourceVersion,
   * rebuilt by undoing the history after it; undefined when that history was compacted (ageMs:
   * how far back this kind of read may reach).
   */
  snapshot(kind: Kind, namespace: string | undefined, resourceVersion: number, ageMs = Infinity): KubeObject[] | undefined {
    if (resourceVersion < this.oldestVersionWithin(ageMs)) return undefined;
    const state = new Map<string, KubeObject>();
    for (const obj of this.objects.values()) {
      if (obj.kind === kind && (namespace === undefined || obj.metadata.namespace === namespace)) state.set(key(kind, obj.metadata.namespace, obj.metadata.name), obj);
    }
    for (let i = this.history.length - 1; i >= 0 && this.history[i].resourceVersion > resourceVersion; i--) {
      const event = this.history[i];
      const meta = event.object.metadata;
      if (event.kind !== kind || (namespace !== undefined && meta.namespace !== namespace)) continue;
      const k = key(kind, meta.namespace, meta.name);
      if (event.type === "ADDED") state.delete(k);
      else if (event.previous) state.set(k, event.previous);
    }
    return [...state.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, obj]) => clone(obj));
  }

  /** Resolves true once the store reached the resourceVersion, false after timeoutMs. */
  waitForVersion(resourceVersion: number, timeoutMs: number): Promise<boolean> {
    if (this.revision >= resourceVersion) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (reached: boolean): void => {
        clearTimeout(timer);
        unsubscribe();
        resolve(reached);
      };
      const unsubscribe = this.subscribe(() => {
        if (this.revision >= resourceVersion) done(true);
      });
      const timer = setTimeout(() => done(false), timeoutMs);
    });
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
  eventsAfter(resourceVersion: number, ageMs = Infinity): StoreEvent[] | undefined {
    if (resourceVersion < this.oldestVersionWithin(ageMs)) return undefined;
    return this.history.filter((e) => e.resourceVersion > resourceVersion).map(clone);
  }

  /** Forgets all history, as etcd compaction does: resuming from any earlier version now answers 410. */
  compact(): void {
    this.history.length = 0;
    this.historyAt.length = 0;
    this.oldestResumable = this.revision;
  }

  /** Forgets the events older than maxAgeMs. */
  private prune(): void {
    if (this.maxAgeMs === Infinity) return;
    const cutoff = performance.now() - this.maxAgeMs;
    let drop = 0;
    while (drop < this.history.length && this.historyAt[drop] < cutoff) drop++;
    if (drop === 0) return;
    this.oldestResumable = this.history[drop - 1].resourceVersion;
    this.history.splice(0, drop);
    this.historyAt.splice(0, drop);
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
    this.historyAt.push(performance.now());
    const excess = this.history.length - this.historySize;
    if (excess > 0) {
      this.oldestResumable = this.history[excess - 1].resourceVersion;
      this.history.splice(0, excess);
      this.historyAt.splice(0, excess);
    }
    this.prune();
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
