// The rule of a job's labels (Kubernetes label syntax): what ScheduleJob accepts and what a
// ListJobs label selector may name.
import { echo } from "../echo.js";

export const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
export const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
/** The longest key: a DNS prefix of 253 characters, "/", a name of 63. */
const MAX_LABEL_KEY = 253 + 1 + 63;

export function labelKeyProblem(key: string): string | null {
  if (key.length > MAX_LABEL_KEY) return `label key "${echo(key)}" is longer than ${MAX_LABEL_KEY} characters`;
  if (!LABEL_KEY.test(key)) return `"${echo(key)}" is not a valid label key (an optional DNS prefix and "/", then alphanumerics, "-", "_", ".")`;
  const [prefix, name] = key.includes("/") ? key.split("/", 2) : ["", key];
  if (prefix.length > 253) return `label key prefix "${echo(prefix)}" is longer than 253 characters`;
  if (name.length > 63) return `label key "${echo(key)}" has a name longer than 63 characters`;
  return null;
}

export function labelValueProblem(value: string): string | null {
  if (value.length > 63) return `label value "${value.slice(0, 20)}..." is longer than 63 characters`;
  if (!LABEL_VALUE.test(value)) return `"${echo(value)}" is not a valid label value (alphanumerics, "-", "_", "." and alphanumeric at both ends)`;
  return null;
}
