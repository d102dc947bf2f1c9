import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import type { z } from "zod";

/**
 * An error meant for the client: a gRPC status, a short machine-readable reason
 * and, for bad input, the request field at fault (like a Kubernetes Status cause).
 */
export class ApiError extends Error {
  constructor(
    readonly code: status,
    message: string,
    readonly field?: string,
    readonly reason?: string,
  ) {
    super(field ? `${field}: ${message}` : message);
  }

  static invalid(field: string, message: string): ApiError {
    return new ApiError(status.INVALID_ARGUMENT, message, field, "INVALID_ARGUMENT");
  }

  static notFound(message: string): ApiError {
    return new ApiError(status.NOT_FOUND, message, undefined, "NOT_FOUND");
  }

  static failedPrecondition(message: string, reason = "FAILED_PRECONDITION"): ApiError {
    return new ApiError(status.FAILED_PRECONDITION, message, undefined, reason);
  }

  static alreadyExists(field: string, message: string): ApiError {
    return new ApiError(status.ALREADY_EXISTS, message, field, "ALREADY_EXISTS");
  }
}

function snakeCase(segment: string): string {
  return segment.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Fields that are maps: their keys are shown quoted, `labels["a b"]`, `k6.thresholds["http_req_duration"]`. */
const MAP_FIELDS = ["labels", "env", "thresholds"];

/** A request field path as the client wrote it: `timer.completion_callback_url`, `labels["a b"]`. */
export function fieldPath(path: readonly PropertyKey[], prefix: readonly string[] = []): string {
  let text = prefix.join(".");
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else if (MAP_FIELDS.some((field) => text === field || text.endsWith(`.${field}`))) text += `[${JSON.stringify(String(segment))}]`;
    else text += `${text ? "." : ""}${snakeCase(String(segment))}`;
  }
  return text || "request";
}

export function fromZodError(error: z.ZodError, prefix: readonly string[] = []): ApiError {
  const issue = error.issues[0];
  return ApiError.invalid(fieldPath(issue.path, prefix), issue.message);
}

export function toServiceError(error: ApiError): Partial<ServiceError> {
  const metadata = new Metadata();
  if (error.reason) metadata.set("error-reason", error.reason);
  if (error.field) metadata.set("error-field", error.field);
  return { code: error.code, details: error.message, metadata };
}
