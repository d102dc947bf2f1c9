// Team rounds: one fire of a for_each_team schedule becomes one job per team of the hackathon,
// each with that team's inputs (repo URL, app URL, spend, jury mark), team binding and criteria
// type, and an idempotency key of schedule + fire time + team. A team that lacks the input (or
// whose input is unusable) gets a NO_DATA report straight into the outbox instead of a job.
// A team's own app URL (ENDPOINT_URL) is allowed by name for its job (an egress allowance), so
// TARGET_ALLOWLIST need not list the teams' hosts; the addresses they resolve to are judged as
// any target's are, and a team whose app is refused gets NO_DATA saying why.
//   planTeamRound  pure: template + teams -> submissions + no-data teams
//   TeamFanOut     the scheduler's FireTargets for for_each_team schedules
//   submitTeamRound submits a planned round directly (benchmarks, tools)
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { Clock } from "../dispatch/clock.js";
import type { Schedule } from "../dispatch/schedules/definition.js";
import type { FireSubmission, FireTargets } from "../dispatch/schedules/fire-targets.js";
import { admitEgress, type EgressAdmission } from "../jobs/egress/admission.js";
import { DomainError, PreconditionFailed, Unavailable } from "../jobs/errors.js";
import { parseGitHubRepo } from "../jobs/git-activity.js";
import type { JobRecord } from "../jobs/job.js";
import type { JobRegistry } from "../jobs/registry.js";
import { newJobRecord } from "../jobs/submission/record.js";
import type { JobRequest } from "../jobs/submission/request.js";
import { validateJobRequest, type Submission } from "../jobs/submission/submission.js";
import type { OutboxStore } from "../store/outbox-queries.js";
import type { JobStore } from "../store/store.js";
import { isCriteriaType, type CriteriaTypeName } from "./criteria.js";
import { noDataReport, type CriteriaSettings } from "./evaluator.js";
import { HubError, type HubClient } from "./hub-client.js";
import type { HubMetrics } from "./hub-metrics.js";
import { outboxInsert } from "./outbox.js";
import { allowanceFor, type EgressAllowance } from "../shared/egress/policy.js";
import { discoverTeams, type TeamEnvKeys, type TeamInputs } from "./teams.js";

/**
 * Why the round's teams could not be listed, as the caller's status: the Hub down or timing out is
 * UNAVAILABLE (try again later), a refused key FAILED_PRECONDITION (fix the configuration).
 */
function teamListingError(error: unknown): unknown {
  if (!(error instanceof HubError)) return error;
  const message = `the Hub did not list the round's teams (${error.message})`;
  return error.kind === "auth" ? new PreconditionFailed(message, "HUB_AUTH") : new Unavailable(message, "HUB_UNAVAILABLE");
}

/** The criterion each job type reports when the template names none (k6 templates must name theirs). */
const DEFAULT_CRITERIA: Record<string, CriteriaTypeName> = {
  http_check: "DEPLOYED_SOLUTION",
  git_activity: "CODE_REPO",
  budget: "BUDGET_TRACKING",
  judge_score: "JUDGE_SCORE",
};

export interface PlannedSubmission {
  team: TeamInputs;
  /** Stable, printable ASCII without spaces: the fire's idempotency key suffix. */
  key: string;
  request: JobRequest;
  /** The team's own app, allowed by name for this job (the egress policy). */
  allowance?: EgressAllowance;
}

export interface NoDataTeam {
  team: TeamInputs;
  key: string;
  criteriaType: CriteriaTypeName;
  reason: string;
}

export interface TeamRoundPlan {
  criteriaType: CriteriaTypeName;
  submissions: PlannedSubmission[];
  noData: NoDataTeam[];
}

/** The team's slug when it can be part of an idempotency key, else a stable digest of it. */
export function teamKey(slug: string): string {
  return /^[\x21-\x7e]{1,100}$/.test(slug) ? slug : `team-${createHash("sha256").update(slug).digest("hex").slice(0, 16)}`;
}

