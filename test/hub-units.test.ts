// The pure parts of Hub reporting (evaluator, batch planning and settling, team-round
// planning, default schedules, settings) and the Hub client against the Hub stand-in.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobRequestFromWire, jobRequestToWire } from "../src/api/job-request-wire.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { validateScheduleSpec } from "../src/dispatch/schedules/spec.js";
import { CriteriaType, ScheduleJobRequest } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { builtinRegistry } from "../src/jobs/builtin.js";
import { defaultTeamSchedules } from "../src/hub/default-schedules.js";
import { criteriaSettingsSchema, DEFAULT_CRITERIA_SETTINGS, evaluate, noDataReport, type EvaluationInput } from "../src/hub/evaluator.js";
import { exampleTeamRequest, normaliseAppUrl, planTeamRound, teamKey } from "../src/hub/fanout.js";
import { HubClient, HubError } from "../src/hub/hub-client.js";
import { exponentialBackoffMs } from "../src/dispatch/retry.js";
import { batchSizeAfter, criteriaReporter, planBatch, settleBatch } from "../src/hub/outbox.js";
import { discoverTeams, DEFAULT_ENV_KEYS, type TeamInputs } from "../src/hub/teams.js";
import type { OutboxItemRecord } from "../src/store/outbox-queries.js";
import { FakeHub, newApiKey } from "./support/fake-hub.js";
import { makeJob } from "./support/job-fixtures.js";

const input = (overrides: Partial<EvaluationInput>): EvaluationInput => ({
  criteriaType: "CODE_REPO", jobType: "git_activity", state: "SUCCEEDED", reason: "", result: {}, params: {}, ...overrides,
});

