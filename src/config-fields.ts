// Field types for settings read from the environment (used by src/config.ts and the
// setting groups it spreads in, such as src/hub/settings.ts).
import { delimiter, resolve } from "node:path";
import { z } from "zod";

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** "500ms", "10s", "5m", "1h" → milliseconds. */
export const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const match = DURATION.exec(text.trim());
      if (!match) {
        ctx.addIssue({ code: "custom", message: `must be a duration like 500ms, 10s, 5m or 1h (got "${text}")` });
        return z.NEVER;
      }
      return Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
    });

/** true/false (also 1/0, yes/no). */
export const flag = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"], { error: "must be true or false" })
    .default(fallback ? "true" : "false")
    .transform((text) => text === "true" || text === "1" || text === "yes");

/** A JSON document checked by `schema`; issues name the JSON path. */
export const json = <T extends z.ZodType>(schema: T, fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx): z.infer<T> => {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: `must be JSON: ${(error as Error).message}` });
        return z.NEVER;
      }
      const parsed = schema.safeParse(value);
      if (parsed.success) return parsed.data;
      for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", message: `${issue.path.join(".") || "(top)"}: ${issue.message}` });
      return z.NEVER;
    });

/**
 * A file or directory, made absolute against the working directory once, at start-up: every
 * later user sees the same file, a run started in its own directory included.
 */
export const path = () => z.string().min(1).transform((text) => resolve(text));

/** A path-list (KUBECONFIG's `a:b`), each entry made absolute as `path` does. */
export const pathList = () =>
  z
    .string()
    .min(1)
    .transform((text) => text.split(delimiter).map((entry) => (entry ? resolve(entry) : entry)).join(delimiter));

/** A command: a bare name is looked up in PATH when run; one with a slash is a path, made absolute. */
export const command = () => z.string().min(1).transform((text) => (text.includes("/") ? resolve(text) : text));
