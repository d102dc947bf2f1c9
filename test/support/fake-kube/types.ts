// Shapes of the objects the fake stores. They are the JSON wire shapes (times are strings), so the
// kubernetes-models interfaces fit; client-node's V1* classes do not (they hold Date objects).
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { ILease } from "kubernetes-models/coordination.k8s.io/v1/Lease";

export type ObjectMeta = NonNullable<IJob["metadata"]>;
export type OwnerReference = NonNullable<ObjectMeta["ownerReferences"]>[number];
export type JobCondition = NonNullable<NonNullable<IJob["status"]>["conditions"]>[number];
export type PodCondition = NonNullable<NonNullable<IPod["status"]>["conditions"]>[number];
export type ContainerStatus = NonNullable<NonNullable<IPod["status"]>["containerStatuses"]>[number];
export type ContainerState = NonNullable<ContainerStatus["state"]>;
export type Container = NonNullable<IPod["spec"]>["containers"][number];
export type PodSpec = NonNullable<IPod["spec"]>;

/** Metadata every stored object has once the store accepted it. */
export type StoredMeta = ObjectMeta & {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
};

/** Any object the store holds. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: StoredMeta;
  [field: string]: unknown;
}

export type Stored<T> = Omit<T, "metadata"> & { metadata: StoredMeta };
export type StoredJob = Stored<IJob>;
export type StoredPod = Stored<IPod>;
export type StoredConfigMap = Stored<IConfigMap>;
export type StoredLease = Stored<ILease>;

export type Kind = "Job" | "Pod" | "ConfigMap" | "Lease";

export type Verb = "get" | "list" | "watch" | "create" | "update" | "patch" | "delete" | "deletecollection";

export type PropagationPolicy = "Background" | "Foreground" | "Orphan";

export function asJob(obj: KubeObject): StoredJob {
  return obj as unknown as StoredJob;
}

export function asPod(obj: KubeObject): StoredPod {
  return obj as unknown as StoredPod;
}

export function asObject(obj: Stored<unknown> | StoredJob | StoredPod): KubeObject {
  return obj as unknown as KubeObject;
}

/** Kubernetes writes metav1.Time with second precision. */
export function kubeTime(at: number = Date.now()): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, "Z");
}