describe("evaluator", () => {
  it("CODE_REPO: passes at >= 2 commits with recent activity (live defaults), partial credit below, NO_DATA without a repo", () => {
    const result = { outcome: "OK", repoUrl: "https://github.com/o/r", commitsCount: 2, hasRecentActivity: true, lastCommitTime: "x", since: "y", activityWindowHours: 24 };
    expect(evaluate(input({ result }))).toMatchObject({ status: "PASSED", score: 100 });
    expect(evaluate(input({ result: { ...result, commitsCount: 1 } }))).toMatchObject({ status: "FAILED", score: 50 });
    expect(evaluate(input({ result: { ...result, hasRecentActivity: false } }))).toMatchObject({ status: "FAILED", score: 60 });
    expect(evaluate(input({ result: { outcome: "NO_DATA", reason: "repository not found or private", repoUrl: "u" } }))).toMatchObject({ status: "NO_DATA", score: 0 });
    const strict = criteriaSettingsSchema.parse({ CODE_REPO: { minCommits: 10, scale: 15 } });
    expect(evaluate(input({ result }), strict)).toMatchObject({ status: "FAILED", score: 5 });
    expect(evaluate(input({ result: { ...result, commitsCount: 10 } }), strict)).toMatchObject({ status: "PASSED", score: 15 });
  });

  it("a job that failed for infrastructure reasons, or of another type, reports nothing", () => {
    expect(evaluate(input({ state: "FAILED", reason: "TIMED_OUT", result: null }))).toBeNull();
    expect(evaluate(input({ state: "FAILED", reason: "EXIT_CODE", result: { outcome: "OK", commitsCount: 5 } }))).toBeNull();
    expect(evaluate(input({ jobType: "timer", result: { completed: true } }))).toBeNull();
  });

  it("DEPLOYED_SOLUTION: the latency share of the score, and critical endpoints deciding the status", () => {
    const endpoint = (ok: boolean, critical: boolean, latencyMs = 100) => ({ method: "GET", path: "/p", critical, status: ok ? 200 : 500, ok, latencyMs, error: ok ? null : "STATUS" });
    const result = (endpoints: unknown[]) => ({ baseUrl: "https://a.kz/", dns: { ok: true }, tls: null, endpoints });
    const deployed = (endpoints: unknown[]) => evaluate(input({ criteriaType: "DEPLOYED_SOLUTION", jobType: "http_check", result: result(endpoints) }))!;
    expect(deployed([endpoint(true, true), endpoint(true, false)])).toMatchObject({ status: "PASSED", score: 100 });
    expect(deployed([endpoint(true, true, 5500), endpoint(true, false, 5500)])).toMatchObject({ status: "PASSED", score: 90 });
    expect(deployed([endpoint(true, true, 20_000)]).score).toBe(80);
    // 3 of 4 critical (75 %) pass; 2 of 4 do not.
    expect(deployed([endpoint(true, true), endpoint(true, true), endpoint(true, true), endpoint(false, true)]).status).toBe("PASSED");
    expect(deployed([endpoint(true, true), endpoint(true, true), endpoint(false, true), endpoint(false, true)])).toMatchObject({ status: "FAILED", score: 50 });
  });

  it("BUDGET_TRACKING and JUDGE_SCORE are never FAILED; scores are whole numbers", () => {
    const budget = (result: Record<string, unknown>) => evaluate(input({ criteriaType: "BUDGET_TRACKING", jobType: "budget", result }));
    expect(budget({ hasSpendingData: true, totalSpent: 150000.5 })).toMatchObject({ status: "PASSED", score: 0, metrics: { totalSpent: 150000.5, hasSpendingData: true } });
    expect(budget({ hasSpendingData: false, totalSpent: null, reason: "no MONEY_SPEND value" })).toMatchObject({ status: "NO_DATA" });
    const judge = (judgeScore: number | null, settings = DEFAULT_CRITERIA_SETTINGS) =>
      evaluate(input({ criteriaType: "JUDGE_SCORE", jobType: "judge_score", result: { hasJudgeScore: judgeScore !== null, judgeScore } }), settings)!;
    expect(judge(7.4)).toMatchObject({ status: "PASSED", score: 7, metrics: { judgeScore: 7.4, hasJudgeScore: true } });
    expect(judge(0).status).toBe("NO_DATA");
    expect(judge(null).status).toBe("NO_DATA");
    expect(judge(7.5, criteriaSettingsSchema.parse({ JUDGE_SCORE: { scale: 30 } })).score).toBe(23);
  });

  it("load tests: success rate per level, p95 < 2 s (the design's rule), score by the level passed; a k6 failure other than thresholds reports nothing", () => {
    const summary = (rate: number, p95: number, vus: number, thresholdsFailed = false) => ({
      version: 1, segment: null, testRunDurationMs: 60_000, vusMax: vus, checks: { passes: 990, fails: 10 }, thresholdsFailed,
      metrics: {
        http_reqs: { type: "counter", contains: "default", values: { count: 10_000, rate: 166.7 } },
        http_req_failed: { type: "rate", contains: "default", values: { rate, passes: 10_000 * rate, fails: 10_000 * (1 - rate) } },
        http_req_duration: { type: "trend", contains: "time", values: { avg: 100, min: 1, med: 90, max: 3000, "p(95)": p95 } },
      },
    });
    const k6 = (result: Record<string, unknown>, criteriaType: EvaluationInput["criteriaType"] = "EVENT_SEARCH", state: "SUCCEEDED" | "FAILED" = "SUCCEEDED") =>
      evaluate(input({ criteriaType, jobType: "k6", state, result }));
    expect(k6(summary(0.01, 800, 5000))).toMatchObject({ status: "PASSED", score: 20 });
    const slow = k6(summary(0.01, 2500, 5000))!;
    expect(slow).toMatchObject({ status: "FAILED", score: 0 });
    expect((slow.metrics.testResults as Record<string, unknown>[])[0]).toMatchObject({ userSize: 5000, testPassed: false, p95Latency: 2500, successRate: 99, totalRequests: 10_000, errorCount: 100 });
    expect(k6(summary(0.1, 800, 100_000))!.status).toBe("FAILED");
    expect(k6(summary(0.01, 800, 100_000))!.score).toBe(50);
    expect(k6(summary(0.01, 800, 50), "TICKET_BOOKING")).toMatchObject({ status: "PASSED", score: 30, metrics: { successRate: 99, p95: 800 } });
    expect(k6(summary(0.2, 800, 50, true), "EVENT_SEARCH", "FAILED")!.status).toBe("FAILED");
    expect(k6(summary(0.01, 800, 50, false), "EVENT_SEARCH", "FAILED")).toBeNull();
    expect(k6({ raw: "oops" })).toBeNull();
  });

  it("NO_DATA reports carry the UI keys and the reason", () => {
    expect(noDataReport("CODE_REPO", "the team has no repository URL (Repo)")).toMatchObject({
      status: "NO_DATA", score: 0, metrics: { hasRepository: false, commitsCount: 0, reason: "the team has no repository URL (Repo)", confirmationTitle: "Репозиторий" },
    });
  });

  it("the reporter writes a report only for team-bound jobs whose criterion the job measures", () => {
    const report = criteriaReporter(DEFAULT_CRITERIA_SETTINGS);
    const job = makeJob({ type: "judge_score", team: { slug: "t", hackathonId: "h" }, criteriaType: "JUDGE_SCORE" });
    const item = report(job, { state: "SUCCEEDED", reason: "", result: { hasJudgeScore: true, judgeScore: 8 }, at: 1_700_000_000_000 });
    expect(item).toMatchObject({ sourceKey: `job:${job.id}`, teamSlug: "t", hackathonId: "h", criteriaType: "JUDGE_SCORE", status: "PASSED", score: 8, jobId: job.id });
    expect(item!.metrics.lastChecked).toBe(new Date(1_700_000_000_000).toISOString());
    expect(report({ ...job, team: null }, { state: "SUCCEEDED", reason: "", result: {}, at: 0 })).toBeNull();
    expect(report({ ...job, criteriaType: "CODE_REPO" }, { state: "SUCCEEDED", reason: "", result: {}, at: 0 })).toBeNull();
  });
});

