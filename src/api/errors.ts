// Errors as the client sees them: a status code, a message, and trailers with a short reason and
// the field at fault. Every refusal, the domain's and the API's own, is a DomainError
// (src/jobs/errors.ts); statusOf gives each kind its status code, in this one place.
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { Conflict, DomainError, Forbidden, InvalidField, NotFound, OutOfRange, PreconditionFailed, Unavailable } from "../jobs/errors.js";

export { echo } from "../echo.js";
export { fromZodError } from "../jobs/errors.js";

/** Longest value the service writes into a header or trailer, in bytes once encoded. */
export const MAX_METADATA_VALUE = 1024;

/**
 * `text` with any lone surrogate replaced by U+FFFD: grpc-js sends a status message through
 * encodeURI, which throws on one.
 */
export function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
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

/** The status code of each kind of domain error. */
export function statusOf(error: DomainError): status {
  if (error instanceof InvalidField) return status.INVALID_ARGUMENT;
  if (error instanceof OutOfRange) return status.OUT_OF_RANGE;
  if (error instanceof NotFound) return status.NOT_FOUND;
  if (error instanceof Conflict) return status.ALREADY_EXISTS;
  if (error instanceof PreconditionFailed) return status.FAILED_PRECONDITION;
  if (error instanceof Unavailable) return status.UNAVAILABLE;
  if (error instanceof Forbidden) return status.PERMISSION_DENIED;
  return status.UNKNOWN;
}

/** The status a client gets for `error`: its message, its reason and field in trailers (encoded). */
export function toServiceError(error: DomainError): { code: status; details: string; metadata: Metadata } & Partial<ServiceError> {
  const metadata = new Metadata();
  if (error.reason) metadata.set("error-reason", encodeMetadataValue(error.reason));
  if (error.field) metadata.set("error-field", encodeMetadataValue(error.field));
  return { code: statusOf(error), details: wellFormed(error.message), metadata };
}
