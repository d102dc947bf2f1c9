import { z } from "zod";

/**
 * A google.protobuf.Duration as ts-proto's toJSON gives it ({seconds, nanos}),
 * turned into milliseconds and bounded.
 */
export function durationMs(options: { min: number; max: number }, missing = "is required") {
  return z
    .object(
      { seconds: z.number().int().default(0), nanos: z.number().int().default(0) },
      { error: (issue) => (issue.input === undefined ? missing : "must be a duration such as \"2s\"") },
    )
    .transform(({ seconds, nanos }) => seconds * 1000 + nanos / 1e6)
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

export const httpUrl = z
  .string()
  .max(2048)
  .refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
    } catch {
      return false;
    }
  }, "must be an absolute http(s) URL");
