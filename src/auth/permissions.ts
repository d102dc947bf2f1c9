// THE table of who may call what: every RPC of jobscheduler.v1.JobScheduler, the least role
// that may call it, whether it changes anything (then every call is audited, not only refusals),
// what a team-scoped key may do with it, and which id the audit log names as its target.
// A new RPC without an entry is a compile error (src/api/server.ts), CallGuard refuses to start
// with a method the table lacks, and test/auth-matrix.test.ts walks the table over a real socket.
import type { Role } from "./principal.js";

export const ROLES: readonly Role[] = ["viewer", "submitter", "operator", "admin"];
const RANK: Record<Role, number> = { viewer: 0, submitter: 1, operator: 2, admin: 3 };

export function roleAtLeast(role: Role, least: Role): boolean {
  return RANK[role] >= RANK[least];
}

/**
 * What a team-scoped key may do with an RPC (an unscoped key is never limited by scope):
 * - `none`: the answer holds nothing bound to a team (job types, dispatching counts, limits);
 * - `every-team`: it changes the service for every team, so a scoped key may not call it;
 * - `job`, `schedule`, `key`: the request's id must name the team's own (else NOT_FOUND, as for
 *   an id that does not exist);
 * - `new-job`, `new-schedule`, `schedule-change`, `new-key`: what is created must be bound to
 *   the team (else PERMISSION_DENIED naming the field);
 * - `*-list`: the list is filtered to the team (a filter naming another team is refused);
 * - `outbox-items`: every item named must be the team's, and "all parked items" is refused.
 */
export type Scope =
  | "none" | "every-team"
  | "job" | "new-job" | "job-list"
  | "schedule" | "new-schedule" | "schedule-change" | "schedule-list"
  | "outbox-list" | "outbox-items"
  | "key" | "new-key" | "key-list" | "audit-list";

type Target = (request: any, response: any) => string | undefined;

export interface RpcRule {
  role: Role;
  mutates: boolean;
  scope: Scope;
  /** The job, schedule, key or item the call is about, for the audit log. */
  target?: Target;
}

const jobId: Target = (request) => request?.jobId;
const scheduleId: Target = (request) => request?.scheduleId;
const createdJob: Target = (_request, response) => response?.job?.id;

export const RPC_RULES = {
  ScheduleJob: { role: "submitter", mutates: true, scope: "new-job", target: createdJob },
  GetJobStatus: { role: "viewer", mutates: false, scope: "job", target: jobId },
  ListJobs: { role: "viewer", mutates: false, scope: "job-list" },
  CancelJob: { role: "submitter", mutates: true, scope: "job", target: jobId },
  WatchJob: { role: "viewer", mutates: false, scope: "job", target: jobId },
  ListJobTypes: { role: "viewer", mutates: false, scope: "none" },
  PauseDispatching: { role: "operator", mutates: true, scope: "every-team" },
  ResumeDispatching: { role: "operator", mutates: true, scope: "every-team" },
  GetDispatchingStatus: { role: "viewer", mutates: false, scope: "none" },
  GetDispatchLimits: { role: "viewer", mutates: false, scope: "none" },
  UpdateDispatchLimits: { role: "operator", mutates: true, scope: "every-team" },
  RetryJob: { role: "submitter", mutates: true, scope: "job", target: jobId },
  CreateSchedule: { role: "operator", mutates: true, scope: "new-schedule", target: (_request, response) => response?.id },
  GetSchedule: { role: "viewer", mutates: false, scope: "schedule", target: scheduleId },
  ListSchedules: { role: "viewer", mutates: false, scope: "schedule-list" },
  UpdateSchedule: { role: "operator", mutates: true, scope: "schedule-change", target: scheduleId },
  PauseSchedule: { role: "operator", mutates: true, scope: "schedule", target: scheduleId },
  ResumeSchedule: { role: "operator", mutates: true, scope: "schedule", target: scheduleId },
  DeleteSchedule: { role: "operator", mutates: true, scope: "schedule", target: scheduleId },
  TriggerSchedule: { role: "operator", mutates: true, scope: "schedule", target: scheduleId },
  ListOutbox: { role: "viewer", mutates: false, scope: "outbox-list" },
  ResendOutbox: { role: "operator", mutates: true, scope: "outbox-items", target: (request) => request?.itemIds?.join(",") || "*" },
  CreateApiKey: { role: "admin", mutates: true, scope: "new-key", target: (_request, response) => response?.key?.id },
  ListApiKeys: { role: "admin", mutates: false, scope: "key-list" },
  RevokeApiKey: { role: "admin", mutates: true, scope: "key", target: (request) => request?.keyId },
  ListAuditEvents: { role: "admin", mutates: false, scope: "audit-list" },
} as const satisfies Record<string, RpcRule>;

/** The RPCs the table knows (src/api/server.ts checks at compile time that they are exactly the service's). */
export type RpcName = keyof typeof RPC_RULES;

const BY_METHOD: ReadonlyMap<string, RpcRule> = new Map(Object.entries(RPC_RULES));

export function ruleOf(method: string): RpcRule | undefined {
  return BY_METHOD.get(method);
}
