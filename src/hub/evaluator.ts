// Turns one finished job into one criterion report for the Hub: status, integer score, metrics.
// Pure: (criteria type, job outcome, settings) in, report out; no I/O, no clock. Thresholds and
// score scales are settings (HUB_CRITERIA), because the Hub's leaderboard is the raw sum of
// scores, so each criterion's scale is its weight. See docs/hub-reporting.md.
import { z } from "zod";
import type { CriteriaReport, CriteriaStatus, CriteriaTypeName } from "./criteria.js";

const fraction = z.number().min(0).max(1);
const nonNegative = z.number().min(0);
const confirmation = { title: z.string(), description: z.string() };

const loadTest = (scale: number, levels: Record<string, number> = {}) =>
  z.object({
    /** Share of requests that must succeed (k6 http_req_failed below 1 - this). */
    minSuccessRate: fraction.default(0.95),
    /** The design's p95 < 2 s (the live collectors forgot it); 0 = not checked. */
    maxP95Ms: nonNegative.default(2000),
    /** Score when passed (used when `levels` is empty). */
    scale: nonNegative.default(scale),
    /** Load level (virtual users) -> score when passed; the highest level at or below the run's users counts. */
    levels: z.record(z.string().regex(/^\d+$/), nonNegative).default(levels),
    title: confirmation.title.default("Нагрузочный тест"),
    description: confirmation.description.default("Результаты нагрузочного тестирования"),
  });

const SEARCH_LEVELS = { "1000": 10, "5000": 20, "10000": 30, "25000": 30, "50000": 40, "100000": 50 };

export const criteriaSettingsSchema = z.object({
  CODE_REPO: z.object({
    /** Commits since the configured start date needed to pass (live: 2; design documents: 10). */
    minCommits: z.number().int().min(0).default(2),
    /** A commit within the activity window is also required. */
    requireRecentActivity: z.boolean().default(true),
    scale: nonNegative.default(100),
    /** The most a FAILED repo earns, as a share of the scale (partial credit below the threshold). */
    partialCredit: fraction.default(0.8),
    title: confirmation.title.default("Репозиторий"),
    description: confirmation.description.default("Исходный код решения команды"),
  }).prefault({}),
  DEPLOYED_SOLUTION: z.object({
    /** Passed when at least this share of the critical endpoints work (live: 75 %). */
    minCriticalSuccessRate: fraction.default(0.75),
    scale: nonNegative.default(100),
    /** Share of the score that depends on response time (the rest on endpoint coverage). */
    latencyWeight: fraction.default(0.2),
    /** Mean latency of the working endpoints at or below which the latency share is full... */
    fastMs: nonNegative.default(1000),
    /** ...and at or above which it is zero. */
    slowMs: nonNegative.default(10_000),
    title: confirmation.title.default("Демо"),
    description: confirmation.description.default("Развернутое решение команды"),
  }).prefault({}),
  EVENT_SEARCH: loadTest(50, SEARCH_LEVELS).prefault({}),
  ARCHIVE_SEARCH: loadTest(50, SEARCH_LEVELS).prefault({}),
  AUTH_PERFORMANCE: loadTest(30).extend({
    /** The fixed-iteration run must reach this many requests; 0 = not checked. */
    expectedRequests: z.number().int().min(0).default(0),
    /** Checks must pass at this rate. */
    minChecksRate: fraction.default(0.95),
  }).prefault({}),
  TICKET_BOOKING: loadTest(30).prefault({}),
  TICKET_CANCELLATION: loadTest(30).prefault({}),
  BUDGET_TRACKING: z.object({
    /** Informational: the score a team with spending data gets (the live Hub ranks spend across teams, which a per-team evaluation cannot). */
    score: nonNegative.default(0),
    title: confirmation.title.default("Бюджет"),
    description: confirmation.description.default("Затраты команды на инфраструктуру"),
  }).prefault({}),
  JUDGE_SCORE: z.object({
    /** The jury's scale (JUDJE_SCORE is 0-10). */
    max: z.number().positive().default(10),
    /** Score for a full jury mark; the mark is scaled to it and rounded. */
    scale: nonNegative.default(10),
    /** The live collector shows 0 as "no score yet". */
    zeroIsNoData: z.boolean().default(true),
    title: confirmation.title.default("Оценка жюри"),
    description: confirmation.description.default("Оценка жюри"),
  }).prefault({}),
});

