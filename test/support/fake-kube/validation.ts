// Object validation per kind (the 422 Invalid answers), run after defaulting like kube-apiserver.
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { ILease } from "kubernetes-models/coordination.k8s.io/v1/Lease";
import { LABEL_CONTROLLER_UID, LABEL_JOB_NAME, LABEL_LEGACY_CONTROLLER_UID, LABEL_LEGACY_JOB_NAME } from "./defaults.js";
import { fieldError, type FieldError } from "./field-errors.js";
import { DNS1123_LABEL_MAX, configKeyProblems, dns1123SubdomainProblems } from "./names.js";
import type { Kind, KubeObject } from "./types.js";
import { validateLabels, validateObjectMeta } from "./validate-meta.js";
import { validatePodSpec } from "./validate-pod-spec.js";

export const CONFIGMAP_MAX_BYTES = 1024 * 1024;

const CONTROLLER_LABELS = new Set([LABEL_CONTROLLER_UID, LABEL_JOB_NAME, LABEL_LEGACY_CONTROLLER_UID, LABEL_LEGACY_JOB_NAME]);

function nonNegative(errors: FieldError[], field: string, value: number | undefined): void {
  if (value !== undefined && value < 0) errors.push(fieldError.invalid(field, value, "must be greater than or equal to 0"));
}

// The job controller labels every pod with batch.kubernetes.io/job-name=<job name>, and a label
// value holds at most 63 characters.
function jobNameProblems(name: string): string[] {
  const problems = dns1123SubdomainProblems(name);
  if (name.length > DNS1123_LABEL_MAX && problems.length === 0) problems.push(`must be no more than ${DNS1123_LABEL_MAX} characters`);
  return problems;
}

function validatePodFailurePolicy(job: IJob, errors: FieldError[]): void {
  const policy = job.spec?.podFailurePolicy;
  if (!policy) return;
  const podSpec = job.spec?.template?.spec;
  if (podSpec?.restartPolicy !== "Never") {
    errors.push(
      fieldError.invalid("spec.template.spec.restartPolicy", podSpec?.restartPolicy ?? "", 'only "Never" is supported when podFailurePolicy is specified'),
    );
  }
  const containerNames = new Set([...(podSpec?.containers ?? []), ...(podSpec?.initContainers ?? [])].map((c) => c.name));
  (policy.rules ?? []).forEach((rule, i) => {
    const at = `spec.podFailurePolicy.rules[${i}]`;
    const actions = ["Count", "FailIndex", "FailJob", "Ignore"];
    if (!actions.includes(rule.action)) errors.push(fieldError.notSupported(`${at}.action`, rule.action, actions));
    if (rule.action === "FailIndex" && job.spec?.backoffLimitPerIndex === undefined) {
      errors.push(fieldError.invalid(`${at}.action`, rule.action, "requires the backoffLimitPerIndex to be set"));
    }
    const hasCodes = rule.onExitCodes !== undefined;
    const hasConditions = rule.onPodConditions !== undefined;
    if (hasCodes === hasConditions) {
      errors.push(fieldError.invalid(at, "", "specifying one of OnExitCodes and OnPodConditions is required"));
    }
    if (rule.onExitCodes) {
      const codes = rule.onExitCodes;
      if (!["In", "NotIn"].includes(codes.operator)) errors.push(fieldError.notSupported(`${at}.onExitCodes.operator`, codes.operator, ["In", "NotIn"]));
      if (codes.values.length === 0) errors.push(fieldError.invalid(`${at}.onExitCodes.values`, codes.values, "at least one value is required"));
      codes.values.forEach((v, j) => {
        if (codes.operator === "In" && v === 0) errors.push(fieldError.invalid(`${at}.onExitCodes.values[${j}]`, v, "must not be 0 for the In operator"));
        if (codes.values.indexOf(v) !== j) errors.push(fieldError.duplicate(`${at}.onExitCodes.values[${j}]`, v));
      });
      if (codes.containerName !== undefined && !containerNames.has(codes.containerName)) {
        errors.push(
          fieldError.invalid(`${at}.onExitCodes.containerName`, codes.containerName, "must be one of the container or initContainer names in the pod template"),
        );
      }
    }
    (rule.onPodConditions ?? []).forEach((pattern, j) => {
      if (!pattern.type) errors.push(fieldError.required(`${at}.onPodConditions[${j}].type`));
      const statuses = ["True", "False", "Unknown"];
      if (pattern.status !== undefined && !statuses.includes(pattern.status)) {
        errors.push(fieldError.notSupported(`${at}.onPodConditions[${j}].status`, pattern.status, statuses));
      }
    });
  });
}

