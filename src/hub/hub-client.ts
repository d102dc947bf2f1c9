// The Hub's service API (shared/hackload/hub-api.md): team discovery and bulk criteria writes.
// Every failure becomes a HubError whose `kind` says what the caller should do:
//   auth        401/403: a configuration error (wrong key or missing permission). Retrying soon is pointless.
//   unavailable network error, timeout, or a 5xx other than 500: the Hub is down; retry with back-off.
//   rejected    500 (the Hub's answer to an invalid body, and to its own crashes) or another 4xx:
//               retry a bounded number of times, then park the payload.
//   protocol    a 200 whose body is not what the contract says.
// Every HTTP answer below 500, to any call, tells the `onReachable` listeners that the Hub is up
// (the delivery worker ends an outage back-off on it); `probe` is the cheap call for asking.
// The API key is sent as X-API-Key and never appears in errors or logs.
import { z } from "zod";
import type { CriteriaUpdate } from "./criteria.js";

export type HubErrorKind = "auth" | "unavailable" | "rejected" | "protocol";

export class HubError extends Error {
  constructor(
    readonly kind: HubErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "HubError";
  }
}

export interface HubClientOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  /** Attempts for reads (team discovery); writes are retried by the outbox. */
  readAttempts: number;
  /** Back-off between read attempts (doubled each time). */
  readBackoffMs?: number;
  userAgent?: string;
}

const hubTeam = z.object({
  id: z.string(),
  name: z.string().nullish(),
  nickname: z.string(),
  hackathonId: z.string(),
  status: z.string().nullish(),
});
const teamsResponse = z.object({ teams: z.array(hubTeam) });

const environmentEntry = z.object({
  key: z.string(),
  value: z.string().nullish(),
  isSecure: z.boolean().nullish(),
});
const environmentResponse = z.object({
  teams: z.array(z.object({ teamId: z.string().nullish(), teamSlug: z.string(), environment: z.array(environmentEntry).default([]) })),
});

const bulkResponse = z.object({
  updatedEntries: z.number(),
  createdEntries: z.number(),
  processedTeams: z.number().optional(),
  totalRequests: z.number().optional(),
  errors: z.array(z.object({ teamSlug: z.string(), criteriaType: z.string(), error: z.string() })).optional(),
});

const criteriaReadResponse = z.object({ criteria: z.array(z.unknown()) });

export type HubTeam = z.infer<typeof hubTeam>;
export type BulkCriteriaResponse = z.infer<typeof bulkResponse>;
/** One (team, hackathon, criteria) row of the Hub. */
export interface CriteriaKey {
  teamSlug: string;
  hackathonId: string;
  criteriaType: string;
}

export class HubClient {
  private readonly reachableListeners = new Set<() => void>();

  constructor(private readonly options: HubClientOptions) {}

  /** Calls `listener` whenever the Hub answers a call with a status below 500; returns the unsubscribe. */
  onReachable(listener: () => void): () => void {
    this.reachableListeners.add(listener);
    return () => this.reachableListeners.delete(listener);
  }

  /**
   * Whether the Hub answers again: one read of one criterion's current row (the cheapest call the
   * contract offers), no retries. True on any answer below 500, a 401/403 included: the Hub is up,
   * whatever it thinks of the key. `signal` abandons the request.
   */
  async probe(row: CriteriaKey, signal?: AbortSignal): Promise<boolean> {
    const query = new URLSearchParams({ team: row.teamSlug, hackathon: row.hackathonId, criteriaType: row.criteriaType });
    try {
      await this.request("GET", `/api/service/team-criteria?${query}`, criteriaReadResponse, undefined, signal);
      return true;
    } catch (error) {
      if (!(error instanceof HubError)) throw error;
      return error.status !== undefined && error.status < 500;
    }
  }

  /** Teams of a hackathon with the given status (the Hub's default: APPROVED), ordered by nickname. */
  async listTeams(hackathonId: string, status = "APPROVED"): Promise<HubTeam[]> {
    const query = new URLSearchParams({ hackathonId, status });
    const body = await this.read(`/api/service/teams?${query}`, teamsResponse);
    return body.teams;
  }

  /**
   * Every team's environment as key -> value. Secure values come back masked from the service
   * API, so they are left out: a masked value is no value.
   */
  async environments(): Promise<Map<string, Map<string, string>>> {
    const body = await this.read("/api/service/teams/environment", environmentResponse);
    const byTeam = new Map<string, Map<string, string>>();
    for (const team of body.teams) {
      const values = new Map<string, string>();
      for (const entry of team.environment) {
        const value = entry.value?.trim();
        if (entry.isSecure || !value) continue;
        values.set(entry.key, value);
      }
      byTeam.set(team.teamSlug, values);
    }
    return byTeam;
  }

  /** One bulk write. Per-item errors come back inside the 200 (`errors`); anything else throws a HubError. */
  async postCriteria(updates: CriteriaUpdate[]): Promise<BulkCriteriaResponse> {
    return this.request("POST", "/api/service/team-criteria", bulkResponse, { updates });
  }

  private async read<T>(path: string, schema: z.ZodType<T>): Promise<T> {
    const attempts = Math.max(1, this.options.readAttempts);
    let delay = this.options.readBackoffMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request("GET", path, schema);
      } catch (error) {
        const retryable = error instanceof HubError && (error.kind === "unavailable" || error.kind === "rejected");
        if (!retryable || attempt >= attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay * (0.8 + Math.random() * 0.4)));
        delay *= 2;
      }
    }
  }

  private async request<T>(method: "GET" | "POST", path: string, schema: z.ZodType<T>, body?: unknown, signal?: AbortSignal): Promise<T> {
    const url = new URL(path, this.options.baseUrl.endsWith("/") ? this.options.baseUrl : `${this.options.baseUrl}/`);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          "x-api-key": this.options.apiKey,
          accept: "application/json",
          "user-agent": this.options.userAgent ?? "jobscheduler-hub-client/1",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(this.options.timeoutMs)]) : AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      throw new HubError("unavailable", `${method} ${url.pathname}: ${networkMessage(error, this.options.timeoutMs)}`);
    }
    if (response.status < 500) for (const listener of this.reachableListeners) listener();
    const text = await response.text().catch(() => "");
    if (!response.ok) {
      const detail = hubErrorMessage(text) ?? `HTTP ${response.status}`;
      const where = `${method} ${url.pathname} answered ${response.status}`;
      if (response.status === 401 || response.status === 403) {
        throw new HubError("auth", `${where} (${detail}): check HUB_API_KEY and its permissions (teams:read, environment:read, environment:write)`, response.status);
      }
      if (response.status === 500 || (response.status >= 400 && response.status < 500)) throw new HubError("rejected", `${where}: ${detail}`, response.status);
      throw new HubError("unavailable", `${where}: ${detail}`, response.status);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new HubError("protocol", `${method} ${url.pathname} answered ${response.status} with a body that is not JSON`, response.status);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new HubError("protocol", `${method} ${url.pathname} answered an unexpected body: ${parsed.error.issues[0]?.path.join(".")} ${parsed.error.issues[0]?.message}`, response.status);
    }
    return parsed.data;
  }
}

function hubErrorMessage(text: string): string | null {
  try {
    const body = JSON.parse(text) as { error?: unknown };
    return typeof body.error === "string" ? body.error : null;
  } catch {
    return null;
  }
}

function networkMessage(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const message = cause instanceof Error ? cause.message : String(cause);
  return code && !message.includes(code) ? `${code} ${message}` : message;
}
