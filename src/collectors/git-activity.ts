// The git_activity program: one GitHub repository's activity, as one result (<= 4 KiB).
//   GET /repos/{owner}/{repo}                              default branch; 404 = missing or private
//   GET /repos/{owner}/{repo}/commits?since=&per_page=100  every page, following Link rel="next"
//   GET /repos/{owner}/{repo}/commits?per_page=1           the last commit, when none is after `since`
// Rate limits (403/429 with x-ratelimit-remaining: 0 and x-ratelimit-reset, or retry-after; a 403
// whose message names a rate limit waits a minute) are waited out when the reset comes before the
// deadline; else exit 75 (retry the job later). Redirects (301 of a renamed repository) are followed.
// Env: GITHUB_API_URL, GITHUB_TOKEN (optional), GIT_REPO_OWNER, GIT_REPO_NAME, GIT_REPO_URL,
// GIT_SINCE (ISO, optional), GIT_WINDOW_MS, GIT_DEADLINE_MS, GIT_USER_AGENT.
import { requireEnv, sleep, writeResult } from "./io.js";

const EXIT_TEMPORARY = 75;
const EXIT_CONFIG = 78;
const PER_PAGE = 100;
const MAX_PAGES = 100;
const REQUEST_TIMEOUT_MS = 15_000;
const SERVER_ERROR_ATTEMPTS = 3;

const startedAt = Date.now();
const apiUrl = requireEnv("GITHUB_API_URL").replace(/\/+$/, "");
const token = process.env.GITHUB_TOKEN || "";
const owner = requireEnv("GIT_REPO_OWNER");
const repo = requireEnv("GIT_REPO_NAME");
const repoUrl = process.env.GIT_REPO_URL || `https://github.com/${owner}/${repo}`;
const windowMs = Number(process.env.GIT_WINDOW_MS || 86_400_000);
const deadlineAt = startedAt + Number(process.env.GIT_DEADLINE_MS || 240_000);
const userAgent = process.env.GIT_USER_AGENT || "HackLoad-Monitor/1.0";
const windowStart = new Date(startedAt - windowMs).toISOString();
const since = process.env.GIT_SINCE ? new Date(process.env.GIT_SINCE).toISOString() : windowStart;

let requests = 0;
let rateLimitWaitMs = 0;

class Stop extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** One GET, with rate-limit waits and a few retries of 5xx and network errors. */
async function get(url: string): Promise<Answer> {
  let serverErrors = 0;
  for (;;) {
    if (Date.now() >= deadlineAt) throw new Stop(EXIT_TEMPORARY, `GitHub did not answer before the deadline (${url})`);
    let response: Response;
    try {
      requests++;
      response = await fetch(url, {
        headers: {
          accept: "application/vnd.github+json",
          "x-github-api-version": "2022-11-28",
          "user-agent": userAgent,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        signal: AbortSignal.timeout(Math.max(1, Math.min(REQUEST_TIMEOUT_MS, deadlineAt - Date.now()))),
      });
    } catch (error) {
      if (++serverErrors >= SERVER_ERROR_ATTEMPTS) throw new Stop(EXIT_TEMPORARY, `GitHub unreachable: ${describe(error)}`);
      await sleep(500 * 2 ** serverErrors);
      continue;
    }
    const text = await response.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
    const wait = rateLimitWait(response, body);
    if (wait !== null) {
      if (Date.now() + wait > deadlineAt) {
        const reset = new Date(Date.now() + wait).toISOString();
        throw new Stop(EXIT_TEMPORARY, `GitHub rate limit reached; it resets at ${reset}, after this run's deadline`);
      }
      console.log(`rate limited by GitHub (HTTP ${response.status}); waiting ${wait} ms for the reset`);
      rateLimitWaitMs += wait;
      await sleep(wait);
      continue;
    }
    if (response.status >= 500) {
      if (++serverErrors >= SERVER_ERROR_ATTEMPTS) throw new Stop(EXIT_TEMPORARY, `GitHub answered ${response.status} ${SERVER_ERROR_ATTEMPTS} times`);
      await sleep(500 * 2 ** serverErrors);
      continue;
    }
    return { status: response.status, headers: response.headers, body };
  }
}

/**
 * Milliseconds until GitHub lifts a rate limit this answer reports, or null when it reports none.
 * A secondary limit may come as a bare 403 whose message names it; GitHub then asks for at least a
 * minute's wait. Any other 403 (a blocked or disabled repository) is not a rate limit.
 */
function rateLimitWait(response: Response, body: unknown): number | null {
  if (response.status !== 403 && response.status !== 429) return null;
  const retryAfter = response.headers.get("retry-after");
  if (retryAfter !== null && /^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
  const remaining = response.headers.get("x-ratelimit-remaining");
  const reset = response.headers.get("x-ratelimit-reset");
  if (remaining === "0" && reset !== null && /^\d+$/.test(reset)) return Math.max(0, Number(reset) * 1000 - Date.now()) + 1000;
  return response.status === 429 || /rate limit/i.test(message(body)) ? 60_000 : null;
}

function describe(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  return cause instanceof Error ? `${(cause as NodeJS.ErrnoException).code ?? cause.name}: ${cause.message}` : String(cause);
}

function nextLink(headers: Headers): string | null {
  const link = headers.get("link");
  if (!link) return null;
  for (const part of link.split(",")) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part.trim());
    if (match) return match[1];
  }
  return null;
}

