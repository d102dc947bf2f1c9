// Kubernetes label selector syntax: "a=b", "a==b", "a!=b", "a in (x,y)",
// "a notin (x,y)", "a", "!a", comma separated (all must hold).
export type LabelRequirement =
  | { key: string; op: "=" | "!="; values: [string] }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists"; values: [] };

export const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
export const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

export function labelKeyProblem(key: string): string | null {
  if (!LABEL_KEY.test(key)) return `"${key}" is not a valid label key (an optional DNS prefix and "/", then alphanumerics, "-", "_", ".")`;
  const [prefix, name] = key.includes("/") ? key.split("/", 2) : ["", key];
  if (prefix.length > 253) return `label key prefix "${prefix}" is longer than 253 characters`;
  if (name.length > 63) return `label key "${key}" has a name longer than 63 characters`;
  return null;
}

export function labelValueProblem(value: string): string | null {
  if (value.length > 63) return `label value "${value.slice(0, 20)}..." is longer than 63 characters`;
  if (!LABEL_VALUE.test(value)) return `"${value}" is not a valid label value (alphanumerics, "-", "_", "." and alphanumeric at both ends)`;
  return null;
}

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
  if (selector.trim() === "") return [];
  return splitTerms(selector).map((term): LabelRequirement => {
    if (term === "") throw new LabelSelectorError("empty requirement (stray comma)");
    const setMatch = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(term);
    if (setMatch) {
      const [, key, op, list] = setMatch;
      const values = list.split(",").map((v) => v.trim());
      if (values.length === 0 || values.some((v) => v === "")) throw new LabelSelectorError(`"${term}" needs a non-empty value list`);
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
    throw new LabelSelectorError(`cannot parse "${term}"`);
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