export function validateJob(obj: KubeObject): FieldError[] {
  const job = obj as unknown as IJob;
  const errors = validateObjectMeta(job.metadata, jobNameProblems);
  const spec = job.spec;
  if (!spec) return [...errors, fieldError.required("spec")];
  nonNegative(errors, "spec.parallelism", spec.parallelism);
  nonNegative(errors, "spec.completions", spec.completions);
  nonNegative(errors, "spec.backoffLimit", spec.backoffLimit);
  nonNegative(errors, "spec.activeDeadlineSeconds", spec.activeDeadlineSeconds);
  nonNegative(errors, "spec.ttlSecondsAfterFinished", spec.ttlSecondsAfterFinished);
  const modes = ["NonIndexed", "Indexed"];
  if (spec.completionMode !== undefined && !modes.includes(spec.completionMode)) {
    errors.push(fieldError.notSupported("spec.completionMode", spec.completionMode, modes));
  }
  if (spec.completionMode === "Indexed" && spec.completions === undefined) {
    errors.push(fieldError.required("spec.completions", "when completion mode is Indexed"));
  }
  if (spec.backoffLimitPerIndex !== undefined && spec.completionMode !== "Indexed") {
    errors.push(fieldError.forbidden("spec.backoffLimitPerIndex", "requires indexed completion mode"));
  }
  const generated = spec.selector?.matchLabels?.[LABEL_CONTROLLER_UID] === job.metadata?.uid;
  if (!spec.manualSelector && spec.selector && !generated) {
    errors.push(fieldError.invalid("spec.selector", spec.selector, "`selector` not auto-generated"));
  }
  if (!spec.template) return [...errors, fieldError.required("spec.template")];
  // The controller labels derive from the name and uid, which are reported on their own.
  const templateLabels = Object.fromEntries(Object.entries(spec.template.metadata?.labels ?? {}).filter(([k]) => !CONTROLLER_LABELS.has(k)));
  errors.push(...validateLabels(templateLabels, "spec.template.metadata.labels"));
  errors.push(...validatePodSpec(spec.template.spec, "spec.template.spec", { restartPolicies: ["OnFailure", "Never"] }));
  validatePodFailurePolicy(job, errors);
  return errors;
}

function configMapSize(cm: IConfigMap): number {
  let total = 0;
  for (const value of Object.values(cm.data ?? {})) total += Buffer.byteLength(String(value));
  for (const value of Object.values(cm.binaryData ?? {})) total += Buffer.from(String(value), "base64").length;
  return total;
}

export function validateConfigMap(obj: KubeObject): FieldError[] {
  const cm = obj as unknown as IConfigMap;
  const errors = validateObjectMeta(cm.metadata);
  for (const key of Object.keys(cm.data ?? {})) {
    errors.push(...configKeyProblems(key).map((p) => fieldError.invalid(`data[${key}]`, key, p)));
  }
  for (const key of Object.keys(cm.binaryData ?? {})) {
    errors.push(...configKeyProblems(key).map((p) => fieldError.invalid(`binaryData[${key}]`, key, p)));
    if (cm.data && key in cm.data) errors.push(fieldError.invalid(`data[${key}]`, key, "duplicate of key present in binaryData"));
  }
  if (configMapSize(cm) > CONFIGMAP_MAX_BYTES) errors.push(fieldError.tooLong("data", CONFIGMAP_MAX_BYTES));
  return errors;
}

export function validateLease(obj: KubeObject): FieldError[] {
  const lease = obj as unknown as ILease;
  const errors = validateObjectMeta(lease.metadata);
  const duration = lease.spec?.leaseDurationSeconds;
  if (duration !== undefined && duration <= 0) errors.push(fieldError.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"));
  nonNegative(errors, "spec.leaseTransitions", lease.spec?.leaseTransitions);
  return errors;
}

const VALIDATORS: Record<Kind, (obj: KubeObject) => FieldError[]> = {
  Job: validateJob,
  ConfigMap: validateConfigMap,
  Lease: validateLease,
  Pod: (obj) => validateObjectMeta(obj.metadata),
};

export function validateForCreate(kind: Kind, obj: KubeObject): FieldError[] {
  return VALIDATORS[kind](obj);
}

const IMMUTABLE = "field is immutable when `immutable` is set";

export function validateForUpdate(kind: Kind, next: KubeObject, current: KubeObject): FieldError[] {
  const errors = VALIDATORS[kind](next);
  if (kind === "ConfigMap" && current.immutable === true) {
    if (next.immutable !== true) errors.push(fieldError.forbidden("immutable", IMMUTABLE));
    if (JSON.stringify(next.data ?? {}) !== JSON.stringify(current.data ?? {})) errors.push(fieldError.forbidden("data", IMMUTABLE));
    if (JSON.stringify(next.binaryData ?? {}) !== JSON.stringify(current.binaryData ?? {})) {
      errors.push(fieldError.forbidden("binaryData", IMMUTABLE));
    }
  }
  return errors;
}