function commitTime(commit: unknown): number | null {
  const c = (commit as { commit?: { committer?: { date?: string }; author?: { date?: string } } })?.commit;
  const text = c?.committer?.date ?? c?.author?.date;
  const ms = text ? Date.parse(text) : NaN;
  return Number.isFinite(ms) ? ms : null;
}

function message(body: unknown): string {
  return typeof body === "object" && body && typeof (body as { message?: unknown }).message === "string" ? (body as { message: string }).message : "";
}

function result(fields: Record<string, unknown>) {
  return {
    repoUrl,
    since,
    activityWindowHours: Math.round((windowMs / 3_600_000) * 100) / 100,
    requests,
    ...(rateLimitWaitMs ? { rateLimitWaitMs } : {}),
    ...fields,
  };
}

function noData(reason: string) {
  return result({ outcome: "NO_DATA", reason, defaultBranch: null, commitsCount: 0, lastCommitTime: null, hasRecentActivity: false });
}

async function measure(): Promise<Record<string, unknown>> {
  const base = `${apiUrl}/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;
  const meta = await get(base);
  if (meta.status === 404) return noData("repository not found or private");
  if (meta.status === 401) throw new Stop(EXIT_CONFIG, `GitHub rejected the token (401 ${message(meta.body)}): check GITHUB_TOKEN`);
  if (meta.status === 403 || meta.status === 451) return noData(`repository not accessible (HTTP ${meta.status}${message(meta.body) ? `: ${message(meta.body)}` : ""})`);
  if (meta.status !== 200) throw new Stop(EXIT_TEMPORARY, `GitHub answered ${meta.status} for the repository`);
  const defaultBranch = (meta.body as { default_branch?: string })?.default_branch ?? null;

  let url: string | null = `${base}/commits?${new URLSearchParams({ since, per_page: String(PER_PAGE) })}`;
  let count = 0;
  let pages = 0;
  let latest: number | null = null;
  let capped = false;
  while (url) {
    if (pages >= MAX_PAGES) {
      capped = true;
      break;
    }
    const page = await get(url);
    pages++;
    if (page.status === 409) break; // "Git Repository is empty."
    if (page.status === 404) return noData("repository not found or private");
    if (page.status !== 200 || !Array.isArray(page.body)) throw new Stop(EXIT_TEMPORARY, `GitHub answered ${page.status} for the commit list`);
    count += page.body.length;
    for (const commit of page.body) {
      const t = commitTime(commit);
      if (t !== null && (latest === null || t > latest)) latest = t;
    }
    url = nextLink(page.headers);
  }
  if (latest === null) {
    // Nothing since `since`: the last commit may still be older; one more request finds it.
    const last = await get(`${base}/commits?per_page=1`);
    if (last.status === 200 && Array.isArray(last.body) && last.body.length) latest = commitTime(last.body[0]);
  }
  return result({
    outcome: "OK",
    defaultBranch,
    commitsCount: count,
    ...(capped ? { commitsCapped: true } : {}),
    lastCommitTime: latest === null ? null : new Date(latest).toISOString(),
    hasRecentActivity: latest !== null && latest >= startedAt - windowMs,
  });
}

try {
  const measured = await measure();
  writeResult(measured);
  console.log(`git_activity ${owner}/${repo}: ${measured.outcome === "OK" ? `${measured.commitsCount} commits since ${since}` : `no data (${measured.reason})`}`);
  process.exit(0);
} catch (error) {
  if (error instanceof Stop) {
    console.error(`git_activity ${owner}/${repo}: ${error.message}`);
    process.exit(error.exitCode);
  }
  throw error;
}
