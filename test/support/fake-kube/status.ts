// Kubernetes `Status` bodies, the way kube-apiserver words them.
import { qualifiedKind, qualifiedResource, type ResourceType } from "./resources.js";

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: "Status";
  apiVersion: "v1";
  /** A list's 410 for an expired continue token carries a token to go on with (inconsistently). */
  metadata: { continue?: string };
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

/** A failure the HTTP layer turns into a Status response. */
export class ApiError extends Error {
  constructor(
    readonly status: Status,
    readonly headers: Record<string, string> = {},
  ) {
    super(status.message);
  }
  get code(): number {
    return this.status.code;
  }
}

function failure(code: number, reason: string, message: string, details?: StatusDetails): Status {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, details, code };
}

export function success(rt: ResourceType, name: string, uid: string): Status {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Success",
    details: { name, group: rt.group, kind: rt.plural, uid },
    code: 200,
  };
}

export function notFound(rt: ResourceType, name: string): ApiError {
  const message = `${qualifiedResource(rt.group, rt.plural)} "${name}" not found`;
  return new ApiError(failure(404, "NotFound", message, { name, group: rt.group, kind: rt.plural }));
}

export function namespaceNotFound(namespace: string): ApiError {
  return new ApiError(failure(404, "NotFound", `namespaces "${namespace}" not found`, { name: namespace, kind: "namespaces" }));
}

export function unknownResource(): ApiError {
  return new ApiError(failure(404, "NotFound", "the server could not find the requested resource", {}));
}

export function alreadyExists(rt: ResourceType, name: string): ApiError {
  const message = `${qualifiedResource(rt.group, rt.plural)} "${name}" already exists`;
  return new ApiError(failure(409, "AlreadyExists", message, { name, group: rt.group, kind: rt.plural }));
}

export function conflict(rt: ResourceType, name: string, why: string): ApiError {
  const message = `Operation cannot be fulfilled on ${qualifiedResource(rt.group, rt.plural)} "${name}": ${why}`;
  return new ApiError(failure(409, "Conflict", message, { name, group: rt.group, kind: rt.plural }));
}

export const STALE_OBJECT = "the object has been modified; please apply your changes to the latest version and try again";

export function invalid(rt: ResourceType, name: string, causes: StatusCause[]): ApiError {
  const lines = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : String(c.message)));
  const summary = lines.length === 1 ? lines[0] : `[${lines.join(", ")}]`;
  const message = `${qualifiedKind(rt)} "${name}" is invalid: ${summary}`;
  return new ApiError(failure(422, "Invalid", message, { name, group: rt.group, kind: rt.kind, causes }));
}

export function badRequest(message: string): ApiError {
  return new ApiError(failure(400, "BadRequest", message));
}

export function forbidden(group: string, resource: string, name: string | undefined, why: string): ApiError {
  const what = qualifiedResource(group, resource);
  const message = name ? `${what} "${name}" is forbidden: ${why}` : `${what} is forbidden: ${why}`;
  return new ApiError(failure(403, "Forbidden", message, { name, group, kind: resource }));
}

export function unauthorized(): ApiError {
  return new ApiError(failure(401, "Unauthorized", "Unauthorized"));
}

export function methodNotAllowed(what: string): ApiError {
  return new ApiError(
    failure(405, "MethodNotAllowed", `the server does not allow this method on the requested resource (fake-kube does not simulate ${what})`),
  );
}

export function tooManyRequests(retryAfterSeconds: number): ApiError {
  const message = "Too many requests, please try again later.";
  return new ApiError(
    failure(429, "TooManyRequests", message, { causes: [{ message }], retryAfterSeconds }),
    { "Retry-After": String(retryAfterSeconds) },
  );
}

export function expired(message: string): Status {
  return failure(410, "Expired", message);
}

/** ListOptions that fail validation: 422 with the causes, as kube-apiserver's ValidateListOptions. */
export function invalidListOptions(causes: StatusCause[]): ApiError {
  const lines = causes.map((c) => `${c.field}: ${c.message}`);
  const summary = lines.length === 1 ? lines[0] : `[${lines.join(", ")}]`;
  return new ApiError(failure(422, "Invalid", `ListOptions.meta.k8s.io "" is invalid: ${summary}`, { group: "meta.k8s.io", kind: "ListOptions", causes }));
}

/** A resourceVersion the server has not reached within the wait (storage.NewTooLargeResourceVersionError). */
export function tooLargeResourceVersion(requested: number, current: number): ApiError {
  return new ApiError(
    failure(504, "Timeout", `Too large resource version: ${requested}, current: ${current}`, {
      causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
      retryAfterSeconds: 1,
    }),
    { "Retry-After": "1" },
  );
}

const REASON_BY_CODE: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  410: "Expired",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** A Status for an injected failure with an arbitrary code. */
export function injected(code: number, message: string): ApiError {
  if (code === 429) return tooManyRequests(1);
  const reason = REASON_BY_CODE[code] ?? "InternalError";
  const text = code === 500 ? `Internal error occurred: ${message}` : message;
  return new ApiError(failure(code, reason, text, { causes: [{ message }] }));
}

export function internalError(message: string): ApiError {
  return injected(500, message);
}
