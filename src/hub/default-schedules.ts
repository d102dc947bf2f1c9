// The default team rounds of seed 001, declared at start-up when HUB_HACKATHON_ID is set:
//   CODE_REPO          git_activity  GIT_MONITOR_INTERVAL        (*/30 * * * *)  3 attempts
//   DEPLOYED_SOLUTION  http_check    DEPLOYMENT_MONITOR_INTERVAL (*/15 * * * *)  2 attempts
//   BUDGET_TRACKING    budget        COST_TRACKING_INTERVAL      (0 */6 * * *)   2 attempts
//   JUDGE_SCORE        judge_score   JUDGE_SCORE_INTERVAL        (0 */6 * * *)   2 attempts
//   load tests         k6 scenarios  K6_SERVICES_INTERVAL        (0 */6 * * *)   1 attempt (when the k6 type exists)
// each switched off by its *_ENABLED setting. They are ordinary schedules (source "config"):
// listed, paused, triggered and updated through the schedule RPCs.
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { ScheduleDefinition } from "../dispatch/schedules/definition.js";
import { validateScheduleSpec } from "../dispatch/schedules/spec.js";
import { DomainError } from "../jobs/errors.js";
import type { JobRegistry } from "../jobs/registry.js";
import type { JobRequest } from "../jobs/submission/request.js";
import type { CriteriaTypeName } from "./criteria.js";

const duration = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

/**
 * Stand-ins for the per-team inputs, so the template passes ScheduleJob's checks; every fire
 * replaces them with each team's own values (src/hub/fanout.ts).
 */
export const PLACEHOLDER = {
  appUrl: "https://team-app.invalid",
  repoUrl: "https://github.com/each-team/repository",
  team: { slug: "each-team", hackathonId: "each-hackathon" },
};

const LOAD_TESTS: { name: string; scenario: string; criteria: CriteriaTypeName }[] = [
  { name: "hub-event-search", scenario: "event-search", criteria: "EVENT_SEARCH" },
  { name: "hub-archive-search", scenario: "archive-search", criteria: "ARCHIVE_SEARCH" },
  { name: "hub-auth-performance", scenario: "auth-login", criteria: "AUTH_PERFORMANCE" },
  { name: "hub-ticket-booking", scenario: "ticket-booking", criteria: "TICKET_BOOKING" },
];

const retries = (maxAttempts: number) => ({ maxAttempts, backoffMultiplier: 0, retryOnTimeout: false });

/** The default schedules this configuration asks for; any the registry cannot run is left out with a warning. */
export function defaultTeamSchedules(config: Config, registry: JobRegistry, logger: Logger): ScheduleDefinition[] {
  const hackathonId = config.HUB_HACKATHON_ID;
  if (!hackathonId) return [];
  const forEachTeam = { hackathonId, teamStatus: config.HUB_TEAM_STATUS };
  // Job parameters are written as each type's schema reads them (proto3 JSON: camelCase, durations as {seconds, nanos}).
  const spec = (name: string, cron: string, template: Partial<JobRequest> & Pick<JobRequest, "spec">): ScheduleDefinition => ({
    name,
    cron,
    timeZone: "UTC",
    overlapPolicy: "SKIP",
    catchupPolicy: null,
    forEachTeam,
    jobTemplate: {
      name, idempotencyKey: "", labels: { "hackload.kz/round": name }, priority: 0, concurrencyKey: "", criteriaType: null, ...template,
    },
  });
  const specs: ScheduleDefinition[] = [];
  if (config.GIT_MONITOR_ENABLED) {
    specs.push(spec("hub-code-repo", config.GIT_MONITOR_INTERVAL, {
      timeout: duration(config.GIT_MONITOR_TIMEOUT),
      retryPolicy: retries(3),
      spec: {
        type: "git_activity",
        params: {
          repoUrl: PLACEHOLDER.repoUrl,
          ...(config.GIT_ACTIVITY_SINCE ? { since: new Date(config.GIT_ACTIVITY_SINCE).toISOString() } : {}),
          activityWindow: duration(config.GIT_ACTIVITY_WINDOW),
        },
      },
    }));
  }
  if (config.DEPLOYMENT_MONITOR_ENABLED) {
    specs.push(spec("hub-deployed-solution", config.DEPLOYMENT_MONITOR_INTERVAL, {
      timeout: duration(config.DEPLOYMENT_MONITOR_TIMEOUT),
      retryPolicy: retries(2),
      spec: { type: "http_check", params: { baseUrl: PLACEHOLDER.appUrl, requestTimeout: duration(config.HTTP_TIMEOUT) } },
    }));
  }
  if (config.COST_TRACKING_ENABLED) {
    specs.push(spec("hub-budget-tracking", config.COST_TRACKING_INTERVAL, {
      timeout: duration(config.COST_TRACKING_TIMEOUT),
      retryPolicy: retries(2),
      spec: { type: "budget", params: {} },
    }));
  }
  if (config.JUDGE_SCORE_ENABLED) {
    specs.push(spec("hub-judge-score", config.JUDGE_SCORE_INTERVAL, {
      retryPolicy: retries(2),
      spec: { type: "judge_score", params: {} },
    }));
  }
  if (config.K6_SERVICES_ENABLED && registry.get("k6")) {
    for (const test of LOAD_TESTS) {
      specs.push(spec(test.name, config.K6_SERVICES_INTERVAL, {
        timeout: duration(config.K6_SERVICES_TIMEOUT),
        retryPolicy: retries(1),
        // A template with a criteria type must name a team; every fire replaces it.
        team: PLACEHOLDER.team,
        criteriaType: test.criteria,
        spec: { type: "k6", params: { scenario: test.scenario, targetUrl: PLACEHOLDER.appUrl, preflight: true } },
      }));
    }
  }
  return specs.filter((s) => {
    try {
      validateScheduleSpec(s, registry);
      return true;
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      logger.warn({ schedule: s.name, err: error.message }, "default team schedule left out: its template is not valid here");
      return false;
    }
  });
}
