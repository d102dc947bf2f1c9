// The Hub reporting settings: one zod shape spread into src/config.ts's schema, so every
// variable is validated at start-up with the rest. Names follow seed 001's tables where it
// has one (GIT_MONITOR_*, DEPLOYMENT_MONITOR_*, K6_SERVICES_*, COST_TRACKING_*, HTTP_TIMEOUT,
// USER_AGENT, GITHUB_*). HUB_API_KEY and GITHUB_TOKEN are secrets: never logged or echoed.
import { Cron } from "croner";
import { z } from "zod";
import { duration, json } from "../config-fields.js";
import { criteriaSettingsSchema } from "./evaluator.js";


const flag = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no"], { error: "must be true or false" })
    .default(fallback ? "true" : "false")
    .transform((text) => text === "true" || text === "1" || text === "yes");

const cron = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((text) => {
      try {
        new Cron(text, { paused: true });
        return true;
      } catch {
        return false;
      }
    }, "must be a cron expression such as */15 * * * *");

const httpUrl = z.string().refine((text) => {
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}, "must be an http(s) URL");

/** `name/key` of a Secret: a DNS-1123 name and a Secret data key; "" = none. */
const secretKeyRef = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((text) => text === "" || /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/[-._a-zA-Z0-9]{1,253}$/.test(text), "must be <secret name>/<key>, e.g. jobscheduler-run-secrets/GITHUB_TOKEN, or empty")
    .transform((text) => {
      if (!text) return null;
      const [name, key] = text.split("/");
      return { name, key };
    });

const envKey = (fallback: string) => z.string().min(1).max(200).default(fallback);

const criteria = json(criteriaSettingsSchema, "{}");

