// Validation of ObjectMeta: names, labels, annotations.
import { fieldError, invalidEach, type FieldError } from "./field-errors.js";
import { dns1123SubdomainProblems, labelValueProblems, qualifiedNameProblems } from "./names.js";
import type { ObjectMeta } from "./types.js";

export const ANNOTATIONS_MAX_BYTES = 256 * 1024;

export function validateLabels(labels: unknown, field: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  const errors: FieldError[] = [];
  for (const [key, value] of Object.entries(labels as Record<string, unknown>)) {
    errors.push(...invalidEach(field, key, qualifiedNameProblems(key)));
    errors.push(...invalidEach(field, value, labelValueProblems(String(value))));
  }
  return errors;
}

export function validateAnnotations(annotations: unknown, field: string): FieldError[] {
  if (annotations === undefined || annotations === null) return [];
  const errors: FieldError[] = [];
  let total = 0;
  for (const [key, value] of Object.entries(annotations as Record<string, unknown>)) {
    errors.push(...invalidEach(field, key, qualifiedNameProblems(key.toLowerCase())));
    total += Buffer.byteLength(key) + Buffer.byteLength(String(value));
  }
  if (total > ANNOTATIONS_MAX_BYTES) errors.push(fieldError.tooLong(field, ANNOTATIONS_MAX_BYTES));
  return errors;
}

/** Name, labels and annotations. `nameProblems` checks the name (most kinds want a DNS-1123 subdomain). */
export function validateObjectMeta(
  meta: ObjectMeta | undefined,
  nameProblems: (name: string) => string[] = dns1123SubdomainProblems,
): FieldError[] {
  const errors: FieldError[] = [];
  const name = meta?.name;
  if (!name) {
    errors.push(fieldError.required("metadata.name", "name or generateName is required"));
  } else {
    errors.push(...invalidEach("metadata.name", name, nameProblems(name)));
  }
  errors.push(...validateLabels(meta?.labels, "metadata.labels"));
  errors.push(...validateAnnotations(meta?.annotations, "metadata.annotations"));
  return errors;
}
