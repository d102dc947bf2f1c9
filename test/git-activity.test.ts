// git_activity against the GitHub stand-in: pagination with Link headers, the rate limit
// waited out until its reset, missing/private/empty repositories, the token given to the
// program only. The built collector runs as the runtimes run it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluate } from "../src/hub/evaluator.js";
import { EXIT_TEMPORARY, gitActivityHandler, parseGitHubRepo } from "../src/jobs/git-activity.js";
import { workloadProcessEnv } from "../src/runtime/local/local-runtime.js";
import { FakeGitHub } from "./support/fake-github.js";
import { runCollector } from "./support/run-collector.js";

const HOUR = 3_600_000;
const now = Date.now();
const github = new FakeGitHub();

beforeAll(async () => {
  await github.start();
  // 250 commits in the last 10 days (the newest an hour ago), and 30 older ones.
  github.addRepo("team-a/app", { commits: [...Array.from({ length: 250 }, (_, i) => now - HOUR - i * HOUR), ...Array.from({ length: 30 }, (_, i) => now - 40 * 24 * HOUR - i * HOUR)] });
  github.addRepo("team-b/quiet", { defaultBranch: "master", commits: [now - 5 * 24 * HOUR, now - 6 * 24 * HOUR] });
  github.addRepo("team-c/secret", { private: true, commits: [now - HOUR] });
  github.addRepo("team-d/empty", { commits: [] });
  github.addRepo("team-e/limited", { commits: [now - 2 * HOUR, now - 3 * HOUR, now - 4 * HOUR] });
});

afterAll(() => github.close());

function run(repoUrl: string, params: Record<string, unknown> = {}, options: { token?: string; timeoutMs?: number } = {}) {
  const handler = gitActivityHandler({ apiUrl: github.url, token: options.token });
  const parsed = handler.paramsSchema.parse({ repoUrl, ...params });
  const workload = handler.buildWorkload({ params: parsed, timeoutMs: options.timeoutMs ?? 60_000 } as never);
  return runCollector("git-activity", workloadProcessEnv(workload)).then((r) => ({ ...r, handler }));
}

function report(result: Record<string, unknown>) {
  return evaluate({ criteriaType: "CODE_REPO", jobType: "git_activity", state: "SUCCEEDED", reason: "", result, params: {} })!;
}

