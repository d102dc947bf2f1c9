// The resource types the fake serves, and which verbs each one answers.
import type { Kind, PropagationPolicy, Verb } from "./types.js";

export interface ResourceType {
  kind: Kind;
  listKind: string;
  /** The URL segment and the RBAC resource name. */
  plural: string;
  /** "" for the core group. */
  group: string;
  version: "v1";
  apiVersion: string;
  verbs: ReadonlySet<Verb>;
  subresources: ReadonlySet<string>;
  /** What DELETE does with dependents when the client names no policy. batch/v1 Jobs orphan them. */
  defaultPropagation: PropagationPolicy;
}

function resourceType(
  kind: Kind,
  plural: string,
  group: string,
  verbs: Verb[],
  opts: { subresources?: string[]; defaultPropagation?: PropagationPolicy } = {},
): ResourceType {
  return {
    kind,
    listKind: `${kind}List`,
    plural,
    group,
    version: "v1",
    apiVersion: group ? `${group}/v1` : "v1",
    verbs: new Set(verbs),
    subresources: new Set(opts.subresources ?? []),
    defaultPropagation: opts.defaultPropagation ?? "Background",
  };
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  resourceType("Job", "jobs", "batch", ["create", "get", "list", "watch", "delete"], {
    defaultPropagation: "Orphan",
  }),
  resourceType("Pod", "pods", "", ["get", "list", "watch", "delete"], { subresources: ["log"] }),
  resourceType("ConfigMap", "configmaps", "", ["create", "get", "list", "watch", "update", "delete"]),
  resourceType("Lease", "leases", "coordination.k8s.io", ["create", "get", "list", "watch", "update", "delete"]),
];

export function resourceByPlural(group: string, plural: string): ResourceType | undefined {
  return RESOURCE_TYPES.find((rt) => rt.group === group && rt.plural === plural);
}

export function resourceByKind(kind: Kind): ResourceType {
  const rt = RESOURCE_TYPES.find((r) => r.kind === kind);
  if (!rt) throw new Error(`fake-kube: unknown kind ${kind}`);
  return rt;
}

/** "jobs.batch", "pods": how Kubernetes names a resource in error messages. */
export function qualifiedResource(group: string, plural: string): string {
  return group ? `${plural}.${group}` : plural;
}

/** "Job.batch", "Pod": how Kubernetes names a kind in Invalid messages. */
export function qualifiedKind(rt: ResourceType): string {
  return rt.group ? `${rt.kind}.${rt.group}` : rt.kind;
}
