// labelSelector and fieldSelector query parameters: parsing and matching.
import { badRequest } from "./status.js";
import type { KubeObject } from "./types.js";

type LabelRequirement =
  | { op: "exists" | "!exists"; key: string }
  | { op: "=" | "!="; key: string; value: string }
  | { op: "in" | "notin"; key: string; values: string[] };

export interface LabelSelector {
  readonly text: string;
  matches(labels: Record<string, string> | undefined): boolean;
}

const KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`;
const VALUE = String.raw`[-A-Za-z0-9_.]*`;
const EXISTS = new RegExp(`^(!?)\\s*(${KEY})$`);
const EQUALITY = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*(${VALUE})$`);
const SET = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`);

/** Splits on the commas that separate requirements, not those inside "in (a,b)". */
function splitRequirements(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

function parseRequirement(part: string): LabelRequirement {
  let m = SET.exec(part);
  if (m) {
    const values = m[3].split(",").map((v) => v.trim()).filter((v) => v.length > 0);
    return { op: m[2] as "in" | "notin", key: m[1], values };
  }
  m = EQUALITY.exec(part);
  if (m) return { op: m[2] === "!=" ? "!=" : "=", key: m[1], value: m[3] };
  m = EXISTS.exec(part);
  if (m) return { op: m[1] ? "!exists" : "exists", key: m[2] };
  throw badRequest(`unable to parse requirement: found '${part}', expected: identifier, '=', '!=', 'in', 'notin' or '!'`);
}

function requirementHolds(req: LabelRequirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, req.key);
  switch (req.op) {
    case "exists":
      return has;
    case "!exists":
      return !has;
    case "=":
      return has && labels[req.key] === req.value;
    case "!=":
      return !has || labels[req.key] !== req.value;
    case "in":
      return has && req.values.includes(labels[req.key]);
    case "notin":
      return !has || !req.values.includes(labels[req.key]);
  }
}

export function parseLabelSelector(text: string | null | undefined): LabelSelector {
  const source = text ?? "";
  const requirements = splitRequirements(source).map(parseRequirement);
  return {
    text: source,
    matches: (labels) => requirements.every((r) => requirementHolds(r, labels ?? {})),
  };
}

export interface FieldSelector {
  readonly text: string;
  /** The name a `metadata.name=` term pins, which RBAC treats like a name in the URL. */
  readonly name?: string;
  matches(obj: KubeObject): boolean;
}

const FIELD_GETTERS: Record<string, (obj: KubeObject) => string | undefined> = {
  "metadata.name": (o) => o.metadata.name,
  "metadata.namespace": (o) => o.metadata.namespace,
};

const POD_FIELD_GETTERS: Record<string, (obj: KubeObject) => string | undefined> = {
  "status.phase": (o) => (o.status as { phase?: string } | undefined)?.phase,
  "spec.nodeName": (o) => (o.spec as { nodeName?: string } | undefined)?.nodeName,
  "spec.restartPolicy": (o) => (o.spec as { restartPolicy?: string } | undefined)?.restartPolicy,
};

export function parseFieldSelector(text: string | null | undefined, kind: string): FieldSelector {
  const source = text ?? "";
  const getters = kind === "Pod" ? { ...FIELD_GETTERS, ...POD_FIELD_GETTERS } : FIELD_GETTERS;
  const terms = splitRequirements(source).map((part) => {
    const m = /^([A-Za-z.]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${source}'; can't understand '${part}'`);
    const [, field, op, value] = m;
    const get = getters[field];
    if (!get) {
      throw badRequest(`field label not supported: ${field}`);
    }
    return { field, negate: op === "!=", value, get };
  });
  const nameTerm = terms.find((t) => t.field === "metadata.name" && !t.negate);
  return {
    text: source,
    name: nameTerm?.value,
    matches: (obj) => terms.every((t) => ((t.get(obj) ?? "") === t.value) !== t.negate),
  };
}
