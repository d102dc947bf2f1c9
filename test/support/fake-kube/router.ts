// Turns a method and URL into what kube-apiserver's RequestInfoFactory would: the RBAC verb, API
// group, resource, subresource, namespace and name.
import type { Verb } from "./types.js";

export interface ResourceRequest {
  type: "resource";
  verb: Verb;
  apiGroup: string;
  apiVersion: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  query: URLSearchParams;
}

export interface NonResourceRequest {
  type: "nonResource";
  verb: string;
  path: string;
}

export type RequestInfo = ResourceRequest | NonResourceRequest;

const VERB_BY_METHOD: Record<string, Verb> = {
  POST: "create",
  PUT: "update",
  PATCH: "patch",
  DELETE: "delete",
  GET: "get",
  HEAD: "get",
};

export function parseRequest(method: string, url: URL): RequestInfo {
  const segments = url.pathname.split("/").filter((s) => s.length > 0).map(decodeURIComponent);
  const nonResource: NonResourceRequest = { type: "nonResource", verb: method.toLowerCase(), path: url.pathname };
  let apiGroup: string;
  let apiVersion: string;
  let rest: string[];
  if (segments[0] === "api" && segments.length >= 2) {
    apiGroup = "";
    apiVersion = segments[1];
    rest = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 3) {
    apiGroup = segments[1];
    apiVersion = segments[2];
    rest = segments.slice(3);
  } else {
    return nonResource;
  }
  if (rest.length === 0) return nonResource;

  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest;
  if (rest.length > 3) return nonResource;

  const baseVerb = VERB_BY_METHOD[method];
  if (!baseVerb) return nonResource;
  let verb: Verb = baseVerb;
  const watching = url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1";
  if (!name && verb === "get") verb = watching ? "watch" : "list";
  if (!name && verb === "delete") verb = "deletecollection";
  return { type: "resource", verb, apiGroup, apiVersion, resource, subresource, namespace, name, query: url.searchParams };
}
