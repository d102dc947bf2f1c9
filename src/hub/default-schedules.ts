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
import { validateScheduleSpec } from "../dispatch/schedules/spec.js";
import { CriteriaType, OverlapPolicy, ScheduleJobRequest, ScheduleSpec } from "../gen/jobscheduler/v1/jobscheduler.js";
import { DomainError } from "../jobs/errors.js";
import type { JobRegistry } from "../jobs/registry.js";

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

const LOAD_TESTS: { name: string; scenario: string; criteria: CriteriaType }[] = [
  { name: "hub-event-search", scenario: "event-search", criteria: CriteriaType.CRITERIA_TYPE_EVENT_SEARCH },
  { name: "hub-archive-search", scenario: "archive-search", criteria: CriteriaType.CRITERIA_TYPE_ARCHIVE_SEARCH },
  { name: "hub-auth-performance", scenario: "auth-login", criteria: CriteriaType.CRITERIA_TYPE_AUTH_PERFORMANCE },
  { name: "hub-ticket-booking", scenario: "ticket-booking", criteria: CriteriaType.CRITERIA_TYPE_TICKET_BOOKING },
];

/** The default schedules this configuration asks for; any the registry cannot run is left out with a warning. */
export function defaultTeamSchedules(config: Config, registry: JobRegistry, logger: Logger): ScheduleSpec[] {
  const hackathonId = config.HUB_HACKATHON_ID;
  if (!hackathonId) return [];
  const forEachTeam = { hackathonId, teamStatus: config.HUB_TEAM_STATUS };
  const spec = (name: string, cron: string, template: Partial<ScheduleJobRequest>): ScheduleSpec =>
    ScheduleSpec.fromPartial({
      name,
      cron,
      timeZone: "UTC",
      overlapPolicy: OverlapPolicy.OVERLAP_POLICY_SKIP,
      forEachTeam,
      jobTemplate: ScheduleJobRequest.fromPartial({ name, labels: { "hackload.kz/round": name }, ...template }),
    });
  const specs: ScheduleSpec[] = [];
  if (config.GIT_MONITOR_ENABLED) {
    specs.push(spec("hub-code-repo", config.GIT_MONITOR_INTERVAL, {
      timeout: duration(config.GIT_MONITOR_TIMEOUT),
      retryPolicy: { maxAttempts: 3, backoffMultiplier: 0, retryOnTimeout: false },
      spec: {
        $case: "gitActivity",
        value: {
          repoUrl: PLACEHOLDER.repoUrl,
          since: config.GIT_ACTIVITY_SINCE ? new Date(config.GIT_ACTIVITY_SINCE) : undefined,
          activityWindow: duration(config.GIT_ACTIVITY_WINDOW),
        },
      },
    }));
  }
  if (config.DEPLOYMENT_MONITOR_ENABLED) {
    specs.push(spec("hub-deployed-solution", config.DEPLOYMENT_MONITOR_INTERVAL, {
      timeout: duration(config.DEPLOYMENT_MONITOR_TIMEOUT),
      retryPolicy: { maxAttempts: 2, backoffMultiplier: 0, retryOnTimeout: false },
      spec: { $case: "httpCheck", value: { baseUrl: PLACEHOLDER.appUrl, endpoints: [], requestTimeout: duration(config.HTTP_TIMEOUT) } },
    }));
  }
  if (config.COST_TRACKING_ENABLED) {
    specs.push(spec("hub-budget-tracking", config.COST_TRACKING_INTERVAL, {
      timeout: duration(config.COST_TRACKING_TIMEOUT),
      retryPolicy: { maxAttempts: 2, backoffMultiplier: 0, retryOnTimeout: false },
      spec: { $case: "budget", value: { moneySpend: "" } },
    }));
  }
  if (config.JUDGE_SCORE_ENABLED) {
    specs.push(spec("hub-judge-score", config.JUDGE_SCORE_INTERVAL, {
      retryPolicy: { maxAttempts: 2, backoffMultiplier: 0, retryOnTimeout: false },
      spec: { $case: "judgeScore", value: { judgeScore: "" } },
    }));
  }
  if (config.K6_SERVICES_ENABLED && registry.get("k6")) {
    for (const test of LOAD_TESTS) {
      specs.push(spec(test.name, config.K6_SERVICES_INTERVAL, {
        timeout: duration(config.K6_SERVICES_TIMEOUT),
        retryPolicy: { maxAttempts: 1, backoffMultiplier: 0, retryOnTimeout: false },
        // A template with a criteria type must name a team; every fire replaces it.
        team: PLACEHOLDER.team,
        criteriaType: test.criteria,
        spec: {
          $case: "k6",
          value: {
            scriptSource: { $case: "scenario", value: test.scenario }, targetUrl: PLACEHOLDER.appUrl, env: {}, vus: 0, stages: [],
            thresholds: {}, parallelism: 0, image: "", extraArgs: [], preflight: true,
          },
        },
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
