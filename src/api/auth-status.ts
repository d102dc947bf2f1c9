// A refusal of the security layer (src/auth/errors.ts) as the status a client gets: the
// message, `error-reason` and `error-field` trailers as every API error has, and for a quota
// the rich status (google.rpc.Status with RetryInfo and QuotaFailure) in grpc-status-details-bin.
import { Metadata, status } from "@grpc/grpc-js";
import type { AuthError } from "../auth/errors.js";
import { quotaStatusDetails } from "./rich-status.js";

const CODES: Record<AuthError["kind"], status> = {
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  NOT_FOUND: status.NOT_FOUND,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
};

export function authErrorStatus(error: AuthError): { code: status; details: string; metadata: Metadata } {
  const code = CODES[error.kind];
  const metadata = new Metadata();
  metadata.set("error-reason", error.reason);
  if (error.field) metadata.set("error-field", error.field);
  if (error.retryAfterMs !== undefined) {
    metadata.set("grpc-status-details-bin", quotaStatusDetails(code, error.message, error.retryAfterMs, error.quotaSubject ?? ""));
  }
  return { code, details: error.message, metadata };
}
