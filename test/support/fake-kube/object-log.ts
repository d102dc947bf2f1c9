// Every object a fake stored, as last seen, deleted ones included: the service deletes a finished
// Job (and the garbage collector its pods and ConfigMap) once the job's end is stored, so a test
// that inspects them after the end reads them here. Opt-in (it keeps every object).
import { LABEL_JOB_NAME } from "./defaults.js";
import type { FakeKube } from "./index.js";
import type { StoreEvent } from "./store.js";
import type { Kind, KubeObject } from "./types.js";

export interface ObjectLog {
  /** The object's last state (its state when deleted, for a deleted one). */
  last<T = KubeObject>(kind: Kind, namespace: string, name: string): T | undefined;
  /** How many times an object of this name was created. */
  created(kind: Kind, namespace: string, name: string): number;
  /** The pods a Job's controller created, as last seen. */
  podsOf<T = KubeObject>(namespace: string, jobName: string): T[];
  stop(): void;
}

export function recordObjects(fake: FakeKube): ObjectLog {
  const last = new Map<string, KubeObject>();
  const creates = new Map<string, number>();
  const key = (kind: Kind, namespace: string, name: string) => `${kind}/${namespace}/${name}`;
  const onChange = (event: StoreEvent) => {
    const k = key(event.kind, event.object.metadata.namespace, event.object.metadata.name);
    last.set(k, event.object);
    if (event.type === "ADDED") creates.set(k, (creates.get(k) ?? 0) + 1);
  };
  fake.events.on("change", onChange);
  return {
    last: <T>(kind: Kind, namespace: string, name: string) => last.get(key(kind, namespace, name)) as T | undefined,
    created: (kind, namespace, name) => creates.get(key(kind, namespace, name)) ?? 0,
    podsOf: <T>(namespace: string, jobName: string) =>
      [...last.entries()]
        .filter(([k, o]) => k.startsWith(`Pod/${namespace}/`) && o.metadata.labels?.[LABEL_JOB_NAME] === jobName)
        .map(([, o]) => o as T),
    stop: () => fake.events.off("change", onChange),
  };
}
