// Field checks shared by every request the domain reads (jobs, schedules): strings, durations,
// idempotency keys. Each names the field it refuses.
import { durationProblem, type DurationValue } from "../duration.js";
import { InvalidField } from "../errors.js";
import { text, textProblem, type TextRule } from "../text-field.js";

/** The string rule (src/jobs/text-field.ts) for a field read outside a zod schema. */
export function checkText(field: string, value: string, rule: TextRule): string {
  const problem = textProblem(value, rule);
  if (problem) throw new InvalidField(field, problem);
  return value;
}

/** A Duration field in milliseconds: a valid google.protobuf.Duration (src/jobs/duration.ts), not negative. */
export function durationToMs(duration: DurationValue | undefined, field: string): number | undefined {
  if (!duration) return undefined;
  const problem = durationProblem(duration);
  if (problem) throw new InvalidField(field, problem);
  if (duration.seconds < 0 || duration.nanos < 0) throw new InvalidField(field, "must not be negative");
  return duration.seconds * 1000 + Math.floor(duration.nanos / 1e6);
}

export const printableKey = (max: number) => text({ max }).regex(/^[\x21-\x7e]*$/, "may hold printable ASCII without spaces only");

export const idempotencyKey = printableKey(255);