export type CriteriaSettings = z.infer<typeof criteriaSettingsSchema>;
type LoadTestSettings = z.infer<ReturnType<typeof loadTest>>;

export const DEFAULT_CRITERIA_SETTINGS: CriteriaSettings = criteriaSettingsSchema.parse({});

/** A finished job as the evaluator sees it. */
export interface EvaluationInput {
  criteriaType: CriteriaTypeName;
  jobType: string;
  state: "SUCCEEDED" | "FAILED";
  reason: string;
  result: Record<string, unknown> | null;
  params: Record<string, unknown>;
}

/**
 * The report for a finished job, or null when there is nothing to report: the job failed for
 * infrastructure reasons (it is retried or dead-lettered; the Hub keeps its last value), or its
 * type does not measure this criterion.
 */
export function evaluate(input: EvaluationInput, settings: CriteriaSettings = DEFAULT_CRITERIA_SETTINGS): CriteriaReport | null {
  const { criteriaType, result } = input;
  if (!result) return null;
  switch (criteriaType) {
    case "CODE_REPO":
      return input.jobType === "git_activity" && input.state === "SUCCEEDED" ? codeRepo(result, settings.CODE_REPO) : null;
    case "DEPLOYED_SOLUTION":
      return input.jobType === "http_check" && input.state === "SUCCEEDED" ? deployedSolution(result, settings.DEPLOYED_SOLUTION) : null;
    case "BUDGET_TRACKING":
      return input.jobType === "budget" && input.state === "SUCCEEDED" ? budget(result, settings.BUDGET_TRACKING) : null;
    case "JUDGE_SCORE":
      return input.jobType === "judge_score" && input.state === "SUCCEEDED" ? judgeScore(result, settings.JUDGE_SCORE) : null;
    case "EVENT_SEARCH":
    case "ARCHIVE_SEARCH":
    case "TICKET_BOOKING":
    case "TICKET_CANCELLATION":
    case "AUTH_PERFORMANCE":
      return input.jobType === "k6" ? loadTestReport(input, settings) : null;
  }
}

/** A NO_DATA report for a team that lacks the input a criterion needs (e.g. no repo URL). */
export function noDataReport(criteriaType: CriteriaTypeName, reason: string, settings: CriteriaSettings = DEFAULT_CRITERIA_SETTINGS): CriteriaReport {
  const base = { reason, ...confirmationOf(settings[criteriaType]) };
  const keys: Partial<Record<CriteriaTypeName, Record<string, unknown>>> = {
    CODE_REPO: { hasRepository: false, commitsCount: 0, hasRecentActivity: false },
    DEPLOYED_SOLUTION: { isDeployed: false, isAccessible: false, workingEndpoints: 0, totalEndpoints: 0 },
    BUDGET_TRACKING: { hasSpendingData: false, totalSpent: 0 },
    JUDGE_SCORE: { hasJudgeScore: false, judgeScore: null },
  };
  return { status: "NO_DATA", score: 0, metrics: { ...(keys[criteriaType] ?? { testResults: [] }), ...base } };
}

function confirmationOf(settings: { title: string; description: string }, url?: string): Record<string, unknown> {
  return { ...(url ? { confirmationUrl: url } : {}), confirmationTitle: settings.title, confirmationDescription: settings.description };
}

const score = (value: number) => Math.max(0, Math.round(Number.isFinite(value) ? value : 0));
const clamp01 = (value: number) => Math.min(1, Math.max(0, value));
const percent = (value: number) => Math.round(value * 1000) / 10;
const num = (value: unknown): number | null => (typeof value === "number" && Number.isFinite(value) ? value : null);
const str = (value: unknown): string | null => (typeof value === "string" && value !== "" ? value : null);

function report(status: CriteriaStatus, value: number, metrics: Record<string, unknown>): CriteriaReport {
  return { status, score: status === "NO_DATA" ? 0 : score(value), metrics };
}

