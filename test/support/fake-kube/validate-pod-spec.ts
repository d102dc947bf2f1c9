// Validation of a PodSpec (as found in a Job's template): containers, resources, env, volumes.
import { fieldError, invalidEach, type FieldError } from "./field-errors.js";
import { dns1123LabelProblems, dns1123SubdomainProblems, envVarNameProblems, qualifiedNameProblems } from "./names.js";
import { QUANTITY_SYNTAX, parseQuantity } from "./quantity.js";
import type { Container, PodSpec } from "./types.js";

const STANDARD_RESOURCES = new Set(["cpu", "memory", "ephemeral-storage", "storage", "pods"]);

function resourceNameProblems(name: string): string[] {
  if (STANDARD_RESOURCES.has(name) || name.startsWith("hugepages-")) return [];
  if (name.includes("/") && qualifiedNameProblems(name).length === 0) return [];
  return ["must be a standard resource type or fully qualified"];
}

function validateResources(resources: Container["resources"], field: string): FieldError[] {
  const errors: FieldError[] = [];
  const parsed: Record<"limits" | "requests", Map<string, number>> = { limits: new Map(), requests: new Map() };
  for (const section of ["limits", "requests"] as const) {
    for (const [name, value] of Object.entries(resources?.[section] ?? {})) {
      const at = `${field}.${section}.${name}`;
      errors.push(...invalidEach(`${field}.${section}[${name}]`, name, resourceNameProblems(name)));
      const quantity = parseQuantity(value);
      if (quantity === undefined) errors.push(fieldError.invalid(at, value, QUANTITY_SYNTAX));
      else if (quantity < 0) errors.push(fieldError.invalid(at, value, "must be greater than or equal to 0"));
      else parsed[section].set(name, quantity);
    }
  }
  for (const [name, request] of parsed.requests) {
    const limit = parsed.limits.get(name);
    if (limit !== undefined && request > limit) {
      const requestText = String(resources?.requests?.[name]);
      const limitText = String(resources?.limits?.[name]);
      errors.push(fieldError.invalid(`${field}.requests`, requestText, `must be less than or equal to ${name} limit of ${limitText}`));
    }
  }
  return errors;
}

function validateContainer(c: Container, field: string, volumeNames: Set<string>): FieldError[] {
  const errors: FieldError[] = [];
  if (!c.name) errors.push(fieldError.required(`${field}.name`));
  else errors.push(...invalidEach(`${field}.name`, c.name, dns1123LabelProblems(c.name)));
  if (!c.image) errors.push(fieldError.required(`${field}.image`));
  else if (c.image.trim() !== c.image) {
    errors.push(fieldError.invalid(`${field}.image`, c.image, "must not have leading or trailing whitespace"));
  }
  errors.push(...validateResources(c.resources, `${field}.resources`));
  (c.env ?? []).forEach((env, i) => {
    const at = `${field}.env[${i}].name`;
    if (!env.name) errors.push(fieldError.required(at));
    else errors.push(...invalidEach(at, env.name, envVarNameProblems(env.name)));
  });
  (c.volumeMounts ?? []).forEach((mount, i) => {
    const at = `${field}.volumeMounts[${i}]`;
    if (!mount.name) errors.push(fieldError.required(`${at}.name`));
    else if (!volumeNames.has(mount.name)) errors.push(fieldError.notFound(`${at}.name`, mount.name));
    if (!mount.mountPath) errors.push(fieldError.required(`${at}.mountPath`));
  });
  return errors;
}

export interface PodSpecRules {
  /** The restart policies the owner allows (Jobs: Never and OnFailure). */
  restartPolicies: string[];
}

export function validatePodSpec(spec: PodSpec | undefined, field: string, rules: PodSpecRules): FieldError[] {
  const errors: FieldError[] = [];
  const volumeNames = new Set<string>();
  (spec?.volumes ?? []).forEach((volume, i) => {
    const at = `${field}.volumes[${i}].name`;
    if (!volume.name) errors.push(fieldError.required(at));
    else if (volumeNames.has(volume.name)) errors.push(fieldError.duplicate(at, volume.name));
    else errors.push(...invalidEach(at, volume.name, dns1123LabelProblems(volume.name)));
    if (volume.name) volumeNames.add(volume.name);
    if (volume.configMap && !volume.configMap.name) errors.push(fieldError.required(`${field}.volumes[${i}].configMap.name`));
  });

  const containerNames = new Set<string>();
  const checkGroup = (list: Container[] | undefined, group: string): void => {
    (list ?? []).forEach((c, i) => {
      const at = `${field}.${group}[${i}]`;
      errors.push(...validateContainer(c, at, volumeNames));
      if (c.name && containerNames.has(c.name)) errors.push(fieldError.duplicate(`${at}.name`, c.name));
      if (c.name) containerNames.add(c.name);
    });
  };
  checkGroup(spec?.initContainers, "initContainers");
  if (!spec?.containers || spec.containers.length === 0) errors.push(fieldError.required(`${field}.containers`));
  checkGroup(spec?.containers, "containers");

  const restartPolicy = spec?.restartPolicy ?? "Always";
  if (!rules.restartPolicies.includes(restartPolicy)) {
    errors.push(fieldError.notSupported(`${field}.restartPolicy`, restartPolicy, rules.restartPolicies));
  }
  if (spec?.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds < 1) {
    errors.push(fieldError.invalid(`${field}.activeDeadlineSeconds`, spec.activeDeadlineSeconds, "must be between 1 and 2147483647, inclusive"));
  }
  if (spec?.serviceAccountName) {
    errors.push(...invalidEach(`${field}.serviceAccountName`, spec.serviceAccountName, dns1123SubdomainProblems(spec.serviceAccountName)));
  }
  return errors;
}
