// A stand-in for the HackLoad Hub's service API (shared/hackload/hub-api.md), a real HTTP
// server that enforces the contract exactly where our code depends on it:
//   - X-API-Key checked against SHA-256 hashes; each key has permissions ("*" = all);
//     401 {"error":"Invalid API key"}, 403 {"error":"Insufficient permissions"};
//   - GET  /api/service/teams?hackathonId&status           (teams:read; status defaults to APPROVED, ordered by nickname)
//   - GET  /api/service/teams/environment?team&category    (environment:read; secure values masked; 404 unknown team)
//   - POST /api/service/team-criteria                      (environment:write; zod-validated body, an invalid one
//     answered 500 {"error":"Internal server error"}; items processed one by one: "Team not found",
//     "Hackathon ID mismatch" and a fractional score fail that item inside a 200)
//   - GET  /api/service/team-criteria?team&hackathon&criteriaType (environment:read)
//   - one current row per (team, hackathon, criteriaType) plus a history row per write;
//   - a request body over `bodyLimitBytes` (1 MiB by default, the limit of the Next.js API routes the
//     Hub is built on; an assumption, shared/hackload/hub-api.md names none) is answered 413;
//   - latency on by default: every answer waits a few ms, about one in twenty 50-250 ms
//     (`{ latency: false }` for a quiet Hub);
//   - fault injection: down for the next N requests (503, 500 or a dropped connection), criteria
//     writes only or every request (team discovery during an outage), slow answers.
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";

export const CRITERIA_TYPES = [
  "CODE_REPO", "DEPLOYED_SOLUTION", "EVENT_SEARCH", "ARCHIVE_SEARCH", "AUTH_PERFORMANCE",
  "TICKET_BOOKING", "TICKET_CANCELLATION", "BUDGET_TRACKING", "JUDGE_SCORE",
] as const;
const CRITERIA_STATUSES = ["PASSED", "FAILED", "NO_DATA"] as const;

const bulkCriteriaUpdateSchema = z.object({
  updates: z.array(
    z.object({
      teamSlug: z.string().min(1),
      hackathonId: z.string().min(1),
      criteriaType: z.enum(CRITERIA_TYPES),
      status: z.enum(CRITERIA_STATUSES),
      score: z.number().min(0).optional(),
      metrics: z.record(z.string(), z.unknown()).optional(),
      updatedBy: z.string().min(1),
    }),
  ),
});

export type CriteriaUpdateBody = z.infer<typeof bulkCriteriaUpdateSchema>["updates"][number];

export interface FakeTeam {
  id: string;
  name: string;
  nickname: string;
  hackathonId: string;
  status: string;
  level: string;
  createdAt: string;
  updatedAt: string;
}

export interface FakeEnvEntry {
  id: string;
  teamId: string;
  key: string;
  value: string;
  description: string | null;
  category: string;
  isSecure: boolean;
  isEditable: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface CriteriaRow {
  id: string;
  teamId: string;
  hackathonId: string;
  criteriaType: string;
  status: string;
  score: number | null;
  metrics: Record<string, unknown> | null;
  lastUpdated: string;
  updatedBy: string;
}

export interface HistoryRow {
  teamCriteriaId: string;
  status: string;
  score: number | null;
  metrics: Record<string, unknown> | null;
  updatedBy: string;
  createdAt: string;
}

export interface RecordedHubRequest {
  method: string;
  path: string;
  status: number;
  body: unknown;
  at: number;
}

export type DownMode = "503" | "500" | "reset";

const MASK = "••••••••";
const PERMISSIONS = {
  teams: "teams:read",
  envRead: "environment:read",
  envWrite: "environment:write",
} as const;

export function newApiKey(): string {
  return `sk_${createHash("sha256").update(randomUUID()).digest("hex")}`;
}

export interface FakeHubOptions {
  /** Bodies above this are answered 413 (default 1 MiB). */
  bodyLimitBytes?: number;
  /** Occasional latency (default on): a few ms per answer, about 1 in 20 waits 50-250 ms. */
  latency?: boolean;
}

export class FakeHub {
  private readonly bodyLimitBytes: number;
  private readonly latency: boolean;
  constructor(options: FakeHubOptions = {}) {
    this.bodyLimitBytes = options.bodyLimitBytes ?? 1024 * 1024;
    this.latency = options.latency ?? true;
  }

  private server?: Server;
  url = "";
  private readonly keys = new Map<string, string[]>();
  readonly teams: FakeTeam[] = [];
  readonly environment: FakeEnvEntry[] = [];
  readonly criteria = new Map<string, CriteriaRow>();
  readonly history: HistoryRow[] = [];
  readonly requests: RecordedHubRequest[] = [];
  private downRemaining = 0;
  private downMode: DownMode = "503";
  private downOnlyCriteria = true;
  private slowMs = 0;

