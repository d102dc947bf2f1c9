// Wires Hub reporting into the service (src/app.ts): the criteria reporter the job lifecycle
// calls, the outbox delivery worker, the team fan-out the scheduler uses, the default team
// schedules, and the settings job types take from the configuration.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Config } from "../config.js";
import type { Clock } from "../dispatch/clock.js";
import type { JobLifecycle } from "../dispatch/lifecycle.js";
import type { ScheduleDefinition } from "../dispatch/schedules/definition.js";
import type { BuiltinOptions } from "../jobs/builtin.js";
import type { EgressAdmission } from "../jobs/egress/admission.js";
import type { JobEvents } from "../jobs/job-events.js";
import type { JobRegistry } from "../jobs/registry.js";
import type { JobStore } from "../store/store.js";
import type { OutboxStore } from "../store/outbox-queries.js";
import { JOB_TYPE_FOR_CRITERIA } from "./criteria.js";
import { defaultTeamSchedules } from "./default-schedules.js";
import { OutboxDelivery } from "./delivery.js";
import { TeamFanOut } from "./fanout.js";
import { HubClient } from "./hub-client.js";
import { HubMetrics } from "./hub-metrics.js";
import { criteriaReporter } from "./outbox.js";

/** Job-type settings from the configuration: the GitHub API and token go to git_activity runs only. */
export function hubJobOptions(config: Config): BuiltinOptions {
  return {
    gitActivity: {
      apiUrl: config.GITHUB_API_URL,
      token: config.GITHUB_TOKEN,
      tokenSecret: config.GITHUB_TOKEN_SECRET ?? undefined,
      defaultSince: config.GIT_ACTIVITY_SINCE,
      userAgent: config.USER_AGENT,
    },
    httpCheck: { userAgent: config.USER_AGENT },
  };
}

/**
 * The per-type limits of the job types team rounds run: HUB_ROUND_CONCURRENCY for each collector
 * type, HUB_LOAD_TEST_CONCURRENCY for k6 (load tests are heavy; MAX_RUNNING_JOBS, which bounded
 * them before it was raised for the rounds, was 8).
 */
export function roundTypeLimits(config: Config): Record<string, number> {
  const types = new Set(Object.values(JOB_TYPE_FOR_CRITERIA));
  return Object.fromEntries([...types].map((type) => [type, type === "k6" ? config.HUB_LOAD_TEST_CONCURRENCY : config.HUB_ROUND_CONCURRENCY]));
}

export interface HubReportingDeps {
  config: Config;
  store: JobStore;
  registry: JobRegistry;
  lifecycle: JobLifecycle;
  events: JobEvents;
  metricsRegistry: Registry;
  clock: Clock;
  logger: Logger;
  /** The outbox the delivery worker claims from and settles in (the leader's, fenced); default the store's. */
  outbox?: OutboxStore;
  /** Where jobs may send requests: a round's jobs are admitted with each team's app allowed by name. */
  egress: EgressAdmission;
}

export interface HubReporting {
  fanOut: TeamFanOut;
  /** Null when HUB_API_URL or HUB_API_KEY is unset (reports wait in the outbox). */
  delivery: OutboxDelivery | null;
  defaultSchedules: ScheduleDefinition[];
  /** A line for /readyz while reporting is stopped by a 401/403, else null (an unconfigured Hub is only logged). */
  readinessNote(): string | null;
  start(): void;
  stop(): Promise<void>;
}

export function createHubReporting(deps: HubReportingDeps): HubReporting {
  const { config, store, logger } = deps;
  const log = logger.child({ component: "hub" });
  const metrics = new HubMetrics(deps.metricsRegistry, store.outbox);
  const client = config.HUB_API_URL && config.HUB_API_KEY
    ? new HubClient({ baseUrl: config.HUB_API_URL, apiKey: config.HUB_API_KEY, timeoutMs: config.HUB_TIMEOUT, readAttempts: config.HUB_RETRIES + 1 })
    : null;
  const delivery = client
    ? new OutboxDelivery(deps.outbox ?? store.outbox, client, {
      batchSize: config.HUB_BATCH_SIZE,
      batchDelayMs: config.HUB_BATCH_DELAY,
      pollIntervalMs: config.HUB_POLL_INTERVAL,
      retryInitialMs: config.HUB_RETRY_INITIAL,
      retryMaxMs: config.HUB_RETRY_MAX,
      retryJitter: config.HUB_RETRY_JITTER,
      probeIntervalMs: config.HUB_PROBE_INTERVAL,
      maxRejections: config.HUB_MAX_REJECTIONS,
      authRetryIntervalMs: config.HUB_AUTH_RETRY_INTERVAL,
      updatedBy: config.HUB_UPDATED_BY,
      leaseMs: config.HUB_TIMEOUT + 10_000,
    }, metrics, log.child({ component: "hub-delivery" }), deps.clock)
    : null;
  if (client && config.MAX_RUNNING_JOBS < config.HUB_ROUND_CONCURRENCY) {
    log.warn(
      { MAX_RUNNING_JOBS: config.MAX_RUNNING_JOBS, HUB_ROUND_CONCURRENCY: config.HUB_ROUND_CONCURRENCY },
      "MAX_RUNNING_JOBS is below HUB_ROUND_CONCURRENCY: a team round runs at most MAX_RUNNING_JOBS checks at once",
    );
  }
  if (!client) {
    const missing = [config.HUB_API_URL ? null : "HUB_API_URL", config.HUB_API_KEY ? null : "HUB_API_KEY"].filter(Boolean).join(" and ");
    log.warn(`Hub reporting is off (${missing} not set): criteria reports are kept in the outbox`);
  }

  deps.lifecycle.setCriteriaReporter(criteriaReporter(config.HUB_CRITERIA));
  // A team-bound job that ended may have left a report in the outbox.
  deps.events.subscribeAll(({ job }) => {
    if (job.team && job.criteriaType && (job.state === "SUCCEEDED" || job.state === "FAILED")) delivery?.wake();
  });

  const fanOut = new TeamFanOut({
    client,
    registry: deps.registry,
    outbox: store.outbox,
    envKeys: { repo: config.HUB_ENV_KEY_REPO, endpoint: config.HUB_ENV_KEY_ENDPOINT, money: config.HUB_ENV_KEY_MONEY, judge: config.HUB_ENV_KEY_JUDGE },
    settings: config.HUB_CRITERIA,
    clock: deps.clock,
    logger: log.child({ component: "team-rounds" }),
    metrics,
    delivery,
    egress: deps.egress,
  });

  return {
    fanOut,
    delivery,
    defaultSchedules: defaultTeamSchedules(config, deps.registry, log),
    readinessNote() {
      const blocked = delivery?.blocked();
      return blocked ? `hub reporting stopped: ${blocked}` : null;
    },
    start() {
      delivery?.start();
    },
    async stop() {
      await delivery?.stop();
    },
  };
}
