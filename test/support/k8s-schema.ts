// Offline checks of Kubernetes objects: the schema (kubernetes-models) and, since that does not
// catch unknown fields, a round trip through client-node's ObjectSerializer that must lose nothing.
import { ObjectSerializer } from "@kubernetes/client-node/dist/serializer.js";
import { ConfigMap } from "kubernetes-models/v1";
import { Job } from "kubernetes-models/batch/v1";
import { expect } from "vitest";

/** Paths present in `original` but missing or different in `copy`. */
export function lostPaths(original: unknown, copy: unknown, path = ""): string[] {
  if (Array.isArray(original)) {
    if (!Array.isArray(copy)) return [path || "/"];
    return original.flatMap((value, i) => lostPaths(value, copy[i], `${path}[${i}]`));
  }
  if (original !== null && typeof original === "object") {
    if (copy === null || typeof copy !== "object") return [path || "/"];
    return Object.entries(original).flatMap(([key, value]) =>
      key in copy ? lostPaths(value, (copy as Record<string, unknown>)[key], path ? `${path}.${key}` : key) : [path ? `${path}.${key}` : key],
    );
  }
  return original === copy ? [] : [path || "/"];
}

export function expectValidObject(obj: object, model: "V1Job" | "V1ConfigMap"): void {
  const plain = JSON.parse(JSON.stringify(obj));
  if (model === "V1Job") new Job(plain).validate();
  else new ConfigMap(plain).validate();
  const roundTrip = ObjectSerializer.serialize(ObjectSerializer.deserialize(plain, model), model);
  expect(lostPaths(plain, roundTrip)).toEqual([]);
}