function item(overrides: Partial<OutboxItemRecord>): OutboxItemRecord {
  return {
    seq: 1, id: "id", sourceKey: "k", teamSlug: "t", hackathonId: "h", criteriaType: "CODE_REPO", status: "PASSED", score: 1,
    metrics: {}, jobId: null, createdAt: 0, state: "PENDING", attempts: 0, rejections: 0, lastError: "", nextAttemptAt: 0, deliveredAt: null, updatedAt: 0, kind: "criteria", targetUrl: null, ...overrides,
  };
}

describe("outbox batches", () => {
  it("shrinks batches with rejections so a poison item ends up alone before it is parked", () => {
    const policy = { batchSize: 100, maxRejections: 5 };
    expect([0, 1, 2, 3, 4, 5].map((r) => batchSizeAfter(r, policy))).toEqual([100, 31, 10, 3, 1, 1]);
    const claimed = [
      item({ id: "a", teamSlug: "x", rejections: 2 }), item({ id: "b", teamSlug: "x", hackathonId: "h2", rejections: 2 }),
      item({ id: "c", teamSlug: "y", rejections: 2 }), item({ id: "d", teamSlug: "z", rejections: 3 }),
    ];
    const { send, release } = planBatch(claimed, { batchSize: 4, maxRejections: 5 });
    // One item per (team, criteria) per POST, only items with the same rejections, at most 4^(1-2/4) = 2.
    expect(send.map((i) => i.id)).toEqual(["a", "c"]);
    expect(release.map((i) => i.id)).toEqual(["b", "d"]);
  });

  it("settles a 200 with per-item errors, a rejection, an outage and an auth error", () => {
    const items = [item({ id: "a", teamSlug: "ghost" }), item({ id: "b", teamSlug: "ok", rejections: 2, attempts: 4 })];
    const policy = { maxRejections: 3, rejectionDelayMs: (n: number) => n * 1000 };
    const ok = settleBatch(items, { kind: "ok", response: { updatedEntries: 1, createdEntries: 0, errors: [{ teamSlug: "ghost", criteriaType: "CODE_REPO", error: "Team not found" }] } }, 50, policy);
    expect(ok.map((u) => [u.state, u.lastError, u.deliveredAt])).toEqual([["PARKED", "the Hub refused this item: Team not found", null], ["DELIVERED", "", 50]]);
    const rejected = settleBatch(items, { kind: "rejected", message: "HTTP 500" }, 50, policy);
    expect(rejected.map((u) => [u.state, u.rejections, u.nextAttemptAt])).toEqual([["PENDING", 1, 1050], ["PARKED", 3, 50]]);
    expect(rejected[1].lastError).toBe("the Hub rejected this item 3 times; last: HTTP 500");
    const down = settleBatch(items, { kind: "unavailable", message: "ECONNREFUSED" }, 50, policy);
    expect(down.map((u) => [u.state, u.attempts, u.rejections, u.nextAttemptAt])).toEqual([["PENDING", 1, 0, 50], ["PENDING", 5, 2, 50]]);
    const auth = settleBatch(items, { kind: "auth", message: "401" }, 50, policy);
    expect(auth.map((u) => [u.state, u.attempts])).toEqual([["PENDING", 0], ["PENDING", 4]]);
  });

  it("backs off exponentially with jitter, capped", () => {
    expect([1, 2, 3, 10].map((n) => exponentialBackoffMs(n, 1000, 30_000, 0))).toEqual([1000, 2000, 4000, 30_000]);
    const spread = Array.from({ length: 50 }, () => exponentialBackoffMs(3, 1000, 30_000, 0.2));
    expect(Math.min(...spread)).toBeGreaterThanOrEqual(3200);
    expect(Math.max(...spread)).toBeLessThanOrEqual(4800);
  });
});