export function criteriaOf(template: JobRequest): CriteriaTypeName | null {
  const named = template.criteriaType;
  if (named !== null) return typeof named === "string" && isCriteriaType(named) ? named : null;
  return template.spec ? (DEFAULT_CRITERIA[template.spec.type] ?? null) : null;
}

/** An app URL as teams type it: a missing scheme means https. */
export function normaliseAppUrl(text: string): string | null {
  const candidate = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  try {
    const url = new URL(candidate);
    if ((url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname) return null;
    return url.toString();
  } catch {
    return null;
  }
}

type Spec = NonNullable<JobRequest["spec"]>;

/** The spec with these parameters set (named as the type's schema reads them: proto3 JSON). */
function withParams(spec: Spec, params: Record<string, unknown>): { spec: Spec } {
  return { spec: { type: spec.type, params: { ...(spec.params as Record<string, unknown>), ...params } } };
}

/** The template's spec with the team's input (and the team's app URL when the spec targets it), or why the team has no data. */
function withTeamInput(spec: Spec, team: TeamInputs): { spec: Spec; appUrl?: string } | { reason: string } {
  switch (spec.type) {
    case "http_check": {
      if (!team.endpointUrl) return { reason: "the team has no ENDPOINT_URL" };
      const baseUrl = normaliseAppUrl(team.endpointUrl);
      if (!baseUrl) return { reason: `ENDPOINT_URL "${team.endpointUrl.slice(0, 100)}" is not an http(s) URL` };
      return { ...withParams(spec, { baseUrl }), appUrl: baseUrl };
    }
    case "git_activity": {
      if (!team.repoUrl) return { reason: "the team has no repository URL (Repo)" };
      const repo = parseGitHubRepo(team.repoUrl);
      if (!repo) return { reason: `Repo "${team.repoUrl.slice(0, 100)}" is not a GitHub repository URL` };
      return withParams(spec, { repoUrl: `https://github.com/${repo.owner}/${repo.repo}` });
    }
    case "budget":
      if (!team.moneySpend) return { reason: "the team has no MONEY_SPEND value" };
      return withParams(spec, { moneySpend: team.moneySpend });
    case "judge_score":
      if (!team.judgeScore) return { reason: "the team has no JUDJE_SCORE value" };
      return withParams(spec, { judgeScore: team.judgeScore });
    case "k6": {
      // The Hub's client passes a k6 target in the request; a team round falls back to the team's app.
      const target = team.endpointUrl ? normaliseAppUrl(team.endpointUrl) : null;
      if (!target) return { reason: team.endpointUrl ? `ENDPOINT_URL "${team.endpointUrl.slice(0, 100)}" is not an http(s) URL` : "the team has no ENDPOINT_URL" };
      return { ...withParams(spec, { targetUrl: target }), appUrl: target };
    }
    default:
      // timer: nothing of the team's goes in.
      return { spec };
  }
}

/**
 * One job request per team that has the input, a NO_DATA entry per team that does not. Pure.
 * The requests carry the team binding and criteria type; the caller sets the idempotency key
 * (the scheduler: schedule + fire time + `key`).
 */
export function planTeamRound(template: JobRequest, teams: readonly TeamInputs[], _fireTime: number, roundName?: string): TeamRoundPlan {
  if (!template.spec) throw new Error("a team round needs a job template with a spec");
  const criteriaType = criteriaOf(template);
  if (!criteriaType) throw new Error(`the ${template.spec.type} template of a team round must set criteria_type`);
  const plan: TeamRoundPlan = { criteriaType, submissions: [], noData: [] };
  const seen = new Set<string>();
  for (const team of teams) {
    const key = teamKey(team.slug);
    if (seen.has(key)) continue;
    seen.add(key);
    const filled = withTeamInput(template.spec, team);
    if ("reason" in filled) {
      plan.noData.push({ team, key, criteriaType, reason: filled.reason });
      continue;
    }
    plan.submissions.push({
      team,
      key,
      request: {
        ...template,
        name: `${template.name || roundName || "team round"} ${team.slug}`.slice(0, 253),
        labels: { ...template.labels, "hackload.kz/criteria": criteriaType.toLowerCase().replace(/_/g, "-") },
        team: { slug: team.slug, hackathonId: team.hackathonId },
        criteriaType,
        spec: filled.spec,
      },
      ...(filled.appUrl ? { allowance: allowanceFor([filled.appUrl], `the Hub's ENDPOINT_URL of team ${team.slug}`) } : {}),
    });
  }
  return plan;
}

/**
 * A for_each_team template with placeholder inputs, for checking the rest of it the way
 * ScheduleJob would (a fan-out template has no inputs of its own; each fire fills them).
 */
export function exampleTeamRequest(template: JobRequest, hackathonId = "example-hackathon"): JobRequest {
  const example: TeamInputs = {
    slug: "example-team", hackathonId, name: "example",
    repoUrl: "https://github.com/example/example", endpointUrl: "https://example.invalid", moneySpend: "0", judgeScore: "0",
  };
  return planTeamRound(template, [example], 0).submissions[0]?.request ?? template;
}

/** The source key of a direct NO_DATA report: one per round, team and criterion. */
function noDataSourceKey(roundKey: string, fireTime: number, entry: NoDataTeam): string {
  return `nodata:${roundKey}:${new Date(fireTime).toISOString()}:${entry.key}:${entry.criteriaType}`;
}

export async function enqueueNoData(
  outbox: OutboxStore, plan: TeamRoundPlan, roundKey: string, fireTime: number, settings: CriteriaSettings, now: number,
): Promise<number> {
  if (plan.noData.length === 0) return 0;
  return outbox.enqueue(
    plan.noData.map((entry) =>
      outboxInsert(noDataSourceKey(roundKey, fireTime, entry), { slug: entry.team.slug, hackathonId: entry.team.hackathonId }, entry.criteriaType, noDataReport(entry.criteriaType, entry.reason, settings), now),
    ),
  );
}

/** The team's request as a Submission admitted by the egress policy (its app allowed by name), or the refusal. */
async function checkTeamRequest(planned: PlannedSubmission, request: JobRequest, registry: JobRegistry, egress: EgressAdmission | undefined): Promise<Submission | DomainError> {
  try {
    const submission = validateJobRequest(request, registry);
    if (egress) await admitEgress(egress, submission, { allowance: planned.allowance });
    return submission;
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return error;
  }
}

/** The submission, or null with the team NO_DATA with the reason (in the plan's order). */
function passed(planned: PlannedSubmission, checked: Submission | DomainError, plan: TeamRoundPlan): Submission | null {
  if (!(checked instanceof DomainError)) return checked;
  plan.noData.push({ team: planned.team, key: planned.key, criteriaType: plan.criteriaType, reason: `the team's input was refused: ${checked.message}` });
  return null;
}

export interface TeamFanOutDeps {
  client: HubClient | null;
  registry: JobRegistry;
  outbox: OutboxStore;
  envKeys: TeamEnvKeys;
  settings: CriteriaSettings;
  clock: Clock;
  logger: Logger;
  metrics?: HubMetrics;
  /** Told when NO_DATA reports were queued. */
  delivery?: { wake(): void } | null;
  /** Each team's job is admitted here (with its app allowed by name) before the fire creates it. */
  egress: EgressAdmission;
}

const HUB_NOT_CONFIGURED = "for_each_team schedules need the Hub to list teams: HUB_API_URL and HUB_API_KEY are not both set on this server";

/** The scheduler's fan-out: lists the teams at each fire and returns one target per team. */
export class TeamFanOut implements FireTargets {
  constructor(private readonly deps: TeamFanOutDeps) {}

  unavailableReason(): string | null {
    return this.deps.client ? null : HUB_NOT_CONFIGURED;
  }

  async targets(schedule: Schedule, fireTime: number): Promise<FireSubmission[]> {
    const { spec } = schedule;
    const template = spec.jobTemplate;
    const fanout = spec.forEachTeam;
    if (!template || !fanout) throw new Error(`schedule ${schedule.id} is not a team round`);
    const criteria = criteriaOf(template) ?? "UNKNOWN";
    if (!this.deps.client) {
      this.deps.metrics?.rounds.inc({ criteria_type: criteria, outcome: "failed" });
      throw new PreconditionFailed(HUB_NOT_CONFIGURED, "HUB_NOT_CONFIGURED");
    }
    let teams: TeamInputs[];
    try {
      teams = await discoverTeams(this.deps.client, fanout.hackathonId, fanout.teamStatus || "APPROVED", this.deps.envKeys);
    } catch (error) {
      this.deps.metrics?.rounds.inc({ criteria_type: criteria, outcome: "failed" });
      throw teamListingError(error);
    }
    const plan = planTeamRound(template, teams, fireTime, schedule.name);
    // Each team's request is checked here, once; the scheduler submits what passed. A request the
    // job type refuses (an unusable input) is that team's NO_DATA, not the round's failure.
    const checked = await Promise.all(plan.submissions.map((planned) => checkTeamRequest(planned, planned.request, this.deps.registry, this.deps.egress)));
    const targets: FireSubmission[] = [];
    plan.submissions.forEach((planned, i) => {
      const submission = passed(planned, checked[i], plan);
      if (submission) targets.push({ key: planned.key, submission });
    });
    const queued = await enqueueNoData(this.deps.outbox, plan, `schedule:${schedule.id}`, fireTime, this.deps.settings, this.deps.clock.now());
    if (queued) this.deps.delivery?.wake();
    this.deps.metrics?.rounds.inc({ criteria_type: plan.criteriaType, outcome: "ok" });
    this.deps.metrics?.teamsProcessed.inc({ criteria_type: plan.criteriaType, outcome: "job" }, targets.length);
    this.deps.metrics?.teamsProcessed.inc({ criteria_type: plan.criteriaType, outcome: "no_data" }, plan.noData.length);
    this.deps.logger.info(
      { scheduleId: schedule.id, fireTime: new Date(fireTime).toISOString(), criteriaType: plan.criteriaType, teams: teams.length, jobs: targets.length, noData: plan.noData.length },
      "team round planned",
    );
    return targets;
  }
}

export interface RoundDeps {
  store: JobStore;
  registry: JobRegistry;
  dispatcher: { wake(): void };
  clock: Clock;
  settings: CriteriaSettings;
  defaultQueueTimeoutMs?: number;
  delivery?: { wake(): void } | null;
  /** When given, each team's job is admitted as a fire's is (its app allowed by name). */
  egress?: EgressAdmission;
}

/** Submits a planned round directly (outside a schedule): jobs keyed round + fire time + team, NO_DATA to the outbox. */
export async function submitTeamRound(deps: RoundDeps, plan: TeamRoundPlan, roundKey: string, fireTime: number): Promise<{ jobs: JobRecord[]; noData: number }> {
  const jobs: JobRecord[] = [];
  for (const planned of plan.submissions) {
    const request = { ...planned.request, idempotencyKey: `round:${roundKey}:${new Date(fireTime).toISOString()}:${planned.key}`.slice(0, 255) };
    const submission = passed(planned, await checkTeamRequest(planned, request, deps.registry, deps.egress), plan);
    if (!submission) continue;
    const { job } = await deps.store.createJob(newJobRecord(submission, deps.clock.now(), { defaultQueueTimeoutMs: deps.defaultQueueTimeoutMs }));
    jobs.push(job);
  }
  const noData = await enqueueNoData(deps.store.outbox, plan, `round:${roundKey}`, fireTime, deps.settings, deps.clock.now());
  deps.dispatcher.wake();
  if (noData) deps.delivery?.wake();
  return { jobs, noData };
}
