// Tenant isolation: what a team-scoped key may see and touch, per the Scope of its RPC
// (permissions.ts). Another team's job, schedule, outbox item or key is answered exactly as
// one that does not exist (same code, same message), so a scoped key cannot even learn that
// it exists. Lists are filtered by setting the request's team filter before the handler runs.
import { JOB_ID } from "../jobs/ids.js";
import type { JobRecord } from "../jobs/job.js";
import type { ScheduleRecord } from "../store/schedule-store.js";

/** A schedule spec as a request carries it and as the store keeps it (proto JSON): the fields scope reads. */
interface SpecLike {
  forEachTeam?: unknown;
  jobTemplate?: { team?: { slug?: string } };
}
import type { OutboxItemRecord } from "../store/outbox-queries.js";
import { KEY_ID } from "./api-key.js";
import { AuthError } from "./errors.js";
import type { Scope } from "./permissions.js";

/** The reads scope checks need: each answers null for an id that does not exist. */
export interface ScopeLookups {
  getJob(id: string): Promise<JobRecord | null>;
  getSchedule(id: string): Promise<ScheduleRecord | null>;
  getOutboxItem(id: string): Promise<OutboxItemRecord | null>;
  /** The key's team (null: unscoped), or undefined for a key that does not exist. */
  keyTeam(id: string): Promise<string | null | undefined>;
}

/** The team a schedule's jobs are bound to; null for a for_each_team schedule (every team) or an unbound one. */
export function scheduleTeam(stored: unknown): string | null {
  const spec = stored as SpecLike | undefined;
  if (!spec || spec.forEachTeam) return null;
  return spec.jobTemplate?.team?.slug || null;
}

const OUTBOX_ITEM_ID = JOB_ID;

type Request = Record<string, any>;

/** Throws when `team`'s key may not make this call; may set the request's team filter. */
export async function checkScope(scope: Scope, method: string, request: Request, team: string, lookups: ScopeLookups): Promise<void> {
  switch (scope) {
    case "none":
      return;
    case "every-team":
      throw AuthError.permissionDenied(`${method} changes the service for every team; a key scoped to team "${team}" may not call it`);
    case "job":
      return checkJob(request.jobId, team, lookups);
    case "new-job":
      if (request.team?.slug !== team) {
        throw AuthError.permissionDenied(`must be "${team}": a key scoped to a team submits only jobs bound to it`, "team.slug");
      }
      return;
    case "job-list":
      return filterList(request, "teamSlug", "team_slug", team, "jobs");
    case "schedule":
      return checkSchedule(request.scheduleId, team, lookups);
    case "schedule-change":
      await checkSchedule(request.scheduleId, team, lookups);
      return checkNewSchedule(request.spec, team);
    case "new-schedule":
      return checkNewSchedule(request.spec, team);
    case "schedule-list":
      return filterList(request, "teamSlug", "team_slug", team, "schedules");
    case "outbox-list":
      return filterList(request, "teamSlug", "team_slug", team, "outbox items");
    case "outbox-items":
      return checkOutboxItems(request.itemIds ?? [], team, lookups);
    case "key": {
      const id = request.keyId;
      if (typeof id !== "string" || !KEY_ID.test(id)) return;
      const owner = await lookups.keyTeam(id);
      if (owner !== undefined && owner !== team) throw AuthError.notFound(`API key ${id} not found`);
      return;
    }
    case "new-key":
      if (request.team !== team) throw AuthError.permissionDenied(`must be "${team}": a key scoped to a team creates only keys scoped to it`, "team");
      return;
    case "key-list":
      return filterList(request, "team", "team", team, "API keys");
    case "audit-list":
      return filterList(request, "team", "team", team, "audit events");
  }
}

async function checkJob(id: unknown, team: string, lookups: ScopeLookups): Promise<void> {
  // A malformed id is left to the handler, which names the field; a missing job too.
  if (typeof id !== "string" || !JOB_ID.test(id)) return;
  const job = await lookups.getJob(id);
  if (job && job.team?.slug !== team) throw AuthError.notFound(`job ${id} not found`);
}

async function checkSchedule(id: unknown, team: string, lookups: ScopeLookups): Promise<void> {
  if (typeof id !== "string" || !JOB_ID.test(id)) return;
  const schedule = await lookups.getSchedule(id);
  if (schedule && scheduleTeam(schedule.spec) !== team) throw AuthError.notFound(`schedule ${id} not found`);
}

function checkNewSchedule(spec: SpecLike | undefined, team: string): void {
  if (spec?.forEachTeam) throw AuthError.permissionDenied("a key scoped to a team may not create schedules that fire for every team", "spec.for_each_team");
  if (spec?.jobTemplate?.team?.slug !== team) {
    throw AuthError.permissionDenied(`must be "${team}": a key scoped to a team schedules only jobs bound to it`, "spec.job_template.team.slug");
  }
}

async function checkOutboxItems(ids: unknown[], team: string, lookups: ScopeLookups): Promise<void> {
  if (ids.length === 0) throw AuthError.permissionDenied("a key scoped to a team must name the items to resend (empty means every team's)", "item_ids");
  for (const id of ids) {
    if (typeof id !== "string" || !OUTBOX_ITEM_ID.test(id)) continue;
    const item = await lookups.getOutboxItem(id);
    if (item && item.teamSlug !== team) throw AuthError.notFound(`outbox item ${id} not found`);
  }
}

function filterList(request: Request, property: string, field: string, team: string, what: string): void {
  const given = request[property];
  if (given && given !== team) throw AuthError.permissionDenied(`a key scoped to team "${team}" lists only that team's ${what}`, field);
  request[property] = team;
}