  /** Stores the key's SHA-256 hash with its permissions (the Hub never keeps the key itself). */
  addKey(key: string, permissions: string[]): void {
    this.keys.set(sha256(key), permissions);
  }

  addTeam(team: { nickname: string; hackathonId: string; status?: string; name?: string; env?: Record<string, string>; secure?: Record<string, string> }): FakeTeam {
    const now = new Date().toISOString();
    const row: FakeTeam = {
      id: randomUUID(),
      name: team.name ?? team.nickname,
      nickname: team.nickname,
      hackathonId: team.hackathonId,
      status: team.status ?? "APPROVED",
      level: "BEGINNER",
      createdAt: now,
      updatedAt: now,
    };
    this.teams.push(row);
    for (const [key, value] of Object.entries(team.env ?? {})) this.setEnv(row.nickname, key, value, false);
    for (const [key, value] of Object.entries(team.secure ?? {})) this.setEnv(row.nickname, key, value, true);
    return row;
  }

  setEnv(nickname: string, key: string, value: string, isSecure = false): void {
    const team = this.teamBySlug(nickname);
    if (!team) throw new Error(`no team ${nickname}`);
    const existing = this.environment.find((e) => e.teamId === team.id && e.key === key);
    const now = new Date().toISOString();
    if (existing) {
      Object.assign(existing, { value, isSecure, updatedAt: now });
      return;
    }
    this.environment.push({
      id: randomUUID(), teamId: team.id, key, value, description: null, category: "general", isSecure, isEditable: true, createdAt: now, updatedAt: now,
    });
  }

  /** The next `count` requests fail (criteria writes only, unless `allRequests`: team listings and every other read too). */
  down(count: number, mode: DownMode = "503", allRequests = false): void {
    this.downRemaining = count;
    this.downMode = mode;
    this.downOnlyCriteria = !allRequests;
  }

  slow(ms: number): void {
    this.slowMs = ms;
  }

  teamBySlug(slug: string): FakeTeam | undefined {
    return this.teams.find((t) => t.nickname === slug);
  }

  /** The current row of a team's criterion. */
  current(slug: string, criteriaType: string): CriteriaRow | undefined {
    const team = this.teamBySlug(slug);
    return team ? this.criteria.get(`${team.id}|${team.hackathonId}|${criteriaType}`) : undefined;
  }

  /** History rows (one per write) of a team's criterion. */
  historyOf(slug: string, criteriaType: string): HistoryRow[] {
    const row = this.current(slug, criteriaType);
    return row ? this.history.filter((h) => h.teamCriteriaId === row.id) : [];
  }

  criteriaWrites(): RecordedHubRequest[] {
    return this.requests.filter((r) => r.method === "POST" && r.path === "/api/service/team-criteria");
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://hub");
    const { text: raw, bytes } = await readBody(req);
    const record = (status: number, body: unknown) => {
      this.requests.push({ method: req.method ?? "", path: url.pathname, status, body: parseOrText(raw), at: Date.now() });
      return body;
    };
    if (this.slowMs) await new Promise((r) => setTimeout(r, this.slowMs));
    if (this.latency) await new Promise((r) => setTimeout(r, Math.random() < 0.05 ? 50 + Math.random() * 200 : Math.random() * 5));
    const isCriteriaWrite = req.method === "POST" && url.pathname === "/api/service/team-criteria";
    if (this.downRemaining > 0 && (isCriteriaWrite || !this.downOnlyCriteria)) {
      this.downRemaining--;
      if (this.downMode === "reset") {
        record(0, null);
        req.socket.destroy();
        return;
      }
      const status = Number(this.downMode);
      return send(res, status, record(status, status === 500 ? { error: "Internal server error" } : { error: "Service Unavailable" }));
    }
    const reply = (status: number, body: unknown) => send(res, status, record(status, body));
    if (bytes > this.bodyLimitBytes) return reply(413, { error: `Body exceeded ${this.bodyLimitBytes} bytes limit` });

    const route = `${req.method} ${url.pathname}`;
    const needed: Record<string, string> = {
      "GET /api/service/teams": PERMISSIONS.teams,
      "GET /api/service/teams/environment": PERMISSIONS.envRead,
      "POST /api/service/team-criteria": PERMISSIONS.envWrite,
      "GET /api/service/team-criteria": PERMISSIONS.envRead,
    };
    const permission = needed[route];
    if (!permission) return reply(404, { error: "Not found" });
    const key = req.headers["x-api-key"];
    const permissions = typeof key === "string" ? this.keys.get(sha256(key)) : undefined;
    if (!permissions) return reply(401, { error: "Invalid API key" });
    if (!permissions.includes("*") && !permissions.includes(permission)) return reply(403, { error: "Insufficient permissions" });

    try {
      switch (route) {
        case "GET /api/service/teams":
          return reply(200, this.listTeams(url.searchParams));
        case "GET /api/service/teams/environment": {
          const answer = this.listEnvironment(url.searchParams);
          return answer ? reply(200, answer) : reply(404, { error: "Team not found" });
        }
        case "POST /api/service/team-criteria":
          return reply(200, this.bulkWrite(JSON.parse(raw)));
        case "GET /api/service/team-criteria": {
          const answer = this.readCriteria(url.searchParams);
          return answer ? reply(200, answer) : reply(404, { error: "Team not found" });
        }
      }
    } catch {
      // The Hub answers anything that throws, a failed body validation included, with a 500.
      return reply(500, { error: "Internal server error" });
    }
  }

