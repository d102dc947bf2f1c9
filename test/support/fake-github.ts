// A stand-in for the parts of GitHub's REST API git_activity uses, as a real HTTP server:
//   GET /repos/{owner}/{repo}            metadata (default_branch); 404 for missing and private repos
//   GET /repos/{owner}/{repo}/commits    ?since=&per_page=&page=, newest first, paginated with Link
//                                        headers (rel="next", rel="last"); 409 for an empty repo
//   a renamed repository's old name      301 with Location /repositories/{id}[/commits]?..., served there
// plus rate limiting as GitHub does it: a primary budget per hour of 60 requests without a token
// (per client address) and 5,000 per token, x-ratelimit-* headers on every answer, and once the
// budget is spent 403 (or 429) with x-ratelimit-remaining: 0 and x-ratelimit-reset (epoch s) until
// the reset; secondary limits on demand (403 with retry-after and a "secondary rate limit"
// message, the budget not spent). A token, when configured, is required to be a known one (401).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRepo {
  id: number;
  defaultBranch: string;
  private: boolean;
  /** Commit dates (epoch ms), any order; served newest first. */
  commits: number[];
}

export interface GitHubRequest {
  path: string;
  query: Record<string, string>;
  authorization: string | null;
  userAgent: string | null;
  status: number;
}

export class FakeGitHub {
  private server?: Server;
  url = "";
  readonly repos = new Map<string, FakeRepo>();
  readonly requests: GitHubRequest[] = [];
  /** Tokens that may see private repos; an unknown token is answered 401. Empty: tokens are not checked. */
  readonly tokens = new Set<string>();
  /** Old full name (lower case) -> the repository's id, for repositories renamed since. */
  private readonly renamed = new Map<string, number>();
  /** Primary budgets per hour: "anonymous" (GitHub counts per client address) or "token:<token>". */
  private readonly budgets = new Map<string, { limit: number; remaining: number; resetAt: number }>();
  private limitStatus: 403 | 429 = 403;
  private secondary: { count: number; retryAfterS: number | null; status: 403 | 429 } = { count: 0, retryAfterS: null, status: 403 };
  private nextId = 1;

  addRepo(fullName: string, repo: Partial<Omit<FakeRepo, "id">> = {}): void {
    this.repos.set(fullName.toLowerCase(), { id: this.nextId++, defaultBranch: repo.defaultBranch ?? "main", private: repo.private ?? false, commits: repo.commits ?? [] });
  }

  /** The repository moves to `newName`; its old name answers 301 to /repositories/{id} from now on. */
  renameRepo(oldName: string, newName: string): void {
    const repo = this.repos.get(oldName.toLowerCase());
    if (!repo) throw new Error(`no repository ${oldName}`);
    this.repos.delete(oldName.toLowerCase());
    this.repos.set(newName.toLowerCase(), repo);
    this.renamed.set(oldName.toLowerCase(), repo.id);
  }

  /** After `remaining` more requests of `token` (none: anonymous), answer with the rate-limit error until `resetInMs` from now. */
  rateLimit(remaining: number, resetInMs: number, status: 403 | 429 = 403, token?: string): void {
    const budget = this.budget(token ?? null);
    budget.remaining = remaining;
    budget.resetAt = Date.now() + resetInMs;
    this.limitStatus = status;
  }

  /** Every budget full again (60 anonymous, 5,000 per token), reset an hour from its next use. */
  resetLimits(): void {
    this.budgets.clear();
    this.limitStatus = 403;
    this.secondary.count = 0;
  }

  /**
   * The next `count` requests hit a secondary rate limit: `status` with retry-after: `retryAfterS`, or
   * without retry-after when null (GitHub then says only "wait at least a minute" in its docs).
   */
  secondaryLimit(count: number, retryAfterS: number | null, status: 403 | 429 = 403): void {
    this.secondary = { count, retryAfterS, status };
  }

