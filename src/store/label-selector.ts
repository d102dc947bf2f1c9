// Kubernetes label selector syntax: "a=b", "a==b", "a!=b", "a in (x,y)",
// "a notin (x,y)", "a", "!a", comma separated (all must hold). A selector is bounded (length,
// requirements, values per set) so the SQL it becomes stays within the databases' limits on
// bound parameters and expression depth.
import { echo } from "../echo.js";
import { labelKeyProblem, labelValueProblem } from "../jobs/labels.js";

export type LabelRequirement =
  | { key: string; op: "=" | "!="; values: [string] }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists"; values: [] };

export const MAX_SELECTOR_LENGTH = 8192;
export const MAX_SELECTOR_REQUIREMENTS = 64;
export const MAX_SELECTOR_SET_VALUES = 256;

export class LabelSelectorError extends Error {}

/** Splits on commas that are not inside parentheses. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of selector) {
    if (char === "(") depth++;
    if (char === ")") depth--;
    if (char === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else current += char;
  }
  terms.push(current);
  return terms.map((t) => t.trim());
}

function checked(key: string, values: string[]): void {
  const keyProblem = labelKeyProblem(key);
  if (keyProblem) throw new LabelSelectorError(keyProblem);
  for (const value of values) {
    const valueProblem = labelValueProblem(value);
    if (valueProblem) throw new LabelSelectorError(valueProblem);
  }
}

export function parseLabelSelector(selector: string): LabelRequirement[] {
  if (selector.length > MAX_SELECTOR_LENGTH) throw new LabelSelectorError(`is ${selector.length} characters long; at most ${MAX_SELECTOR_LENGTH} are allowed`);
  if (selector.trim() === "") return [];
  const terms = splitTerms(selector);
  if (terms.length > MAX_SELECTOR_REQUIREMENTS) throw new LabelSelectorError(`has ${terms.length} requirements; at most ${MAX_SELECTOR_REQUIREMENTS} are allowed`);
  return terms.map((term): LabelRequirement => {
    if (term === "") throw new LabelSelectorError("empty requirement (stray comma)");
    const setMatch = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term);
    if (setMatch) {
      const [, key, op, list] = setMatch;
      const values = list.split(",").map((v) => v.trim());
      if (values.length === 0 || values.some((v) => v === "")) throw new LabelSelectorError(`"${echo(term)}" needs a non-empty value list`);
      if (values.length > MAX_SELECTOR_SET_VALUES) {
        throw new LabelSelectorError(`"${echo(term)}" lists ${values.length} values; at most ${MAX_SELECTOR_SET_VALUES} are allowed`);
      }
      checked(key, values);
      return { key, op: op as "in" | "notin", values };
    }
    const compare = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    if (compare) {
      const [, key, op, value] = compare;
      checked(key, [value]);
      return { key, op: op === "!=" ? "!=" : "=", values: [value] };
    }
    const exists = /^(!?)\s*([^=!\s(),]+)$/.exec(term);
    if (exists) {
      const [, bang, key] = exists;
      checked(key, []);
      return { key, op: bang ? "!exists" : "exists", values: [] };
    }
    throw new LabelSelectorError(`cannot parse "${echo(term)}"`);
  });
}

export function matchesLabels(labels: Record<string, string>, requirements: LabelRequirement[]): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.op) {
      case "=":
        return has && labels[r.key] === r.values[0];
      case "!=":
        return !has || labels[r.key] !== r.values[0];
      case "in":
        return has && r.values.includes(labels[r.key]);
      case "notin":
        return !has || !r.values.includes(labels[r.key]);
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
  });
}
