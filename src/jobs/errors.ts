// What the domain refuses, and why, as values: the field at fault (a path as the client wrote
// it, `retry_policy.max_backoff`, `labels["a b"]`), a short machine-readable reason and the
// message. They know no transport: src/api/errors.ts maps each kind to a status code and
// trailers, and a gateway of another protocol would map them its own way.
import type { z } from "zod";
import { capText, echo } from "../echo.js";

/** Longest message (a backstop: every quoted input is already capped by `echo`). */
export const MAX_MESSAGE = 1000;

export abstract class DomainError extends Error {
  constructor(
    message: string,
    readonly field?: string,
    readonly reason?: string,
  ) {
    super(capText(field ? `${field}: ${message}` : message, MAX_MESSAGE));
  }
}

/** Bad input: the field and what is wrong with it. */
export class InvalidField extends DomainError {
  constructor(field: string, message: string) {
    super(message, field, "INVALID_ARGUMENT");
  }
}

/** A value past the range its field allows at this moment (e.g. a sequence number beyond the last). */
export class OutOfRange extends DomainError {
  constructor(field: string, message: string) {
    super(message, field, "OUT_OF_RANGE");
  }
}

export class NotFound extends DomainError {
  constructor(message: string) {
    super(message, undefined, "NOT_FOUND");
  }
}

/** The thing already exists (a name, an idempotency key used for another request). */
export class Conflict extends DomainError {
  constructor(field: string, message: string) {
    super(message, field, "ALREADY_EXISTS");
  }
}

/** The request is fine but the state of the system (or its configuration) does not allow it. */
export class PreconditionFailed extends DomainError {
  constructor(message: string, reason = "FAILED_PRECONDITION") {
    super(message, undefined, reason);
  }
}

/**
 * The request is well formed, but a policy of this server refuses it (e.g. a target outside
 * TARGET_ALLOWLIST): another server, or another policy, may accept the same request.
 */
export class Forbidden extends DomainError {
  constructor(field: string, message: string, reason = "PERMISSION_DENIED") {
    super(message, field, reason);
  }
}

/** A dependency (the Hub) is down: the caller may try again later. */
export class Unavailable extends DomainError {
  constructor(message: string, reason = "UNAVAILABLE") {
    super(message, undefined, reason);
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

/** The first problem zod found, as the field it names. */
export function fromZodError(error: z.ZodError, prefix: readonly string[] = []): InvalidField {
  const issue = error.issues[0];
  return new InvalidField(fieldPath(issue.path, prefix), issue.message);
}
