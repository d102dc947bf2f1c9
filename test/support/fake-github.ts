// A stand-in for the parts of GitHub's REST API git_activity uses, as a real HTTP server:
//   GET /repos/{owner}/{repo}            metadata (default_branch); 404 for missing and private repos
//   GET /repos/{owner}/{repo}/commits    ?since=&per_page=&page=, newest first, paginated with Link
//                                        headers (rel="next", rel="last"); 409 for an empty repo
// plus rate limiting as GitHub does it: x-ratelimit-* headers on every answer, and once the
// budget is spent 403 (or 429) with x-ratelimit-remaining: 0 and x-ratelimit-reset (epoch s)
// until the reset. A token, when configured, is required to be a known one (401 otherwise).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeRepo {
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
  private limit = 5000;
  private remaining = 5000;
  private resetAt = 0;
  private limitStatus: 403 | 429 = 403;

  addRepo(fullName: string, repo: Partial<FakeRepo> = {}): void {
    this.repos.set(fullName.toLowerCase(), { defaultBranch: repo.defaultBranch ?? "main", private: repo.private ?? false, commits: repo.commits ?? [] });
  }

  /** After `remaining` more requests, answer with the rate-limit error until `resetInMs` from now. */
  rateLimit(remaining: number, resetInMs: number, status: 403 | 429 = 403): void {
    this.remaining = remaining;
    this.resetAt = Date.now() + resetInMs;
    this.limitStatus = status;
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
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.requests.push({
        path: url.pathname, query: Object.fromEntries(url.searchParams), authorization: auth,
        userAgent: typeof req.headers["user-agent"] === "string" ? req.headers["user-agent"] : null, status,
      });
      res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...this.rateHeaders(), ...headers }).end(JSON.stringify(body));
    };

    if (Date.now() >= this.resetAt && this.remaining <= 0) {
      this.remaining = this.limit;
    }
    if (this.remaining <= 0) {
      return reply(this.limitStatus, {
        message: "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit.)",
        documentation_url: "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
      });
    }
    this.remaining--;

    const token = auth?.replace(/^(Bearer|token) /i, "") ?? null;
    if (token && this.tokens.size && !this.tokens.has(token)) {
      return reply(401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest" });
    }
    const match = /^\/repos\/([^/]+)\/([^/]+)(\/commits)?$/.exec(url.pathname);
    const repo = match ? this.repos.get(`${decodeURIComponent(match[1])}/${decodeURIComponent(match[2])}`.toLowerCase()) : undefined;
    if (!match || !repo || (repo.private && !(token && this.tokens.has(token)))) {
      return reply(404, { message: "Not Found", documentation_url: "https://docs.github.com/rest/repos/repos#get-a-repository" });
    }
    const fullName = `${match[1]}/${match[2]}`;
    if (!match[3]) {
      return reply(200, { id: 1, name: match[2], full_name: fullName, private: repo.private, default_branch: repo.defaultBranch, html_url: `https://github.com/${fullName}` });
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

  private rateHeaders(): Record<string, string> {
    return {
      "x-ratelimit-limit": String(this.limit),
      "x-ratelimit-remaining": String(Math.max(0, this.remaining)),
      "x-ratelimit-reset": String(Math.ceil((this.resetAt || Date.now() + 3_600_000) / 1000)),
      "x-ratelimit-used": String(this.limit - Math.max(0, this.remaining)),
    };
  }
}