// ---- CODE_REPO (git_activity) ----

function codeRepo(result: Record<string, unknown>, s: CriteriaSettings["CODE_REPO"]): CriteriaReport {
  const repoUrl = str(result.repoUrl) ?? undefined;
  if (result.outcome === "NO_DATA") {
    return report("NO_DATA", 0, { hasRepository: false, commitsCount: 0, hasRecentActivity: false, reason: str(result.reason) ?? "no data", repositoryUrl: repoUrl, ...confirmationOf(s, repoUrl) });
  }
  const commits = num(result.commitsCount) ?? 0;
  const recent = result.hasRecentActivity === true;
  const passed = commits >= s.minCommits && (recent || !s.requireRecentActivity);
  const share = s.minCommits === 0 ? 1 : clamp01(commits / s.minCommits);
  const partial = s.scale * s.partialCredit * (s.requireRecentActivity ? 0.75 * share + 0.25 * (recent ? 1 : 0) : share);
  return report(passed ? "PASSED" : "FAILED", passed ? s.scale : Math.min(partial, s.scale - 1), {
    hasRepository: true,
    commitsCount: commits,
    hasRecentActivity: recent,
    lastCommitTime: str(result.lastCommitTime),
    defaultBranch: str(result.defaultBranch),
    since: str(result.since),
    activityWindowHours: num(result.activityWindowHours),
    repositoryUrl: repoUrl,
    ...confirmationOf(s, repoUrl),
  });
}

// ---- DEPLOYED_SOLUTION (http_check) ----

interface EndpointOutcome {
  method: string;
  path: string;
  critical: boolean;
  status: number | null;
  ok: boolean;
  latencyMs: number | null;
  error: string | null;
}

function endpointsOf(result: Record<string, unknown>): EndpointOutcome[] {
  const list = Array.isArray(result.endpoints) ? (result.endpoints as Record<string, unknown>[]) : [];
  return list.map((e) => ({
    method: str(e.method) ?? "GET",
    path: str(e.path) ?? "/",
    critical: e.critical === true,
    status: num(e.status),
    ok: e.ok === true,
    latencyMs: num(e.latencyMs),
    error: str(e.error),
  }));
}

function deployedSolution(result: Record<string, unknown>, s: CriteriaSettings["DEPLOYED_SOLUTION"]): CriteriaReport {
  const baseUrl = str(result.baseUrl) ?? undefined;
  const endpoints = endpointsOf(result);
  const endpointResults = endpoints.map((e) => ({
    method: e.method, path: e.path, critical: e.critical, statusCode: e.status ?? 0, success: e.ok,
    responseTime: e.latencyMs, ...(e.error ? { error: e.error } : {}),
  }));
  const dns = (result.dns ?? {}) as Record<string, unknown>;
  if (dns.ok === false) {
    // The live collector: an unresolvable domain is "no data", not a failed deployment.
    return report("NO_DATA", 0, {
      isDeployed: false, isDnsResolved: false, isAccessible: false, workingEndpoints: 0, totalEndpoints: endpoints.length,
      successRate: 0, criticalSuccessRate: 0, reason: `DNS lookup failed: ${str(dns.error) ?? "unknown error"}`,
      endpointResults, ...confirmationOf(s, baseUrl),
    });
  }
  const working = endpoints.filter((e) => e.ok);
  const critical = endpoints.filter((e) => e.critical);
  const criticalWorking = critical.filter((e) => e.ok);
  const coverage = endpoints.length ? working.length / endpoints.length : 0;
  const criticalRate = critical.length ? criticalWorking.length / critical.length : coverage;
  const latencies = working.map((e) => e.latencyMs).filter((ms): ms is number => ms !== null);
  const meanLatency = latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : null;
  const answered = endpoints.filter((e) => e.status !== null);
  const speed = meanLatency === null ? 0 : s.slowMs <= s.fastMs ? (meanLatency <= s.fastMs ? 1 : 0) : clamp01((s.slowMs - meanLatency) / (s.slowMs - s.fastMs));
  const passed = endpoints.length > 0 && criticalRate >= s.minCriticalSuccessRate;
  const value = s.scale * coverage * (1 - s.latencyWeight + s.latencyWeight * speed);
  const tls = result.tls && typeof result.tls === "object" ? (result.tls as Record<string, unknown>) : null;
  const primary = critical.find((e) => e.status !== null) ?? answered[0];
  return report(passed ? "PASSED" : "FAILED", value, {
    isDeployed: true,
    isDnsResolved: true,
    isAccessible: answered.length > 0,
    workingEndpoints: working.length,
    totalEndpoints: endpoints.length,
    successRate: percent(coverage),
    criticalSuccessRate: percent(criticalRate),
    responseTime: meanLatency === null ? null : Math.round(meanLatency),
    statusCode: primary?.status ?? 0,
    ...(tls ? { tlsValid: tls.valid === true, tlsDaysToExpiry: num(tls.daysToExpiry), ...(str(tls.error) ? { tlsError: str(tls.error) } : {}) } : {}),
    endpointResults,
    ...confirmationOf(s, baseUrl),
  });
}