  private listTeams(params: URLSearchParams) {
    const status = params.get("status") || "APPROVED";
    const hackathonId = params.get("hackathonId");
    const teams = this.teams
      .filter((t) => t.status === status && (!hackathonId || t.hackathonId === hackathonId))
      .sort((a, b) => a.nickname.localeCompare(b.nickname));
    return { teams, count: teams.length, status };
  }

  private teamEnvironment(team: FakeTeam, category: string | null) {
    const entries = this.environment
      .filter((e) => e.teamId === team.id && (!category || e.category === category))
      .map((e) => ({ ...e, value: e.isSecure ? MASK : e.value }));
    return { teamId: team.id, teamSlug: team.nickname, teamName: team.name, environment: entries, categories: [...new Set(entries.map((e) => e.category))] };
  }

  private listEnvironment(params: URLSearchParams) {
    const slug = params.get("team");
    const category = params.get("category");
    if (slug) {
      const team = this.teamBySlug(slug);
      if (!team) return null;
      const one = this.teamEnvironment(team, category);
      return { teams: [one], team: one };
    }
    return { teams: this.teams.map((t) => this.teamEnvironment(t, category)) };
  }

  private bulkWrite(body: unknown) {
    const data = bulkCriteriaUpdateSchema.parse(body);
    let updatedEntries = 0;
    let createdEntries = 0;
    const errors: { teamSlug: string; criteriaType: string; error: string }[] = [];
    const processed = new Set<string>();
    for (const update of data.updates) {
      const team = this.teamBySlug(update.teamSlug);
      if (!team) {
        errors.push({ teamSlug: update.teamSlug, criteriaType: update.criteriaType, error: "Team not found" });
        continue;
      }
      if (team.hackathonId !== update.hackathonId) {
        errors.push({ teamSlug: update.teamSlug, criteriaType: update.criteriaType, error: "Hackathon ID mismatch" });
        continue;
      }
      if (update.score !== undefined && !Number.isInteger(update.score)) {
        // The score column is an integer: the database refuses the write of this item.
        errors.push({
          teamSlug: update.teamSlug,
          criteriaType: update.criteriaType,
          error: `Invalid value provided. Expected Int, provided Float.`,
        });
        continue;
      }
      const key = `${team.id}|${update.hackathonId}|${update.criteriaType}`;
      const now = new Date().toISOString();
      const existing = this.criteria.get(key);
      const values = { status: update.status, score: update.score ?? null, metrics: update.metrics ?? null, updatedBy: update.updatedBy };
      if (existing) {
        Object.assign(existing, values, { lastUpdated: now });
        updatedEntries++;
      } else {
        this.criteria.set(key, { id: randomUUID(), teamId: team.id, hackathonId: update.hackathonId, criteriaType: update.criteriaType, ...values, lastUpdated: now });
        createdEntries++;
      }
      this.history.push({ teamCriteriaId: this.criteria.get(key)!.id, ...values, createdAt: now });
      processed.add(team.id);
    }
    return {
      updatedEntries,
      createdEntries,
      processedTeams: processed.size,
      totalRequests: data.updates.length,
      ...(errors.length ? { errors } : {}),
    };
  }

  private readCriteria(params: URLSearchParams) {
    const slug = params.get("team");
    const hackathon = params.get("hackathon");
    const type = params.get("criteriaType");
    let teamId: string | undefined;
    if (slug) {
      const team = this.teamBySlug(slug);
      if (!team) return null;
      teamId = team.id;
    }
    const criteria = [...this.criteria.values()].filter(
      (c) => (!teamId || c.teamId === teamId) && (!hackathon || c.hackathonId === hackathon) && (!type || c.criteriaType === type),
    );
    return { criteria };
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function readBody(req: IncomingMessage): Promise<{ text: string; bytes: number }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    const done = () => {
      const body = Buffer.concat(chunks);
      resolve({ text: body.toString("utf8"), bytes: body.length });
    };
    req.on("end", done);
    req.on("error", done);
  });
}

function parseOrText(raw: string): unknown {
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