const teams: TeamInputs[] = [
  { slug: "alpha", hackathonId: "h", name: "A", repoUrl: "github.com/alpha/app.git", endpointUrl: "alpha.kz", moneySpend: "1 000", judgeScore: "8" },
  { slug: "Beta_Team", hackathonId: "h", name: "B", repoUrl: "https://gitlab.com/b/app", endpointUrl: null, moneySpend: null, judgeScore: null },
  { slug: "Гамма", hackathonId: "h", name: "C", repoUrl: null, endpointUrl: "ftp://gamma", moneySpend: null, judgeScore: null },
];

describe("team rounds", () => {
  // Templates are written as the wire messages they come from, and read back the same way.
  const template = (spec: ScheduleJobRequest["spec"], extra: Partial<ScheduleJobRequest> = {}) =>
    jobRequestFromWire(ScheduleJobRequest.fromPartial({ name: "round", spec, labels: { a: "b" }, ...extra }));
  const wire = jobRequestToWire;

  it("fills each team's input, binding and criteria; teams without a usable input are NO_DATA with the reason", () => {
    const deploy = planTeamRound(template({ $case: "httpCheck", value: { baseUrl: "", endpoints: [] } }), teams, 0);
    expect(deploy.criteriaType).toBe("DEPLOYED_SOLUTION");
    expect(deploy.submissions).toHaveLength(1);
    const [alpha] = deploy.submissions;
    expect(wire(alpha.request)).toMatchObject({
      name: "round alpha", team: { slug: "alpha", hackathonId: "h" }, criteriaType: CriteriaType.CRITERIA_TYPE_DEPLOYED_SOLUTION,
      labels: { a: "b", "hackload.kz/criteria": "deployed-solution" }, spec: { $case: "httpCheck", value: { baseUrl: "https://alpha.kz/" } },
    });
    // The team's own app is allowed by name for its job (the egress policy still judges its addresses).
    expect(alpha.allowance?.targets).toEqual(["alpha.kz:443"]);
    expect(deploy.noData.map((n) => [n.team.slug, n.reason])).toEqual([
      ["Beta_Team", "the team has no ENDPOINT_URL"],
      ["Гамма", 'ENDPOINT_URL "ftp://gamma" is not an http(s) URL'],
    ]);
    const code = planTeamRound(template({ $case: "gitActivity", value: { repoUrl: "" } }), teams, 0);
    expect(wire(code.submissions[0].request).spec).toMatchObject({ value: { repoUrl: "https://github.com/alpha/app" } });
    expect(code.noData.map((n) => n.reason)).toEqual(['Repo "https://gitlab.com/b/app" is not a GitHub repository URL', "the team has no repository URL (Repo)"]);
    const budget = planTeamRound(template({ $case: "budget", value: { moneySpend: "" } }), teams, 0);
    expect(wire(budget.submissions[0].request).spec).toMatchObject({ value: { moneySpend: "1 000" } });
    expect(() => planTeamRound(template({ $case: "k6", value: {} as never }), teams, 0)).toThrow(/must set criteria_type/);
  });

  it("keys jobs by team: the slug when it fits an idempotency key, else a stable digest", () => {
    expect(teamKey("Beta_Team")).toBe("Beta_Team");
    expect(teamKey("Гамма")).toMatch(/^team-[0-9a-f]{16}$/);
    expect(teamKey("Гамма")).toBe(teamKey("Гамма"));
    expect(normaliseAppUrl("http://a.kz:8080/api")).toBe("http://a.kz:8080/api");
    expect(normaliseAppUrl("not a host")).toBeNull();
  });

  it("an example request passes ScheduleJob's checks, so a fan-out template can be validated", async () => {
    const registry = builtinRegistry();
    const example = exampleTeamRequest(template({ $case: "gitActivity", value: { repoUrl: "" } }));
    const { validateScheduleJob } = await import("../src/api/validation.js");
    expect(validateScheduleJob(wire(example), registry).params).toMatchObject({ owner: "example", repo: "example" });
  });
});