  private budget(token: string | null) {
    const key = token ? `token:${token}` : "anonymous";
    let budget = this.budgets.get(key);
    if (!budget) {
      const limit = token ? 5000 : 60;
      budget = { limit, remaining: limit, resetAt: Date.now() + 3_600_000 };
      this.budgets.set(key, budget);
    }
    return budget;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    const auth = typeof req.headers.authorization === "string" ? req.headers.authorization : null;
    const token = auth?.replace(/^(Bearer|token) /i, "") || null;
    const budget = this.budget(token);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({
        path: url.pathname, query: Object.fromEntries(url.searchParams), authorization: auth,
        userAgent: typeof req.headers["user-agent"] === "string" ? req.headers["user-agent"] : null, status,
      });
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...rateHeaders(budget), ...headers }).end(JSON.stringify(body));
    };

    if (Date.now() >= budget.resetAt) {
      budget.remaining = budget.limit;
      budget.resetAt = Date.now() + 3_600_000;
    }
    if (budget.remaining <= 0) {
      return reply(this.limitStatus, {
        message: token
          ? "API rate limit exceeded for user ID 1."
          : "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)",
        documentation_url: "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
      });
    }
    if (this.secondary.count > 0) {
      this.secondary.count--;
      return reply(this.secondary.status, {
        message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
        documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
      }, this.secondary.retryAfterS === null ? {} : { "retry-after": String(this.secondary.retryAfterS) });
    }
    budget.remaining--;

    if (token && this.tokens.size && !this.tokens.has(token)) {
      return reply(401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest" });
    }
    const named = /^\/repos\/([^/]+)\/([^/]+)(\/commits)?$/.exec(url.pathname);
    const byId = /^\/repositories\/(\d+)(\/commits)?$/.exec(url.pathname);
    const nameOf = named ? `${decodeURIComponent(named[1]!)}/${decodeURIComponent(named[2]!)}`.toLowerCase() : "";
    const movedTo = named && !this.repos.has(nameOf) ? this.renamed.get(nameOf) : undefined;
    if (movedTo !== undefined) {
      const location = `${this.url}/repositories/${movedTo}${named![3] ?? ""}${url.search}`;
      return reply(301, { message: "Moved Permanently", url: location, documentation_url: "https://docs.github.com/v3/#http-redirects" }, { location });
    }
    const entry = named
      ? [...this.repos.entries()].find(([name]) => name === nameOf)
      : byId ? [...this.repos.entries()].find(([, r]) => r.id === Number(byId[1])) : undefined;
    const repo = entry?.[1];
    if (!entry || !repo || (repo.private && !(token && this.tokens.has(token)))) {
      return reply(404, { message: "Not Found", documentation_url: "https://docs.github.com/rest/repos/repos#get-a-repository" });
    }
    const fullName = entry[0];
    const commitsPath = (named ?? byId)![named ? 3 : 2];
    if (!commitsPath) {
      return reply(200, { id: repo.id, name: fullName.split("/")[1], full_name: fullName, private: repo.private, default_branch: repo.defaultBranch, html_url: `https://github.com/${fullName}` });
    }
    if (repo.commits.length === 0) {
      return reply(409, { message: "Git Repository is empty.", documentation_url: "https://docs.github.com/rest/commits/commits#list-commits" });
    }
    const since = url.searchParams.get("since");
    const sinceMs = since ? Date.parse(since) : -Infinity;
    const perPage = Math.min(100, Math.max(1, Number(url.searchParams.get("per_page") || 30)));
    const page = Math.max(1, Number(url.searchParams.get("page") || 1));
    const all = [...repo.commits].sort((a, b) => b - a).filter((t) => t >= sinceMs);
    const slice = all.slice((page - 1) * perPage, page * perPage);
    const lastPage = Math.max(1, Math.ceil(all.length / perPage));
    const link = (p: number) => {
      const next = new URL(url.toString());
      next.searchParams.set("page", String(p));
      return next.toString();
    };
    const links: string[] = [];
    if (page < lastPage) links.push(`<${link(page + 1)}>; rel="next"`, `<${link(lastPage)}>; rel="last"`);
    if (page > 1) links.push(`<${link(1)}>; rel="first"`, `<${link(page - 1)}>; rel="prev"`);
    const body = slice.map((t, i) => ({
      sha: `${(page * 1000 + i).toString(16).padStart(40, "0")}`,
      commit: { author: { name: "dev", date: new Date(t).toISOString() }, committer: { name: "dev", date: new Date(t).toISOString() }, message: "change" },
    }));
    return reply(200, body, links.length ? { link: links.join(", ") } : {});
  }
}

function rateHeaders(budget: { limit: number; remaining: number; resetAt: number }): Record<string, string> {
  return {
    "x-ratelimit-limit": String(budget.limit),
    "x-ratelimit-remaining": String(Math.max(0, budget.remaining)),
    "x-ratelimit-reset": String(Math.ceil(budget.resetAt / 1000)),
    "x-ratelimit-used": String(budget.limit - Math.max(0, budget.remaining)),
    "x-ratelimit-resource": "core",
  };
}
