import { z } from "zod";
import { DURATION_JSON_PATTERN, durationMillis, protoDuration, protoDurations } from "./duration.js";
import { text } from "./text-field.js";

/** A google.protobuf.Duration field turned into milliseconds, within `options` (ms). */
export function durationMs(options: { min: number; max: number }, missing = "is required") {
  return protoDuration(options, missing)
    .transform(durationMillis)
    .pipe(
      z
        .number()
        .min(options.min, { message: `must be at least ${formatMs(options.min)}` })
        .max(options.max, { message: `must be at most ${formatMs(options.max)}` }),
    );
}

export function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export const MAX_URL_LENGTH = 2048;

export const httpUrl = text({ max: MAX_URL_LENGTH }).refine((value) => {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}, "must be an absolute http(s) URL");

/**
 * The JSON Schema of a job type's parameters as clients write them in proto3 JSON (ListJobTypes):
 * a Duration is a string such as "2s", not the {seconds, nanos} object the schema reads.
 */
export function paramsJsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
    override: ({ zodSchema, jsonSchema }) => {
      const bounds = protoDurations.get(zodSchema);
      if (!bounds) return;
      for (const key of Object.keys(jsonSchema)) delete (jsonSchema as Record<string, unknown>)[key];
      const range = bounds.min !== undefined && bounds.max !== undefined ? ` (from ${formatMs(bounds.min)} to ${formatMs(bounds.max)})` : "";
      Object.assign(jsonSchema, {
        type: "string",
        pattern: DURATION_JSON_PATTERN,
        description: `a duration in proto3 JSON: seconds with up to 9 decimals and an "s", e.g. "2s", "0.5s", "90s"${range}`,
      });
    },
  }) as Record<string, unknown>;
}
