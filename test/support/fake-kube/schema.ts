// What kube-apiserver checks while decoding a request body, before validation proper:
// field types and required properties (the kubernetes-models JSON schemas), and unknown fields
// (found by walking client-node's model attribute maps, which list every known field).
import * as clientNode from "@kubernetes/client-node";
import { Job } from "kubernetes-models/batch/v1";
import { ConfigMap } from "kubernetes-models/v1";
import { Lease } from "kubernetes-models/coordination.k8s.io/v1";
import type { Kind } from "./types.js";

export interface SchemaProblem {
  /** Dotted field path with [i] indexes, as in Status causes: spec.template.spec.containers[0].image */
  field: string;
  /** "type": the body cannot be decoded (400); "required"/"enum": the object is invalid (422). */
  category: "type" | "required" | "enum";
  message: string;
}

interface AjvIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

const MODELS: Record<Kind, ((data: unknown) => { validate(): void }) | undefined> = {
  Job: (data) => new Job(data as ConstructorParameters<typeof Job>[0]),
  ConfigMap: (data) => new ConfigMap(data as ConstructorParameters<typeof ConfigMap>[0]),
  Lease: (data) => new Lease(data as ConstructorParameters<typeof Lease>[0]),
  Pod: undefined,
};

function fieldPath(pointer: string): string {
  return pointer
    .split("/")
    .filter((s) => s.length > 0)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce((path, seg) => (/^\d+$/.test(seg) ? `${path}[${seg}]` : path ? `${path}.${seg}` : seg), "");
}

// Quantities are strings or numbers, so a bad quantity fails "format" and "oneOf"; our own
// validation reports those with the field, so schema issues of these keywords are dropped.
const IGNORED_KEYWORDS = new Set(["format", "oneOf", "anyOf"]);

export function schemaProblems(kind: Kind, body: unknown): SchemaProblem[] {
  const model = MODELS[kind];
  if (!model) return [];
  try {
    model(body).validate();
    return [];
  } catch (err) {
    const issues = (err as { errors?: AjvIssue[] }).errors;
    if (!Array.isArray(issues)) throw err;
    const problems: SchemaProblem[] = [];
    for (const issue of issues) {
      if (IGNORED_KEYWORDS.has(issue.keyword)) continue;
      const at = fieldPath(issue.instancePath);
      if (issue.keyword === "required") {
        const missing = String(issue.params.missingProperty);
        problems.push({ field: at ? `${at}.${missing}` : missing, category: "required", message: "Required value" });
      } else if (issue.keyword === "enum") {
        problems.push({ field: at, category: "enum", message: issue.message ?? "unsupported value" });
      } else if (issue.keyword === "type") {
        // A quantity may be a number or a string: "must be number" alone is not a type error.
        const sibling = issues.some((o) => o !== issue && o.instancePath === issue.instancePath && o.keyword === "format");
        if (!sibling) problems.push({ field: at, category: "type", message: issue.message ?? "wrong type" });
      }
    }
    return problems;
  }
}

interface Attribute {
  baseName: string;
  type: string;
}

type Model = { getAttributeTypeMap?: () => Attribute[] };

function attributesOf(typeName: string): Attribute[] | undefined {
  const model = (clientNode as unknown as Record<string, Model | undefined>)[typeName];
  return typeof model?.getAttributeTypeMap === "function" ? model.getAttributeTypeMap() : undefined;
}

const MAP_TYPE = /^\{ \[key: string\]: (.+); \}$/;
const ARRAY_TYPE = /^Array<(.+)>$/;

function collectUnknown(value: unknown, typeName: string, path: string, out: string[]): void {
  if (value === null || typeof value !== "object") return;
  const array = ARRAY_TYPE.exec(typeName);
  if (array) {
    if (Array.isArray(value)) value.forEach((item, i) => collectUnknown(item, array[1], `${path}[${i}]`, out));
    return;
  }
  const map = MAP_TYPE.exec(typeName);
  if (map) {
    for (const [k, v] of Object.entries(value)) collectUnknown(v, map[1], `${path}.${k}`, out);
    return;
  }
  const attributes = attributesOf(typeName);
  if (!attributes || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    const attribute = attributes.find((a) => a.baseName === k);
    const at = path ? `${path}.${k}` : k;
    if (!attribute) out.push(at);
    else collectUnknown(v, attribute.type, at, out);
  }
}

/** Paths of fields the kind's schema does not declare, e.g. "spec.template.spec.containers[0].bogus". */
export function unknownFields(kind: Kind, body: unknown): string[] {
  const out: string[] = [];
  collectUnknown(body, `V1${kind}`, "", out);
  return out;
}

/** Removes the given unknown-field paths from the body, as the server drops them when not strict. */
export function dropFields(body: Record<string, unknown>, paths: string[]): void {
  for (const path of paths) {
    const segments = path.match(/[^.[\]]+/g) ?? [];
    let node: unknown = body;
    for (const seg of segments.slice(0, -1)) {
      node = node && typeof node === "object" ? (node as Record<string, unknown>)[seg] : undefined;
    }
    const last = segments[segments.length - 1];
    if (node && typeof node === "object" && last !== undefined) delete (node as Record<string, unknown>)[last];
  }
}
