import { Metadata, status } from "@grpc/grpc-js";
import { quotaStatusDetails } from "./rich-status.js";

/** Why authentication failed: recorded in the audit log, never told to the caller. */
export type AuthFailure = "MISSING" | "MALFORMED" | "UNKNOWN_KEY" | "EXPIRED" | "REVOKED" | "CERTIFICATE_NOT_MAPPED";

interface AuthErrorDetails {
  /** The request field at fault. */
  field?: string;
  /** Authentication only: what was wrong, for the audit log. */
  failure?: AuthFailure;
  /** Quotas: when trying again can succeed (google.rpc.RetryInfo), and whose limit it is ("key:<id>", "team:<slug>"). */
  retryAfterMs?: number;
  quotaSubject?: string;
}

/**
 * A refusal by authentication, authorization or admission: a gRPC status, a machine-readable
 * reason, the request field at fault when one is, and for quotas how long to wait.
 */
export class AuthError extends Error {
  readonly field?: string;
  readonly failure?: AuthFailure;
  readonly retryAfterMs?: number;
  readonly quotaSubject?: string;

  constructor(
    readonly code: status,
    message: string,
    readonly reason: string,
    details: AuthErrorDetails = {},
  ) {
    super(details.field ? `${details.field}: ${message}` : message);
    Object.assign(this, details);
  }

  /** One message whatever was wrong: a caller learns nothing about which part of a credential failed. */
  static unauthenticated(failure: AuthFailure, certificates: boolean): AuthError {
    const how = certificates
      ? "an API key (`authorization: Bearer <key>` or `x-api-key: <key>`) or a client certificate"
      : "an API key as `authorization: Bearer <key>` or `x-api-key: <key>`";
    return new AuthError(status.UNAUTHENTICATED, `missing or invalid credentials: send ${how}`, "UNAUTHENTICATED", { failure });
  }

  static permissionDenied(message: string, field?: string, reason = "PERMISSION_DENIED"): AuthError {
    return new AuthError(status.PERMISSION_DENIED, message, reason, { field });
  }

  /** Another team's job, schedule or key: answered as the handler answers an id that does not exist. */
  static notFound(message: string): AuthError {
    return new AuthError(status.NOT_FOUND, message, "NOT_FOUND");
  }

  static quotaExceeded(reason: string, message: string, retryAfterMs: number, quotaSubject: string): AuthError {
    return new AuthError(status.RESOURCE_EXHAUSTED, message, reason, { retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)), quotaSubject });
  }
}

/** The status a client gets: the message, `error-reason` and `error-field` trailers, and for a quota the rich status with RetryInfo. */
export function authErrorStatus(error: AuthError): { code: status; details: string; metadata: Metadata } {
  const metadata = new Metadata();
  metadata.set("error-reason", error.reason);
  if (error.field) metadata.set("error-field", error.field);
  if (error.retryAfterMs !== undefined) {
    metadata.set("grpc-status-details-bin", quotaStatusDetails(error.code, error.message, error.retryAfterMs, error.quotaSubject ?? ""));
  }
  return { code: error.code, details: error.message, metadata };
}
