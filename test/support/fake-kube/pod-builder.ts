// The pod the job controller creates for a Job (and, for Indexed Jobs, a completion index).
import { COMPLETION_INDEX, defaultPodSpec } from "./defaults.js";
import { parseQuantity } from "./quantity.js";
import type { NewObject } from "./store.js";
import type { Container, PodSpec, StoredJob } from "./types.js";

// k8s.io/apimachinery/pkg/util/rand: no vowels, no confusable characters.
const ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789";

export function randomSuffix(random: () => number, length = 5): string {
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHANUMS[Math.floor(random() * ALPHANUMS.length)];
  return out;
}

function qosClass(containers: Container[]): "Guaranteed" | "Burstable" | "BestEffort" {
  const all = containers.map((c) => c.resources ?? {});
  if (all.every((r) => Object.keys(r.requests ?? {}).length === 0 && Object.keys(r.limits ?? {}).length === 0)) return "BestEffort";
  const guaranteed = all.every((r) =>
    ["cpu", "memory"].every((name) => {
      const limit = r.limits?.[name];
      const request = r.requests?.[name] ?? limit;
      return limit !== undefined && parseQuantity(limit) === parseQuantity(request);
    }),
  );
  return guaranteed ? "Guaranteed" : "Burstable";
}

export function buildJobPod(job: StoredJob, index: number | undefined, suffix: string): NewObject {
  const template = structuredClone(job.spec?.template ?? {});
  const jobName = job.metadata.name;
  const labels: Record<string, string> = { ...(template.metadata?.labels ?? {}) };
  const annotations: Record<string, string> = { ...(template.metadata?.annotations ?? {}) };
  const spec = (template.spec ?? { containers: [] }) as PodSpec;
  defaultPodSpec(spec);
  if (index !== undefined) {
    labels[COMPLETION_INDEX] = String(index);
    annotations[COMPLETION_INDEX] = String(index);
    spec.hostname ??= `${jobName}-${index}`;
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      c.env = [
        ...(c.env ?? []),
        { name: "JOB_COMPLETION_INDEX", valueFrom: { fieldRef: { fieldPath: `metadata.labels['${COMPLETION_INDEX}']` } } },
      ];
    }
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: index === undefined ? `${jobName}-${suffix}` : `${jobName}-${index}-${suffix}`,
      generateName: index === undefined ? `${jobName}-` : `${jobName}-${index}-`,
      namespace: job.metadata.namespace,
      labels,
      annotations,
      ownerReferences: [
        { apiVersion: "batch/v1", kind: "Job", name: jobName, uid: job.metadata.uid, controller: true, blockOwnerDeletion: true },
      ],
    },
    spec,
    status: { phase: "Pending", qosClass: qosClass(spec.containers) },
  };
}