describe("default team schedules (seed 001)", () => {
  const registry = builtinRegistry();
  const logger = pino({ level: "silent" });

  it("none without HUB_HACKATHON_ID; with it, one per criterion at the seed's intervals, each valid and switchable", () => {
    expect(defaultTeamSchedules(loadConfig({}), registry, logger)).toEqual([]);
    const specs = defaultTeamSchedules(loadConfig({ HUB_HACKATHON_ID: "hl-2025" }), registry, logger);
    expect(specs.map((s) => [s.name, s.cron])).toEqual([
      ["hub-code-repo", "*/30 * * * *"], ["hub-deployed-solution", "*/15 * * * *"], ["hub-budget-tracking", "0 */6 * * *"], ["hub-judge-score", "0 */6 * * *"],
    ]);
    for (const spec of specs) {
      expect(spec.forEachTeam).toEqual({ hackathonId: "hl-2025", teamStatus: "APPROVED" });
      expect(() => validateScheduleSpec(spec, registry)).not.toThrow();
    }
    expect(specs[0].jobTemplate!.retryPolicy!.maxAttempts).toBe(3);
    expect(specs[1].jobTemplate!.timeout).toEqual({ seconds: 30, nanos: 0 });
    const fewer = defaultTeamSchedules(loadConfig({ HUB_HACKATHON_ID: "h", GIT_MONITOR_ENABLED: "false", COST_TRACKING_ENABLED: "0", DEPLOYMENT_MONITOR_INTERVAL: "*/5 * * * *" }), registry, logger);
    expect(fewer.map((s) => [s.name, s.cron])).toEqual([["hub-deployed-solution", "*/5 * * * *"], ["hub-judge-score", "0 */6 * * *"]]);
  });

  it("settings are checked at start-up, and secrets are never echoed", () => {
    expect(() => loadConfig({ GIT_MONITOR_INTERVAL: "every minute" })).toThrow(/GIT_MONITOR_INTERVAL: must be a cron expression/);
    expect(() => loadConfig({ HUB_CRITERIA: '{"CODE_REPO":{"minCommits":-1}}' })).toThrow(/HUB_CRITERIA: CODE_REPO.minCommits/);
    try {
      loadConfig({ HUB_API_KEY: "", GITHUB_TOKEN: "x".repeat(0), HUB_API_URL: "not-a-url", HUB_TIMEOUT: "soon" });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
    }
    try {
      loadConfig({ HUB_API_KEY: "sk_secret_value", HUB_API_URL: "ftp://x", GITHUB_TOKEN: "ghp_secret_value" });
      throw new Error("expected a ConfigError");
    } catch (error) {
      expect((error as Error).message).toMatch(/HUB_API_URL/);
      expect((error as Error).message).not.toMatch(/secret_value/);
    }
    const config = loadConfig({ HUB_CRITERIA: '{"DEPLOYED_SOLUTION":{"scale":25}}' });
    expect(config.HUB_CRITERIA.DEPLOYED_SOLUTION).toMatchObject({ scale: 25, minCriticalSuccessRate: 0.75 });
    expect(config.HUB_CRITERIA.EVENT_SEARCH.levels).toMatchObject({ "1000": 10, "100000": 50 });
    expect(config).toMatchObject({ HUB_ENV_KEY_REPO: "Repo", HUB_ENV_KEY_ENDPOINT: "ENDPOINT_URL", HUB_ENV_KEY_MONEY: "MONEY_SPEND", HUB_ENV_KEY_JUDGE: "JUDJE_SCORE", GITHUB_API_URL: "https://api.github.com" });
  });
});

