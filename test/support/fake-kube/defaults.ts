// Defaulting kube-apiserver applies on create, before validation. Only what a client can observe
// and might depend on: Job spec defaults, the generated selector and controller labels, and the
// container fields the kubelet simulation reads.
import type { KubeObject, PodSpec, StoredJob } from "./types.js";

export const LABEL_CONTROLLER_UID = "batch.kubernetes.io/controller-uid";
export const LABEL_JOB_NAME = "batch.kubernetes.io/job-name";
export const LABEL_LEGACY_CONTROLLER_UID = "controller-uid";
export const LABEL_LEGACY_JOB_NAME = "job-name";
export const COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index";

function imagePullPolicy(image: string | undefined): "Always" | "IfNotPresent" {
  if (!image) return "IfNotPresent";
  const lastSegment = image.split("/").pop() ?? image;
  if (image.includes("@")) return "IfNotPresent";
  const tag = lastSegment.includes(":") ? lastSegment.split(":").pop() : undefined;
  return !tag || tag === "latest" ? "Always" : "IfNotPresent";
}

export function defaultPodSpec(spec: PodSpec): void {
  spec.restartPolicy ??= "Always";
  spec.dnsPolicy ??= "ClusterFirst";
  spec.schedulerName ??= "default-scheduler";
  spec.terminationGracePeriodSeconds ??= 30;
  spec.securityContext ??= {};
  for (const c of [...(spec.initContainers ?? []), ...(Array.isArray(spec.containers) ? spec.containers : [])]) {
    c.terminationMessagePath ??= "/dev/termination-log";
    c.terminationMessagePolicy ??= "File";
    c.imagePullPolicy ??= imagePullPolicy(c.image);
    // A resource with a limit but no request gets the limit as its request.
    const limits = c.resources?.limits;
    if (limits && c.resources) {
      c.resources.requests = { ...limits, ...(c.resources.requests ?? {}) };
    }
  }
}

/** Job defaults; the object must already carry its uid (the selector names it). */
export function defaultJob(obj: KubeObject): void {
  const job = obj as unknown as StoredJob;
  job.spec ??= { template: {} };
  const spec = job.spec;
  if (spec.parallelism === undefined && spec.completions === undefined) spec.completions = 1;
  spec.parallelism ??= 1;
  spec.backoffLimit ??= spec.backoffLimitPerIndex !== undefined ? 2147483647 : 6;
  spec.completionMode ??= "NonIndexed";
  spec.suspend ??= false;
  spec.podReplacementPolicy ??= spec.podFailurePolicy ? "Failed" : "TerminatingOrFailed";
  const controllerLabels = {
    [LABEL_CONTROLLER_UID]: job.metadata.uid,
    [LABEL_JOB_NAME]: job.metadata.name,
    [LABEL_LEGACY_CONTROLLER_UID]: job.metadata.uid,
    [LABEL_LEGACY_JOB_NAME]: job.metadata.name,
  };
  if (!spec.manualSelector && !spec.selector) spec.selector = { matchLabels: { [LABEL_CONTROLLER_UID]: job.metadata.uid } };
  spec.template ??= {};
  spec.template.metadata ??= {};
  spec.template.metadata.labels = { ...(spec.template.metadata.labels ?? {}), ...controllerLabels };
  if (spec.template.spec) defaultPodSpec(spec.template.spec);
  job.metadata.generation ??= 1;
  job.status ??= {};
}
