import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import type { z } from "zod";
import { capText, echo } from "../echo.js";

export { echo } from "../echo.js";

/** Longest status message (a backstop: every quoted input is already capped by `echo`). */
export const MAX_MESSAGE = 1000;
/** Longest value the service writes into a header or trailer, in bytes once encoded. */
export const MAX_METADATA_VALUE = 1024;

/**
 * `text` with any lone surrogate replaced by U+FFFD: grpc-js sends a status message through
 * encodeURI, which throws on one.
 */
export function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

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
    super(capText(field ? `${field}: ${message}` : message, MAX_MESSAGE));
  }

  static invalid(field: string, message: string): ApiError {
    return new ApiError(status.INVALID_ARGUMENT, message, field, "INVALID_ARGUMENT");
  }

  static outOfRange(field: string, message: string): ApiError {
    return new ApiError(status.OUT_OF_RANGE, message, field, "OUT_OF_RANGE");
  }

  static notFound(message: string): ApiError {
    return new ApiError(status.NOT_FOUND, message, undefined, "NOT_FOUND");
  }

  static failedPrecondition(message: string, reason = "FAILED_PRECONDITION"): ApiError {
    return new ApiError(status.FAILED_PRECONDITION, message, undefined, reason);
  }

  /** A dependency (the Hub) is down: the caller may try again later. */
  static unavailable(message: string, reason = "UNAVAILABLE"): ApiError {
    return new ApiError(status.UNAVAILABLE, message, undefined, reason);
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

/** A map entry's field path, `labels["a b"]`, its key quoted and capped. */
export function mapEntryPath(field: string, key: string): string {
  return `${field}[${JSON.stringify(echo(key))}]`;
}

/** A request field path as the client wrote it: `timer.completion_callback_url`, `labels["a b"]`. */
export function fieldPath(path: readonly PropertyKey[], prefix: readonly string[] = []): string {
  let text = prefix.join(".");
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else if (MAP_FIELDS.some((field) => text === field || text.endsWith(`.${field}`))) text = mapEntryPath(text, String(segment));
    else text += `${text ? "." : ""}${snakeCase(String(segment))}`;
  }
  return text || "request";
}

export function fromZodError(error: z.ZodError, prefix: readonly string[] = []): ApiError {
  const issue = error.issues[0];
  return ApiError.invalid(fieldPath(issue.path, prefix), issue.message);
}

const METADATA_SAFE = (byte: number) => byte >= 0x20 && byte <= 0x7e && byte !== 0x25;
const ELLIPSIS = "%E2%80%A6";

/**
 * A text as a header or trailer value: its UTF-8 bytes outside printable ASCII, and "%", are
 * percent-encoded (as gRPC encodes grpc-message), so any text is a legal value; at most
 * MAX_METADATA_VALUE bytes, cut with an encoded "…". decodeMetadataValue reverses it.
 */
export function encodeMetadataValue(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const piece = METADATA_SAFE(byte) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    if (out.length + piece.length > MAX_METADATA_VALUE - ELLIPSIS.length) return out + ELLIPSIS;
    out += piece;
  }
  return out;
}

/** The text encodeMetadataValue encoded (for clients and tests). */
export function decodeMetadataValue(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const hex = value[i] === "%" ? value.slice(i + 1, i + 3) : "";
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(value.charCodeAt(i));
  }
  return Buffer.from(bytes).toString("utf8");
}

/** The status a client gets for `error`: its message, its reason and field in trailers (encoded). */
export function toServiceError(error: ApiError): { code: status; details: string; metadata: Metadata } & Partial<ServiceError> {
  const metadata = new Metadata();
  if (error.reason) metadata.set("error-reason", encodeMetadataValue(error.reason));
  if (error.field) metadata.set("error-field", encodeMetadataValue(error.field));
  return { code: error.code, details: wellFormed(error.message), metadata };
}