export const hubSettings = {
  /** The Hub's base URL, e.g. https://hub.hackload.kz. Unset: criteria are kept in the outbox, not sent. */
  HUB_API_URL: httpUrl.optional(),
  /** Secret (from a Kubernetes Secret): the Hub service key, sent as X-API-Key. */
  HUB_API_KEY: z.string().min(1).optional(),
  /** Per Hub request. */
  HUB_TIMEOUT: duration("30s"),
  /** Attempts for reads (team discovery) before a fire gives up; criteria writes retry through the outbox. */
  HUB_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
  /** Criteria updates per POST (many teams per request). */
  HUB_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(100),
  /** After a new criterion arrives, wait this long for others to share its POST. */
  HUB_BATCH_DELAY: duration("250ms"),
  /** Safety net: look at the outbox this often even without a wake-up. */
  HUB_POLL_INTERVAL: duration("5s"),
  /** Back-off while the Hub is down: exponential from INITIAL to MAX, spread by JITTER (0..1). */
  HUB_RETRY_INITIAL: duration("1s"),
  /** Longest back-off between delivery attempts while the Hub is down. */
  HUB_RETRY_MAX: duration("5m"),
  /** 0..1: spread of each delivery back-off. */
  HUB_RETRY_JITTER: z.coerce.number().min(0).max(1).default(0.2),
  /** During a back-off, ask the Hub this often (one cheap read) whether it answers again; any answer ends the back-off. */
  HUB_PROBE_INTERVAL: duration("5s").pipe(z.number().min(100, "must be at least 100ms")),
  /** An item the Hub answers 500 (its answer to an invalid body, and to its own outages) this many times is parked. */
  HUB_MAX_REJECTIONS: z.coerce.number().int().min(1).max(100).default(5),
  /** After 401/403 (a configuration error) reporting stops; it looks again this often, not sooner. */
  HUB_AUTH_RETRY_INTERVAL: duration("5m"),
  /** The Hub's `updatedBy` on every update. */
  HUB_UPDATED_BY: z.string().min(1).max(100).default("jobscheduler"),
  /** Environment keys the live Hub uses for each team's inputs. */
  HUB_ENV_KEY_REPO: envKey("Repo"),
  /** Team environment key holding the team's app base URL. */
  HUB_ENV_KEY_ENDPOINT: envKey("ENDPOINT_URL"),
  /** Team environment key holding the money spent (KZT). */
  HUB_ENV_KEY_MONEY: envKey("MONEY_SPEND"),
  /** Team environment key holding the jury score (0-10; the Hub spells it JUDJE_SCORE). */
  HUB_ENV_KEY_JUDGE: envKey("JUDJE_SCORE"),
  /** Thresholds and score scales per criterion, JSON, merged over the defaults (docs/hub-reporting.md). */
  HUB_CRITERIA: criteria,
  /** The hackathon the default team schedules measure; unset: no default schedules. */
  HUB_HACKATHON_ID: z.string().min(1).max(100).optional(),
  /** Team status the fan-out rounds include. */
  HUB_TEAM_STATUS: z.string().min(1).max(40).default("APPROVED"),
  /** Per-type running limit for each collector type in a team round (unless MAX_RUNNING_PER_TYPE names it). */
  HUB_ROUND_CONCURRENCY: z.coerce.number().int().min(1).max(10_000).default(16),
  /** k6 jobs running at once, load-test rounds included (unless MAX_RUNNING_PER_TYPE names k6): each runner takes 1 CPU and 1 GiB by default. */
  HUB_LOAD_TEST_CONCURRENCY: z.coerce.number().int().min(1).max(10_000).default(8),

  /** GitHub REST API base URL. */
  GITHUB_API_URL: httpUrl.default("https://api.github.com"),
  /** Secret: given to git_activity runs only (local runtime; on Kubernetes see GITHUB_TOKEN_SECRET). */
  GITHUB_TOKEN: z.string().min(1).optional(),
  /**
   * Kubernetes: the Secret in the jobs namespace and its key (`name/key`) git_activity pods read GITHUB_TOKEN from,
   * so the token is never written into a Job; a missing Secret means unauthenticated calls. Empty: GITHUB_TOKEN's value in the Job.
   */
  GITHUB_TOKEN_SECRET: secretKeyRef("jobscheduler-run-secrets/GITHUB_TOKEN"),
  /** Commits are counted since this time (ISO 8601); unset: since the start of the activity window. */
  GIT_ACTIVITY_SINCE: z.iso.datetime({ offset: true }).optional(),
  /** A commit within this window counts as recent activity. */
  GIT_ACTIVITY_WINDOW: duration("24h"),

  /** Run the CODE_REPO round (git_activity for every team). */
  GIT_MONITOR_ENABLED: flag(true),
  /** Cron of the CODE_REPO round. */
  GIT_MONITOR_INTERVAL: cron("*/30 * * * *"),
  /** Timeout of each git_activity job. */
  GIT_MONITOR_TIMEOUT: duration("5m"),
  /** Run the DEPLOYED_SOLUTION round (http_check for every team). */
  DEPLOYMENT_MONITOR_ENABLED: flag(true),
  /** Cron of the DEPLOYED_SOLUTION round. */
  DEPLOYMENT_MONITOR_INTERVAL: cron("*/15 * * * *"),
  /** Timeout of each http_check job. */
  DEPLOYMENT_MONITOR_TIMEOUT: duration("30s"),
  /** Per HTTP request of a deployment check. */
  HTTP_TIMEOUT: duration("10s"),
  /** User-Agent of the HTTP checks. */
  USER_AGENT: z.string().min(1).max(200).default("HackLoad-Monitor/1.0"),
  /** Run the load-test rounds (k6 for every team). */
  K6_SERVICES_ENABLED: flag(true),
  /** Cron of the load-test rounds. */
  K6_SERVICES_INTERVAL: cron("0 */6 * * *"),
  /** Timeout of each load-test job. */
  K6_SERVICES_TIMEOUT: duration("20m"),
  /** Run the BUDGET_TRACKING round. */
  COST_TRACKING_ENABLED: flag(true),
  /** Cron of the BUDGET_TRACKING round. */
  COST_TRACKING_INTERVAL: cron("0 */6 * * *"),
  /** Timeout of each budget job. */
  COST_TRACKING_TIMEOUT: duration("10m"),
  /** Run the JUDGE_SCORE round. */
  JUDGE_SCORE_ENABLED: flag(true),
  /** Cron of the JUDGE_SCORE round. */
  JUDGE_SCORE_INTERVAL: cron("0 */6 * * *"),
};

/** Variables whose values are never echoed in configuration errors or logs. */
export const SECRET_SETTINGS: readonly string[] = ["HUB_API_KEY", "GITHUB_TOKEN"];

type HubSettingsShape = typeof hubSettings;
export type HubSettings = { [K in keyof HubSettingsShape]: z.infer<HubSettingsShape[K]> };