describe("the Hub client against the Hub stand-in", () => {
  const hub = new FakeHub();
  const key = newApiKey();
  const client = () => new HubClient({ baseUrl: hub.url, apiKey: key, timeoutMs: 2000, readAttempts: 2, readBackoffMs: 10 });

  beforeAll(async () => {
    hub.addKey(key, ["*"]);
    await hub.start();
    hub.addTeam({ nickname: "zeta", hackathonId: "h1", env: { Repo: "https://github.com/z/app", ENDPOINT_URL: "https://zeta.kz" } });
    hub.addTeam({ nickname: "alpha", hackathonId: "h1", env: { MONEY_SPEND: "100" }, secure: { ENDPOINT_URL: "https://secret.kz" } });
    hub.addTeam({ nickname: "other", hackathonId: "h2" });
    hub.addTeam({ nickname: "waiting", hackathonId: "h1", status: "PENDING" });
  });

  afterAll(() => hub.close());

  it("discovers a hackathon's approved teams with their inputs; masked (secure) values are no input", async () => {
    const found = await discoverTeams(client(), "h1", "APPROVED", DEFAULT_ENV_KEYS);
    expect(found).toEqual([
      { slug: "alpha", hackathonId: "h1", name: "alpha", repoUrl: null, endpointUrl: null, moneySpend: "100", judgeScore: null },
      { slug: "zeta", hackathonId: "h1", name: "zeta", repoUrl: "https://github.com/z/app", endpointUrl: "https://zeta.kz", moneySpend: null, judgeScore: null },
    ]);
    const environment = hub.requests.find((r) => r.path === "/api/service/teams/environment");
    expect(environment?.status).toBe(200);
  });

  it("maps errors: 401/403 are configuration errors, 500 a rejection, 503 and network errors an outage; reads retry", async () => {
    const kinds = async (c: HubClient) => c.postCriteria([]).then(() => "ok", (e: HubError) => e.kind);
    expect(await kinds(new HubClient({ baseUrl: hub.url, apiKey: "sk_nope", timeoutMs: 2000, readAttempts: 1 }))).toBe("auth");
    const readOnly = newApiKey();
    hub.addKey(readOnly, ["teams:read"]);
    await expect(new HubClient({ baseUrl: hub.url, apiKey: readOnly, timeoutMs: 2000, readAttempts: 1 }).postCriteria([])).rejects.toMatchObject({ kind: "auth", status: 403 });
    hub.down(1, "500");
    expect(await kinds(client())).toBe("rejected");
    hub.down(1, "503");
    expect(await kinds(client())).toBe("unavailable");
    expect(await kinds(new HubClient({ baseUrl: "http://127.0.0.1:1", apiKey: key, timeoutMs: 2000, readAttempts: 1 }))).toBe("unavailable");
    hub.down(1, "503", true);
    expect(await client().listTeams("h1")).toHaveLength(2);
    // An invalid body is the Hub's 500; a fractional score fails only that item.
    const response = await client().postCriteria([
      { teamSlug: "zeta", hackathonId: "h1", criteriaType: "JUDGE_SCORE", status: "PASSED", score: 7.5, updatedBy: "t" },
      { teamSlug: "zeta", hackathonId: "h1", criteriaType: "CODE_REPO", status: "PASSED", score: 7, updatedBy: "t" },
    ]);
    expect(response).toMatchObject({ createdEntries: 1, totalRequests: 2, errors: [{ teamSlug: "zeta", criteriaType: "JUDGE_SCORE" }] });
    await expect(client().postCriteria([{ teamSlug: "", hackathonId: "h1", criteriaType: "CODE_REPO", status: "PASSED", updatedBy: "t" }])).rejects.toMatchObject({ kind: "rejected", status: 500 });
  });

  it("a probe says whether the Hub answers (below 500, a refused key included); every such answer tells the listeners", async () => {
    const row = { teamSlug: "zeta", hackathonId: "h1", criteriaType: "CODE_REPO" };
    const c = client();
    let told = 0;
    const unsubscribe = c.onReachable(() => told++);
    expect(await c.probe(row)).toBe(true);
    expect(await new HubClient({ baseUrl: hub.url, apiKey: "sk_nope", timeoutMs: 2000, readAttempts: 1 }).probe(row)).toBe(true);
    hub.down(1, "503", true);
    expect(await c.probe(row)).toBe(false);
    hub.down(1, "500", true);
    expect(await c.probe(row)).toBe(false);
    expect(await new HubClient({ baseUrl: "http://127.0.0.1:1", apiKey: key, timeoutMs: 2000, readAttempts: 1 }).probe(row)).toBe(false);
    expect(told).toBe(1);
    await c.listTeams("h1");
    await c.postCriteria([]);
    expect(told).toBe(3);
    unsubscribe();
    await c.listTeams("h1");
    expect(told).toBe(3);
    const probe = hub.requests.find((r) => r.method === "GET" && r.path === "/api/service/team-criteria");
    expect(probe?.status).toBe(200);
  });
});