// ---- BUDGET_TRACKING and JUDGE_SCORE: informational, never FAILED ----

function budget(result: Record<string, unknown>, s: CriteriaSettings["BUDGET_TRACKING"]): CriteriaReport {
  const spent = num(result.totalSpent);
  if (result.hasSpendingData !== true || spent === null) {
    return report("NO_DATA", 0, { hasSpendingData: false, totalSpent: 0, reason: str(result.reason) ?? "no MONEY_SPEND value", ...confirmationOf(s) });
  }
  return report("PASSED", s.score, { hasSpendingData: true, totalSpent: spent, currency: "KZT", ...confirmationOf(s) });
}

function judgeScore(result: Record<string, unknown>, s: CriteriaSettings["JUDGE_SCORE"]): CriteriaReport {
  const mark = num(result.judgeScore);
  if (result.hasJudgeScore !== true || mark === null || (mark === 0 && s.zeroIsNoData)) {
    return report("NO_DATA", 0, { hasJudgeScore: false, judgeScore: null, reason: str(result.reason) ?? "no JUDJE_SCORE value", ...confirmationOf(s) });
  }
  const clamped = Math.min(s.max, Math.max(0, mark));
  return report("PASSED", (clamped / s.max) * s.scale, { hasJudgeScore: true, judgeScore: clamped, ...confirmationOf(s) });
}

// ---- load tests (k6): EVENT_SEARCH, ARCHIVE_SEARCH, AUTH_PERFORMANCE, TICKET_BOOKING, TICKET_CANCELLATION ----

/** Figures a load-test verdict needs, read from a k6 result (a compact or merged summary). */
export interface LoadFigures {
  totalRequests: number | null;
  failedRate: number | null;
  p95Ms: number | null;
  checksPasses: number | null;
  checksFails: number | null;
  users: number | null;
  peakRps: number | null;
  thresholdsFailed: boolean;
  testId: string | null;
  dashboardUrl: string | null;
}

/** A figure may be a number, or a merged figure ({exact, value} or bounds with an estimate). */
function figure(value: unknown): number | null {
  const n = num(value);
  if (n !== null) return n;
  if (value && typeof value === "object") {
    const f = value as Record<string, unknown>;
    return num(f.value) ?? num(f.estimate) ?? num(f.upper) ?? num(f.lower);
  }
  return null;
}

