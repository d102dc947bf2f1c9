// The one rule every string field of a request follows (API fields and every job type's
// parameters alike): a documented maximum length, said in the message with the length received,
// and no control characters. NUL in particular can reach no environment variable, argv or
// Kubernetes object, so a value holding one would only fail later, at launch. Multi-line fields
// (scripts, environment values) may hold tab and line breaks. The maxima are listed in README.md
// ("Input limits").
import { z } from "zod";

export interface TextRule {
  /** The most characters (UTF-16 code units, as String.length counts them). */
  max: number;
  /** Tab, LF and CR are allowed. */
  multiline?: boolean;
}

// Written as ranges rather than \p{Cc}, so the JSON Schema of a job type's parameters carries a
// pattern every validator understands. C0, DEL and C1.
const NO_CONTROL = /^[^\x00-\x1f\x7f-\x9f]*$/;
const NO_CONTROL_EXCEPT_LINES = /^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$/;
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;
const CONTROL_EXCEPT_LINES = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/;

export function tooLongMessage(max: number, length: number): string {
  return `must be at most ${max} characters (got ${length})`;
}

function controlMessage(value: string, multiline: boolean): string {
  const found = (multiline ? CONTROL_EXCEPT_LINES : CONTROL).exec(value);
  const at = found ? ` (U+${found[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} at index ${found.index})` : "";
  return `must not contain control characters${multiline ? " other than tab and line breaks" : ""}${at}`;
}

/** What is wrong with `value` under `rule`, or null. */
export function textProblem(value: string, rule: TextRule): string | null {
  if (value.length > rule.max) return tooLongMessage(rule.max, value.length);
  const multiline = rule.multiline ?? false;
  if (!(multiline ? NO_CONTROL_EXCEPT_LINES : NO_CONTROL).test(value)) return controlMessage(value, multiline);
  return null;
}

/**
 * A zod string under `rule`; further checks chained after it (format, min) run only on a value
 * that passed it, so they never see a megabyte.
 */
export function text(rule: TextRule) {
  const multiline = rule.multiline ?? false;
  return z
    .string({ error: (issue) => (issue.input === undefined ? "is required" : "must be a string") })
    .max(rule.max, { error: (issue) => tooLongMessage(rule.max, String(issue.input ?? "").length), abort: true })
    .regex(multiline ? NO_CONTROL_EXCEPT_LINES : NO_CONTROL, { error: (issue) => controlMessage(String(issue.input ?? ""), multiline), abort: true });
}
