// Builds the batch/v1 Job (and, when the workload has files, the ConfigMap it mounts) for one
// attempt of one job. Pure: the run, its workload and the settings in; objects out. The
// same inputs always give the same objects, names included.
import type { V1ConfigMap, V1Container, V1EnvVar, V1Job, V1PodSpec, V1Toleration, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import { parseQuantity } from "../quantity.js";
import type { KubernetesHints, Run, RunResources, Workload } from "../runtime.js";
import { ANNOTATION, LABEL, MANAGED_BY, MANAGED_BY_LABEL, kubernetesJobName, labelValue } from "./names.js";
import { buildProgramJob } from "./runner-job-builder.js";

export const COLLECTOR_CONTAINER = "collector";
export const TERMINATION_MESSAGE_PATH = "/dev/termination-log";
export const FILES_MOUNT_PATH = "/etc/jobscheduler/files";
const TMP_SIZE_LIMIT = "256Mi";
/** A ConfigMap holds at most 1 MiB; leave room for its metadata. */
const FILES_MAX_BYTES = 1_000_000;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const FILE_KEY = /^[-._a-zA-Z0-9]+$/;
const COLLECTOR_NAME = /^[a-z0-9][a-z0-9_-]*$/;
/** Variables the runtime sets itself; a workload cannot override them. */
const RESERVED_ENV = new Set(["JOB_ID", "JOB_ATTEMPT", "JOB_RESULT_FILE", "JOB_FILES_DIR", "HOME", "TMPDIR"]);

/** Where pods of one job type may run: from the K8S_JOB_SCHEDULING setting. */
export interface Scheduling {
  nodeSelector?: Record<string, string>;
  tolerations?: V1Toleration[];
  priorityClassName?: string;
}

export interface JobBuilderSettings {
  /** The namespace jobs run in. */
  namespace: string;
  /** The service's own image: it holds dist/collectors/<collector>.js. */
  image: string;
  /** The runner service account: no API rights, no token mounted. */
  serviceAccountName: string;
  ttlSecondsAfterFinished: number;
  terminationGracePeriodSeconds: number;
  /** Limits above these are lowered to them (requests follow). */
  maxLimits: { cpu: string; memory: string };
  /** Per job type, with "*" applying to every type that has no entry of its own. */
  scheduling: Record<string, Scheduling>;
}

export interface JobBuildInput {
  job: Run;
  workload: Workload;
  /** The type's handler hints (backoffLimit, retryable exit codes). */
  hints?: KubernetesHints;
  /** The type's default resources, for any value the run lacks. */
  defaultResources?: RunResources;
}

/** What goes wrong building a Job: a workload the API would refuse. The launch fails with this message. */
export class JobBuildError extends Error {
  override name = "JobBuildError";
}

function sanitizedLabels(job: Run): Record<string, string> {
  const labels: Record<string, string> = {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [LABEL.jobId]: labelValue(job.id),
    [LABEL.type]: labelValue(job.type),
    [LABEL.attempt]: String(job.attempt),
  };
  const team = teamOf(job);
  if (team.slug) labels[LABEL.team] = labelValue(team.slug);
  if (team.hackathonId) labels[LABEL.hackathon] = labelValue(team.hackathonId);
  return labels;
}

function fullAnnotations(job: Run): Record<string, string> {
  const annotations: Record<string, string> = {
    [ANNOTATION.jobId]: job.id,
    [ANNOTATION.jobName]: job.name,
    [ANNOTATION.type]: job.type,
    [ANNOTATION.attempt]: String(job.attempt),
  };
  const team = teamOf(job);
  if (team.slug) annotations[ANNOTATION.team] = team.slug;
  if (team.hackathonId) annotations[ANNOTATION.hackathon] = team.hackathonId;
  return annotations;
}

/** The team a job measures (its binding), else a "team" label of the job. */
function teamOf(job: Run): { slug?: string; hackathonId?: string } {
  if (job.team?.slug) return { slug: job.team.slug, hackathonId: job.team.hackathonId || undefined };
  return { slug: job.labels.team || undefined };
}

function quantity(value: string | undefined, fallback: string | undefined, field: string): string {
  const text = value || fallback;
  if (!text || parseQuantity(text) === null) throw new JobBuildError(`resources.${field} "${text ?? ""}" is not a resource quantity`);
  return text;
}

function lower(a: string, b: string): string {
  return parseQuantity(a)! <= parseQuantity(b)! ? a : b;
}

/** Requests and limits, always all four: the run's values (defaults where missing), limits clamped to the maximum, requests ≤ limits. */
export function effectiveResources(input: JobBuildInput, maxLimits: { cpu: string; memory: string }): {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
} {
  const r = input.job.resources;
  const d = input.defaultResources;
  const cpuLimit = lower(quantity(r.cpuLimit, d?.cpuLimit, "cpuLimit"), maxLimits.cpu);
  const memoryLimit = lower(quantity(r.memoryLimit, d?.memoryLimit, "memoryLimit"), maxLimits.memory);
  return {
    requests: {
      cpu: lower(quantity(r.cpuRequest, d?.cpuRequest, "cpuRequest"), cpuLimit),
      memory: lower(quantity(r.memoryRequest, d?.memoryRequest, "memoryRequest"), memoryLimit),
    },
    limits: { cpu: cpuLimit, memory: memoryLimit },
  };
}

function hasFiles(workload: Workload): boolean {
  return Object.keys(workload.files ?? {}).length > 0;
}

export function filesConfigMapName(jobName: string): string {
  return `${jobName}-files`;
}

function environment(input: JobBuildInput, memoryLimit: string): V1EnvVar[] {
  const { job, workload } = input;
  const env: V1EnvVar[] = [];
  for (const name of Object.keys(workload.env).sort()) {
    if (!ENV_NAME.test(name)) throw new JobBuildError(`workload variable name "${name}" is not a valid environment variable name`);
    if (RESERVED_ENV.has(name)) continue;
    env.push({ name, value: workload.env[name] });
  }
  for (const name of Object.keys(workload.secretEnv ?? {}).sort()) {
    if (!ENV_NAME.test(name)) throw new JobBuildError(`workload variable name "${name}" is not a valid environment variable name`);
    if (RESERVED_ENV.has(name) || name in workload.env) throw new JobBuildError(`secret variable "${name}" is also an ordinary or reserved variable`);
    const { secretKeyRef, value } = workload.secretEnv![name];
    // Optional: without the Secret the program runs without the variable (e.g. unauthenticated GitHub calls) instead of never starting.
    if (secretKeyRef) env.push({ name, valueFrom: { secretKeyRef: { name: secretKeyRef.name, key: secretKeyRef.key, optional: true } } });
    else if (value !== undefined) env.push({ name, value });
  }
  const system: Record<string, string> = {
    JOB_ID: job.id,
    JOB_ATTEMPT: String(job.attempt),
    JOB_RESULT_FILE: TERMINATION_MESSAGE_PATH,
    HOME: "/tmp",
    TMPDIR: "/tmp",
  };
  if (hasFiles(workload)) system.JOB_FILES_DIR = FILES_MOUNT_PATH;
  // Node's heap capped below the container limit, so a hungry collector fails with a message rather than a silent OOM kill.
  const limitBytes = parseQuantity(memoryLimit);
  if (workload.env.NODE_OPTIONS === undefined && limitBytes !== null) {
    system.NODE_OPTIONS = `--max-old-space-size=${Math.max(16, Math.floor((limitBytes * 0.75) / (1024 * 1024)))}`;
  }
  for (const [name, value] of Object.entries(system)) env.push({ name, value });
  return env;
}

function schedulingFor(type: string, settings: JobBuilderSettings): Pick<V1PodSpec, "nodeSelector" | "tolerations" | "priorityClassName"> {
  const chosen = settings.scheduling[type] ?? settings.scheduling["*"] ?? {};
  const out: Pick<V1PodSpec, "nodeSelector" | "tolerations" | "priorityClassName"> = {};
  if (chosen.nodeSelector && Object.keys(chosen.nodeSelector).length) out.nodeSelector = { ...chosen.nodeSelector };
  if (chosen.tolerations?.length) out.tolerations = chosen.tolerations.map((t) => ({ ...t }));
  if (chosen.priorityClassName) out.priorityClassName = chosen.priorityClassName;
  return out;
}

/** Disruptions (eviction, preemption, node drain) are ignored; any other non-zero exit fails the Job at once, except the retryable codes. */
function podFailurePolicy(hints: KubernetesHints | undefined): NonNullable<V1Job["spec"]>["podFailurePolicy"] {
  const retryable = [...new Set([0, ...(hints?.retryableExitCodes ?? [])])].sort((a, b) => a - b);
  return {
    rules: [
      { action: "Ignore", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
      { action: "FailJob", onExitCodes: { containerName: COLLECTOR_CONTAINER, operator: "NotIn", values: retryable } },
    ],
  };
}

/** The Job that runs one attempt of a job. */
export function buildJob(input: JobBuildInput, settings: JobBuilderSettings): V1Job {
  // A runner group in an image of its own: one Indexed Job of runners, built from this one.
  if (input.workload.program) return buildProgramJob(input, settings);
  const { job, workload } = input;
  if (!COLLECTOR_NAME.test(workload.collector)) throw new JobBuildError(`collector name "${workload.collector}" is not a program name`);
  const name = kubernetesJobName(job.id, job.attempt, job.type);
  const labels = sanitizedLabels(job);
  const annotations = fullAnnotations(job);
  const resources = effectiveResources(input, settings.maxLimits);

  const mounts: V1VolumeMount[] = [{ name: "tmp", mountPath: "/tmp" }];
  const volumes: V1Volume[] = [{ name: "tmp", emptyDir: { sizeLimit: TMP_SIZE_LIMIT } }];
  if (hasFiles(workload)) {
    validateFiles(workload.files!);
    mounts.push({ name: "files", mountPath: FILES_MOUNT_PATH, readOnly: true });
    volumes.push({ name: "files", configMap: { name: filesConfigMapName(name), defaultMode: 0o444 } });
  }

  const container: V1Container = {
    name: COLLECTOR_CONTAINER,
    image: settings.image,
    imagePullPolicy: "IfNotPresent",
    command: ["node", `dist/collectors/${workload.collector}.js`],
    env: environment(input, resources.limits.memory),
    resources: { requests: { ...resources.requests }, limits: { ...resources.limits } },
    securityContext: {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    terminationMessagePath: TERMINATION_MESSAGE_PATH,
    terminationMessagePolicy: "FallbackToLogsOnError",
    volumeMounts: mounts,
  };

  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, namespace: settings.namespace, labels: { ...labels }, annotations: { ...annotations } },
    spec: {
      completions: 1,
      parallelism: 1,
      backoffLimit: input.hints?.backoffLimit ?? 0,
      podFailurePolicy: podFailurePolicy(input.hints),
      activeDeadlineSeconds: Math.max(1, Math.ceil(job.timeoutMs / 1000)),
      ttlSecondsAfterFinished: settings.ttlSecondsAfterFinished,
      template: {
        metadata: { labels: { ...labels }, annotations: { ...annotations } },
        spec: {
          restartPolicy: "Never",
          serviceAccountName: settings.serviceAccountName,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: settings.terminationGracePeriodSeconds,
          securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
          ...schedulingFor(job.type, settings),
          containers: [container],
          volumes,
        },
      },
    },
  };
}

function validateFiles(files: Record<string, string>): void {
  let bytes = 0;
  for (const [key, content] of Object.entries(files)) {
    if (!FILE_KEY.test(key) || key === "." || key === ".." || key.length > 253) {
      throw new JobBuildError(`workload file name "${key}" may hold letters, digits, "-", "_" and "." only`);
    }
    bytes += Buffer.byteLength(key) + Buffer.byteLength(content);
  }
  if (bytes > FILES_MAX_BYTES) throw new JobBuildError(`workload files take ${bytes} bytes, over the ${FILES_MAX_BYTES}-byte ConfigMap budget`);
}

/**
 * The ConfigMap holding the workload's files, owned by the Job (so deleting the Job, or its TTL,
 * deletes it too): built once the Job exists, since the owner reference needs its uid. Null when
 * the workload has no files.
 */
export function buildFilesConfigMap(input: JobBuildInput, settings: JobBuilderSettings, owner: { name: string; uid: string }): V1ConfigMap | null {
  const { job, workload } = input;
  if (!hasFiles(workload)) return null;
  validateFiles(workload.files!);
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: filesConfigMapName(owner.name),
      namespace: settings.namespace,
      labels: sanitizedLabels(job),
      annotations: fullAnnotations(job),
      // No blockOwnerDeletion: setting it needs the right to update jobs/finalizers.
      ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: owner.name, uid: owner.uid }],
    },
    immutable: true,
    data: { ...workload.files! },
  };
}