export function loadFigures(result: Record<string, unknown>): LoadFigures {
  const summary = (result.summary && typeof result.summary === "object" ? result.summary : result) as Record<string, unknown>;
  const metrics = (summary.metrics && typeof summary.metrics === "object" ? summary.metrics : {}) as Record<string, Record<string, unknown>>;
  const values = (name: string) => ((metrics[name]?.values ?? {}) as Record<string, unknown>);
  const checks = (summary.checks ?? {}) as Record<string, unknown>;
  const checkValues = values("checks");
  const passes = num(checks.passes) ?? figure(checkValues.passes);
  const fails = num(checks.fails) ?? figure(checkValues.fails);
  return {
    totalRequests: figure(values("http_reqs").count),
    failedRate: figure(values("http_req_failed").rate),
    p95Ms: figure(values("http_req_duration")["p(95)"]),
    checksPasses: passes,
    checksFails: fails,
    users: num(result.userSize) ?? num(summary.vusMax) ?? figure(values("vus_max").value) ?? figure(values("vus_max").max),
    peakRps: figure(values("http_reqs").rate),
    thresholdsFailed: summary.thresholdsFailed === true || summary.verdict === "FAILED" || result.verdict === "FAILED",
    testId: str(result.testId) ?? str(result.jobId),
    dashboardUrl: str(result.grafanaDashboardUrl),
  };
}

function levelScore(s: LoadTestSettings, users: number | null): number {
  const levels = Object.entries(s.levels).map(([level, value]) => [Number(level), value] as const).sort((a, b) => a[0] - b[0]);
  if (levels.length === 0) return s.scale;
  if (users === null) return 0;
  let best = 0;
  for (const [level, value] of levels) if (users >= level) best = value;
  return best;
}

function loadTestReport(input: EvaluationInput, settings: CriteriaSettings): CriteriaReport | null {
  const result = input.result!;
  const f = loadFigures(result);
  // A k6 run that produced no request figures did not measure anything: infrastructure, report nothing.
  if (f.totalRequests === null) return null;
  // k6 exits 99 when thresholds fail: the run measured a bad result, which is reported; any other failure is not.
  if (input.state === "FAILED" && !f.thresholdsFailed) return null;
  const criteria = input.criteriaType as "EVENT_SEARCH" | "ARCHIVE_SEARCH" | "AUTH_PERFORMANCE" | "TICKET_BOOKING" | "TICKET_CANCELLATION";
  const s = settings[criteria];
  const successRate = f.failedRate === null ? null : 1 - f.failedRate;
  const checksTotal = (f.checksPasses ?? 0) + (f.checksFails ?? 0);
  const checksRate = checksTotal ? (f.checksPasses ?? 0) / checksTotal : null;
  let passed = successRate !== null && successRate >= s.minSuccessRate && (s.maxP95Ms === 0 || (f.p95Ms !== null && f.p95Ms < s.maxP95Ms));
  const extra: Record<string, unknown> = {};
  if (criteria === "AUTH_PERFORMANCE") {
    const auth = settings.AUTH_PERFORMANCE;
    const enough = auth.expectedRequests === 0 || f.totalRequests >= auth.expectedRequests;
    const checksOk = checksRate === null || checksRate >= auth.minChecksRate;
    passed = passed && enough && checksOk;
    Object.assign(extra, {
      totalRequests: f.totalRequests, expectedRequests: auth.expectedRequests, successRate: successRate === null ? null : percent(successRate),
      checksRequired: percent(auth.minChecksRate), thresholdsMet: passed, p95: f.p95Ms === null ? null : Math.round(f.p95Ms),
    });
  }
  const value = passed ? levelScore(s, f.users) : 0;
  const testResult = {
    userSize: f.users,
    testPassed: passed,
    score: score(value),
    successRate: successRate === null ? null : percent(successRate),
    totalRequests: f.totalRequests,
    errorCount: f.failedRate === null ? null : Math.round(f.failedRate * f.totalRequests),
    peakRps: f.peakRps === null ? null : Math.round(f.peakRps),
    p95Latency: f.p95Ms === null ? null : Math.round(f.p95Ms),
    grafanaDashboardUrl: f.dashboardUrl,
    testId: f.testId,
  };
  if (criteria === "TICKET_BOOKING" || criteria === "TICKET_CANCELLATION") {
    Object.assign(extra, {
      bookedTickets: num(result.bookedTickets) ?? (f.checksPasses ?? null),
      successRate: successRate === null ? null : percent(successRate),
      p95: f.p95Ms === null ? null : Math.round(f.p95Ms),
    });
  }
  return report(passed ? "PASSED" : "FAILED", value, { ...extra, testResults: [testResult], ...confirmationOf(s, f.dashboardUrl ?? undefined) });
}
