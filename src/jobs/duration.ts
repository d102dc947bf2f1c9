// The one check of a google.protobuf.Duration, wherever a request carries one (the API's
// timeout, back-offs and schedule windows; every job type's parameters): the ranges and the
// sign rule of duration.proto. Each field then applies its own bounds to the milliseconds.
import { z } from "zod";

/** duration.proto: seconds within ±10,000 years. */
const MAX_SECONDS = 315_576_000_000;
const MAX_NANOS = 999_999_999;

export interface DurationValue {
  seconds: number;
  nanos: number;
}

/** What makes this not a valid Duration, or null. Negative durations are valid here: fields bound them. */
export function durationProblem({ seconds, nanos }: DurationValue): string | null {
  if (!Number.isSafeInteger(seconds) || Math.abs(seconds) > MAX_SECONDS) return `seconds must be a whole number within ±${MAX_SECONDS}`;
  if (!Number.isInteger(nanos) || Math.abs(nanos) > MAX_NANOS) return `nanos must be a whole number within ±${MAX_NANOS}`;
  if ((seconds > 0 && nanos < 0) || (seconds < 0 && nanos > 0)) return "seconds and nanos must have the same sign";
  return null;
}

/** Exact milliseconds (fractions kept) of a valid Duration. */
export function durationMillis({ seconds, nanos }: DurationValue): number {
  return seconds * 1000 + nanos / 1e6;
}

/** The proto3 JSON form of a non-negative Duration, which clients send: "2s", "0.5s", "90s". */
export const DURATION_JSON_PATTERN = "^[0-9]+(\\.[0-9]{1,9})?s$";

/** Duration schemas and the bounds their field applies, for the JSON Schema of a job type's parameters. */
export const protoDurations = z.registry<{ min?: number; max?: number }>();

/**
 * A Duration as ts-proto's toJSON hands it to a job type's schema ({seconds, nanos}), checked by
 * durationProblem. `bounds` (ms) only describe the field in its JSON Schema; the caller applies them.
 */
export function protoDuration(bounds: { min?: number; max?: number } = {}, missing = "is required") {
  const schema = z
    .object(
      { seconds: z.number().int().default(0), nanos: z.number().int().default(0) },
      { error: (issue) => (issue.input === undefined ? missing : "must be a duration such as \"2s\"") },
    )
    .superRefine((value, ctx) => {
      const problem = durationProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    });
  protoDurations.add(schema, bounds);
  return schema;
}
