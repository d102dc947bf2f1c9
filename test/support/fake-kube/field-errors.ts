// Field errors as k8s.io/apimachinery/pkg/util/validation/field words them; they become the
// `details.causes` of a 422 Invalid Status.
import type { StatusCause } from "./status.js";

export interface FieldError extends StatusCause {
  field: string;
  reason: string;
  message: string;
}

/** Go's %#v for the values we report: strings quoted, numbers bare. */
function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value) ?? "null";
}

export const fieldError = {
  invalid: (field: string, value: unknown, detail: string): FieldError => ({
    field,
    reason: "FieldValueInvalid",
    message: `Invalid value: ${show(value)}: ${detail}`,
  }),
  required: (field: string, detail?: string): FieldError => ({
    field,
    reason: "FieldValueRequired",
    message: detail ? `Required value: ${detail}` : "Required value",
  }),
  notSupported: (field: string, value: unknown, supported: string[]): FieldError => ({
    field,
    reason: "FieldValueNotSupported",
    message: `Unsupported value: ${show(value)}: supported values: ${supported.map((s) => JSON.stringify(s)).join(", ")}`,
  }),
  tooLong: (field: string, maxBytes: number): FieldError => ({
    field,
    reason: "FieldValueTooLong",
    message: `Too long: must have at most ${maxBytes} bytes`,
  }),
  duplicate: (field: string, value: unknown): FieldError => ({
    field,
    reason: "FieldValueDuplicate",
    message: `Duplicate value: ${show(value)}`,
  }),
  notFound: (field: string, value: unknown): FieldError => ({
    field,
    reason: "FieldValueNotFound",
    message: `Not found: ${show(value)}`,
  }),
  forbidden: (field: string, detail: string): FieldError => ({
    field,
    reason: "FieldValueForbidden",
    message: `Forbidden: ${detail}`,
  }),
};

/** One cause per problem, as Kubernetes reports a value that breaks several rules. */
export function invalidEach(field: string, value: unknown, problems: string[]): FieldError[] {
  return problems.map((p) => fieldError.invalid(field, value, p));
}
