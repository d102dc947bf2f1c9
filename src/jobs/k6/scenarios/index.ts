// The built-in scenario catalog: k6 scripts written for the Biletter ticketing API
// (../../../../shared/hackload/hub-api.md), each parameterised by env: API_URL, VUS, DURATION or
// STAGES, THINK_TIME (and a few of its own, listed in `env`). Searches are read-only GETs; the
// booking flow writes as a user would; none calls POST /api/reset.
import { ARCHIVE_SEARCH, ARCHIVE_SEARCH_SOURCE } from "./archive-search.js";
import { AUTH_LOGIN, AUTH_LOGIN_SOURCE } from "./auth-login.js";
import { EVENT_SEARCH, EVENT_SEARCH_SOURCE } from "./event-search.js";
import { HTTP_GET_SMOKE, HTTP_GET_SMOKE_SOURCE } from "./http-get-smoke.js";
import type { ScenarioShape } from "./prelude.js";
import { TICKET_BOOKING, TICKET_BOOKING_SOURCE } from "./ticket-booking.js";

export interface Scenario {
  name: string;
  description: string;
  /** The Hub criterion the scenario measures, if any. */
  criteria: string | null;
  defaults: {
    vus: number;
    durationMs: number;
    thinkTimeMs: number;
    /** Shared-iterations scenarios: the iterations the VUs share (ITERATIONS). */
    iterations: number | null;
  };
  thresholds: Record<string, string[]>;
  /** Scenario-specific env the script reads, with what it means. */
  env: Record<string, string>;
  source: string;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "1m30s" → 90000 (the k6 duration forms the catalog uses). */
export function k6DurationMs(text: string): number {
  let total = 0;
  const parts = text.match(/(\d+(?:\.\d+)?)(ms|s|m|h)/g);
  if (!parts || parts.join("") !== text) throw new Error(`not a k6 duration: "${text}"`);
  for (const part of parts) {
    const [, value, unit] = /(\d+(?:\.\d+)?)(ms|s|m|h)/.exec(part)!;
    total += Number(value) * UNIT_MS[unit];
  }
  return total;
}

function scenario(shape: ScenarioShape, description: string, criteria: string | null, env: Record<string, string>, source: string): Scenario {
  return {
    name: shape.name,
    description,
    criteria,
    defaults: {
      vus: shape.defaultVus,
      durationMs: k6DurationMs(shape.defaultDuration),
      thinkTimeMs: shape.defaultThinkTime * 1000,
      iterations: shape.executor === "constant-vus" ? null : shape.executor.sharedIterations,
    },
    thresholds: shape.thresholds,
    env,
    source,
  };
}

export const SCENARIOS: readonly Scenario[] = [
  scenario(HTTP_GET_SMOKE, "GET one path of the target over and over (default the event list)", null, { SMOKE_PATH: "the path to GET (default /api/events?page=1&pageSize=20)" }, HTTP_GET_SMOKE_SOURCE),
  scenario(EVENT_SEARCH, "search events by text: GET /api/events?query=...", "EVENT_SEARCH", { SEARCH_TERMS: "comma-separated search terms", PAGE_SIZE: "results per page (20)" }, EVENT_SEARCH_SOURCE),
  scenario(ARCHIVE_SEARCH, "search past events by text and date: GET /api/events?query=...&date=...", "ARCHIVE_SEARCH", { SEARCH_TERMS: "comma-separated search terms", ARCHIVE_FROM: "earliest date searched (2020-01-01)", ARCHIVE_TO: "latest date searched (2024-12-31)", PAGE_SIZE: "results per page (20)" }, ARCHIVE_SEARCH_SOURCE),
  scenario(AUTH_LOGIN, "a fixed number of authenticated requests (HTTP Basic, GET /api/bookings)", "AUTH_PERFORMANCE", { USERS: "email:password pairs, comma-separated", ITERATIONS: "iterations shared by the VUs (1000)" }, AUTH_LOGIN_SOURCE),
  scenario(TICKET_BOOKING, "the booking flow: POST /api/bookings, GET /api/seats, PATCH /api/seats/select, PATCH /api/bookings/initiatePayment", "TICKET_BOOKING", { EVENT_IDS: "events to book (default: the first page of /api/events)", USERS: "email:password used for the requests, if the API wants credentials" }, TICKET_BOOKING_SOURCE),
];

export const SCENARIO_NAMES: readonly string[] = SCENARIOS.map((s) => s.name);

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
