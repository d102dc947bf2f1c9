import { fileURLToPath } from "node:url";
import { z } from "zod";
import { parseLimitList } from "./dispatch/limits.js";

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

const duration = (fallback: string) =>
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

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const list = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text) => text.split(",").map((s) => s.trim()).filter(Boolean));

const defaultCollectorsDir = fileURLToPath(new URL("./collectors", import.meta.url));

/** Every setting of the service, read from the environment once at start-up. */
export const configSchema = z.object({
  GRPC_HOST: z.string().default("0.0.0.0"),
  GRPC_PORT: port(50054),
  HTTP_HOST: z.string().default("0.0.0.0"),
  HTTP_PORT: port(8080),
  METRICS_PORT: port(9090),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  DATA_DIR: z.string().min(1).default("./data"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  SQLITE_PATH: z.string().min(1).optional(),
  RUNTIME: z.enum(["local"]).default("local"),
  MAX_RUNNING_JOBS: z.coerce.number().int().min(1).max(10_000).default(8),
  /** "k6=2,http_check=20": at most that many jobs of a type at once. */
  MAX_RUNNING_PER_TYPE: z
    .string()
    .default("")
    .transform((text, ctx) => {
      try {
        return parseLimitList(text);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** At most that many jobs sharing one concurrency key at once (e.g. load tests of one app). */
  MAX_RUNNING_PER_KEY: z.coerce.number().int().min(1).max(10_000).default(1),
  /** Queue timeout for jobs whose request sets none; 0 = wait forever. */
  DEFAULT_QUEUE_TIMEOUT: duration("0s"),
  DISPATCH_POLL_INTERVAL: duration("1s"),
  KILL_GRACE_PERIOD: duration("10s"),
  SHUTDOWN_TIMEOUT: duration("20s"),
  CANCEL_WAIT: duration("15s"),
  OUTPUT_TAIL_BYTES: z.coerce.number().int().min(256).max(1_048_576).default(8192),
  COLLECTORS_DIR: z.string().min(1).default(defaultCollectorsDir),
  LOCAL_PASS_ENV: list("PATH,TZ,LANG,LC_ALL,NODE_EXTRA_CA_CERTS,HTTP_PROXY,HTTPS_PROXY,NO_PROXY"),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {}

/** Parses the environment; a bad value raises a ConfigError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const result = configSchema.safeParse(present);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const variable = String(issue.path[0]);
    const value = present[variable];
    // Never echo a secret's value.
    const shown = value === undefined || variable === "DATABASE_URL" ? "" : ` (got "${value}")`;
    return `${variable}: ${issue.message}${issue.message.includes("(got") ? "" : shown}`;
  });
  throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
}