describe("git_activity against a GitHub stand-in", () => {
  it("counts commits since a date across pages (Link rel=next), with the last commit time, activity and default branch", async () => {
    const since = new Date(now - 30 * 24 * HOUR).toISOString();
    const before = github.requests.length;
    const { exitCode, result, rawResult, handler, output } = await run("https://github.com/team-a/app.git", { since });
    expect(exitCode, output).toBe(0);
    expect(handler.parseResult(rawResult!).ok).toBe(true);
    expect(result).toMatchObject({ outcome: "OK", commitsCount: 250, hasRecentActivity: true, defaultBranch: "main", repoUrl: "https://github.com/team-a/app", since });
    expect(Date.parse(result!.lastCommitTime as string)).toBe(now - HOUR);
    const commitPages = github.requests.slice(before).filter((r) => r.path.endsWith("/commits"));
    expect(commitPages.map((r) => r.query.page ?? "1")).toEqual(["1", "2", "3"]);
    expect(commitPages.every((r) => r.query.per_page === "100" && r.query.since === since)).toBe(true);
    expect(github.requests.at(-1)!.userAgent).toBe("HackLoad-Monitor/1.0");
    expect(github.requests.at(-1)!.authorization).toBeNull();
    const criteria = report(result!);
    expect(criteria).toMatchObject({ status: "PASSED", score: 100 });
    expect(criteria.metrics).toMatchObject({ commitsCount: 250, hasRecentActivity: true, confirmationUrl: "https://github.com/team-a/app" });
  });

  it("with no commit in the window: the last commit is still found; FAILED with partial credit", async () => {
    const { result } = await run("https://github.com/team-b/quiet");
    expect(result).toMatchObject({ outcome: "OK", commitsCount: 0, hasRecentActivity: false, defaultBranch: "master" });
    expect(Date.parse(result!.lastCommitTime as string)).toBe(now - 5 * 24 * HOUR);
    const criteria = report(result!);
    expect(criteria.status).toBe("FAILED");
    expect(criteria.score).toBe(0);
    const withHistory = report((await run("https://github.com/team-b/quiet", { since: new Date(now - 7 * 24 * HOUR).toISOString() })).result!);
    expect(withHistory).toMatchObject({ status: "FAILED", metrics: { commitsCount: 2, hasRecentActivity: false } });
    expect(withHistory.score).toBe(60);
  });

  it("a missing or private repository is NO_DATA with the reason; the token (when given) opens a private one", async () => {
    for (const url of ["https://github.com/team-x/missing", "https://github.com/team-c/secret"]) {
      const { exitCode, result } = await run(url);
      expect(exitCode).toBe(0);
      expect(result).toMatchObject({ outcome: "NO_DATA", reason: "repository not found or private" });
      expect(report(result!)).toMatchObject({ status: "NO_DATA", score: 0, metrics: { hasRepository: false } });
    }
    github.tokens.add("ghp_test_token");
    try {
      const { result } = await run("git@github.com:team-c/secret.git", {}, { token: "ghp_test_token" });
      expect(result).toMatchObject({ outcome: "OK", commitsCount: 1, hasRecentActivity: true });
      expect(github.requests.at(-1)!.authorization).toBe("Bearer ghp_test_token");
    } finally {
      github.tokens.clear();
    }
  });

  it("an empty repository is measured: 0 commits, FAILED", async () => {
    const { result } = await run("https://github.com/team-d/empty");
    expect(result).toMatchObject({ outcome: "OK", commitsCount: 0, lastCommitTime: null, hasRecentActivity: false });
    expect(report(result!).status).toBe("FAILED");
  });

  it("waits out GitHub's rate limit (403, x-ratelimit-remaining: 0, x-ratelimit-reset) and then finishes", async () => {
    github.rateLimit(1, 1200);
    const { exitCode, result, output, elapsedMs } = await run("https://github.com/team-e/limited");
    expect(exitCode, output).toBe(0);
    expect(output).toMatch(/rate limited by GitHub \(HTTP 403\)/);
    expect(result).toMatchObject({ outcome: "OK", commitsCount: 3 });
    expect(result!.rateLimitWaitMs as number).toBeGreaterThanOrEqual(1000);
    expect(elapsedMs).toBeGreaterThanOrEqual(1000);
    expect(github.requests.some((r) => r.status === 403)).toBe(true);
  });

  it("does the same for 429", async () => {
    github.rateLimit(0, 800, 429);
    const { exitCode, result } = await run("https://github.com/team-e/limited");
    expect(exitCode).toBe(0);
    expect(result).toMatchObject({ outcome: "OK", commitsCount: 3 });
  });

  it("a reset after the job's deadline: exit 75 at once, which the job type retries", async () => {
    github.rateLimit(0, 10 * 60_000);
    try {
      const { exitCode, result, output, elapsedMs, handler } = await run("https://github.com/team-e/limited", {}, { timeoutMs: 20_000 });
      expect(exitCode).toBe(EXIT_TEMPORARY);
      expect(result).toBeNull();
      expect(output).toMatch(/rate limit reached; it resets at .* after this run's deadline/);
      expect(elapsedMs).toBeLessThan(5000);
      const policy = { initialBackoffMs: 1000, multiplier: 2, maxBackoffMs: 60_000, jitter: 0, retryOnTimeout: false };
      expect(handler.isRetryable!({ kind: "exited", exitCode: EXIT_TEMPORARY, output: { rawResult: null, outputTail: "" } }, policy)).toBe(true);
      expect(handler.isRetryable!({ kind: "exited", exitCode: 1, output: { rawResult: null, outputTail: "" } }, policy)).toBe(false);
    } finally {
      github.resetLimits();
    }
  });

  it("waits out a secondary rate limit (403 with retry-after, the hourly budget not spent) and then finishes", async () => {
    github.secondaryLimit(1, 1);
    const before = github.requests.length;
    const { exitCode, result, output } = await run("https://github.com/team-e/limited");
    expect(exitCode, output).toBe(0);
    expect(output).toMatch(/rate limited by GitHub \(HTTP 403\); waiting 1000 ms/);
    expect(result).toMatchObject({ outcome: "OK", commitsCount: 3, rateLimitWaitMs: 1000 });
    expect(github.requests.slice(before).map((r) => r.status)).toEqual([403, 200, 200]);
  });

  it("a secondary rate limit without retry-after is a rate limit too (at least a minute), not an inaccessible repository", async () => {
    github.secondaryLimit(1, null);
    try {
      const { exitCode, result, output } = await run("https://github.com/team-e/limited", {}, { timeoutMs: 20_000 });
      expect(exitCode, output).toBe(EXIT_TEMPORARY);
      expect(result).toBeNull();
      expect(output).toMatch(/rate limit reached; it resets at .* after this run's deadline/);
    } finally {
      github.resetLimits();
    }
  });

  it("60 requests an hour without a token, 5,000 with one: a spent anonymous budget does not stop a run with a token", async () => {
    const anonymous = await fetch(`${github.url}/repos/team-e/limited`);
    expect(anonymous.headers.get("x-ratelimit-limit")).toBe("60");
    const withToken = await fetch(`${github.url}/repos/team-e/limited`, { headers: { authorization: "Bearer ghp_budget" } });
    expect(withToken.headers.get("x-ratelimit-limit")).toBe("5000");
    try {
      // The anonymous budget spent for the next 10 minutes (about what a 500-team round without a token does).
      github.rateLimit(0, 10 * 60_000);
      const anon = await run("https://github.com/team-e/limited", {}, { timeoutMs: 20_000 });
      expect(anon.exitCode, anon.output).toBe(EXIT_TEMPORARY);
      const authed = await run("https://github.com/team-e/limited", {}, { token: "ghp_budget", timeoutMs: 20_000 });
      expect(authed.exitCode, authed.output).toBe(0);
      expect(authed.result).toMatchObject({ outcome: "OK", commitsCount: 3 });
    } finally {
      github.resetLimits();
    }
  });

  it("follows a renamed repository (301 to /repositories/{id}) through metadata and every commit page", async () => {
    github.addRepo("team-f/old-name", { defaultBranch: "trunk", commits: Array.from({ length: 150 }, (_, i) => now - HOUR - i * 60_000) });
    github.renameRepo("team-f/old-name", "team-f/new-name");
    const before = github.requests.length;
    const { exitCode, result, output } = await run("https://github.com/team-f/old-name");
    expect(exitCode, output).toBe(0);
    expect(result).toMatchObject({ outcome: "OK", commitsCount: 150, defaultBranch: "trunk", hasRecentActivity: true });
    const seen = github.requests.slice(before);
    expect(seen.filter((r) => r.status === 301).map((r) => r.path)).toEqual(["/repos/team-f/old-name", "/repos/team-f/old-name/commits"]);
    expect(seen.filter((r) => r.path.startsWith("/repositories/") && r.path.endsWith("/commits")).map((r) => r.query.page ?? "1")).toEqual(["1", "2"]);
  });
});

describe("git_activity parameters", () => {
  it("reads the repository from the forms teams paste", () => {
    for (const url of ["https://github.com/o/r", "https://github.com/o/r.git", "http://www.github.com/o/r/tree/main", "github.com/o/r/", "git@github.com:o/r.git"]) {
      expect(parseGitHubRepo(url)).toEqual({ owner: "o", repo: "r" });
    }
    for (const url of ["https://gitlab.com/o/r", "https://github.com/o", "not a url", "https://github.com/o/.."]) expect(parseGitHubRepo(url)).toBeNull();
  });

  it("requires a GitHub URL, defaults the window to 24 h and never puts the token in the params", () => {
    const handler = gitActivityHandler({ apiUrl: "https://api.github.com", token: "ghp_secret" });
    expect(handler.paramsSchema.safeParse({}).error!.issues[0].message).toBe("is required");
    expect(handler.paramsSchema.safeParse({ repoUrl: "https://gitlab.com/o/r" }).success).toBe(false);
    const params = handler.paramsSchema.parse({ repoUrl: "https://github.com/o/r" });
    expect(params).toEqual({ repoUrl: "https://github.com/o/r", owner: "o", repo: "r", activityWindowMs: 86_400_000 });
    expect(JSON.stringify(params)).not.toContain("ghp_secret");
    const workload = handler.buildWorkload({ params, timeoutMs: 60_000 } as never);
    expect(JSON.stringify(workload.env)).not.toContain("ghp_secret");
    expect(workload.secretEnv).toEqual({ GITHUB_TOKEN: { value: "ghp_secret", secretKeyRef: undefined } });
  });

  it("names the Secret the pods read the token from, so the Job never carries it", () => {
    const handler = gitActivityHandler({ token: "ghp_secret", tokenSecret: { name: "jobscheduler-run-secrets", key: "GITHUB_TOKEN" } });
    const params = handler.paramsSchema.parse({ repoUrl: "https://github.com/o/r" });
    const workload = handler.buildWorkload({ params, timeoutMs: 60_000 } as never);
    expect(workload.secretEnv!.GITHUB_TOKEN.secretKeyRef).toEqual({ name: "jobscheduler-run-secrets", key: "GITHUB_TOKEN" });
    // Without any token configured there is no variable at all.
    expect(gitActivityHandler({}).buildWorkload({ params, timeoutMs: 60_000 } as never).secretEnv).toBeUndefined();
  });
});
