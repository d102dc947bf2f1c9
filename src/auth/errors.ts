// Refusals of the security layer, as data: what kind of refusal (the API maps each kind to its
// gRPC status, src/api/auth-status.ts), a machine-readable reason, the request field at fault,
// and for quotas how long to wait. No transport here: src/auth/ is below the API.

/** Why authentication failed: recorded in the audit log, never told to the caller. */
export type AuthFailure = "MISSING" | "MALFORMED" | "UNKNOWN_KEY" | "EXPIRED" | "REVOKED" | "CERTIFICATE_NOT_MAPPED";

/** The refusal's kind, named as the gRPC status it is answered with. */
export type RefusalKind = "UNAUTHENTICATED" | "PERMISSION_DENIED" | "NOT_FOUND" | "RESOURCE_EXHAUSTED";

interface AuthErrorDetails {
  /** The request field at fault. */
  field?: string;
  /** Authentication only: what was wrong, for the audit log. */
  failure?: AuthFailure;
  /** Quotas: when trying again can succeed (google.rpc.RetryInfo), and whose limit it is ("key:<id>", "team:<slug>"). */
  retryAfterMs?: number;
  quotaSubject?: string;
}

export class AuthError extends Error {
  readonly field?: string;
  readonly failure?: AuthFailure;
  readonly retryAfterMs?: number;
  readonly quotaSubject?: string;

  constructor(
    readonly kind: RefusalKind,
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
    return new AuthError("UNAUTHENTICATED", `missing or invalid credentials: send ${how}`, "UNAUTHENTICATED", { failure });
  }

  static permissionDenied(message: string, field?: string, reason = "PERMISSION_DENIED"): AuthError {
    return new AuthError("PERMISSION_DENIED", message, reason, { field });
  }

  /** Another team's job, schedule or key: answered as the handler answers an id that does not exist. */
  static notFound(message: string): AuthError {
    return new AuthError("NOT_FOUND", message, "NOT_FOUND");
  }

  static quotaExceeded(reason: string, message: string, retryAfterMs: number, quotaSubject: string): AuthError {
    return new AuthError("RESOURCE_EXHAUSTED", message, reason, { retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)), quotaSubject });
  }
}
