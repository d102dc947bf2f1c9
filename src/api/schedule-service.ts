import type {
  CreateScheduleRequest, DeleteScheduleRequest, DeleteScheduleResponse, GetScheduleRequest, ListSchedulesRequest,
  ListSchedulesResponse, PauseScheduleRequest, ResumeScheduleRequest, Schedule, TriggerScheduleRequest,
  TriggerScheduleResponse, UpdateScheduleRequest,
} from "../gen/jobscheduler/v1/jobscheduler.js";
import type { Schedule as ScheduleValue } from "../dispatch/schedules/definition.js";
import type { Scheduler } from "../dispatch/schedules/scheduler.js";
import { JOB_ID } from "../jobs/ids.js";
import { InvalidField } from "../jobs/errors.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type ScheduleRpcs } from "./job-scheduler-service.js";
import { jobToProto } from "./mapping.js";
import type { RpcContext, RpcInstrumentation } from "./rpc.js";
import { optionalScheduleSpecFromWire, scheduleSpecToWire } from "./schedule-wire.js";
import { checkText, ID_RULE, PAGE_TOKEN_RULE, REASON_RULE } from "./validation.js";

const date = (ms: number | null) => (ms === null ? undefined : new Date(ms));

export function scheduleToProto(schedule: ScheduleValue): Schedule {
  return {
    id: schedule.id,
    spec: scheduleSpecToWire(schedule.spec),
    paused: schedule.paused,
    pausedReason: schedule.pausedReason,
    // A paused schedule has no coming fire; the stored position is kept for catch-up on resume.
    nextFireTime: schedule.paused ? undefined : date(schedule.nextFireAt),
    lastFireTime: date(schedule.lastFireAt),
    fires: schedule.fires,
    misses: schedule.misses,
    skips: schedule.skips,
    source: schedule.source,
    createTime: new Date(schedule.createdAt),
    updateTime: new Date(schedule.updatedAt),
  };
}

function requireScheduleId(id: string): string {
  if (!id) throw new InvalidField("schedule_id", "is required");
  checkText("schedule_id", id, ID_RULE);
  if (!JOB_ID.test(id)) throw new InvalidField("schedule_id", `"${id}" is not a schedule id`);
  return id;
}

// Schedules are listed by name; the token is the last name returned.
function encodeToken(name: string): string {
  return Buffer.from(JSON.stringify({ n: name })).toString("base64url");
}

function decodeToken(token: string): string {
  try {
    const value = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { n?: unknown };
    if (typeof value?.n === "string") return value.n;
  } catch {
    // reported below
  }
  throw new InvalidField("page_token", "is malformed (pass back the next_page_token of a previous response)");
}

/** The schedule RPCs: thin mapping onto the Scheduler, which validates and serialises changes. */
export function scheduleService(scheduler: Scheduler, rpc: RpcInstrumentation): ScheduleRpcs {
  async function listSchedules(request: ListSchedulesRequest): Promise<ListSchedulesResponse> {
    const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
    if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw new InvalidField("page_size", `must be between 1 and ${MAX_PAGE_SIZE}`);
    const afterName = request.pageToken ? decodeToken(checkText("page_token", request.pageToken, PAGE_TOKEN_RULE)) : undefined;
    checkText("team_slug", request.teamSlug, { max: 100 });
    const rows = await scheduler.list({ afterName, team: request.teamSlug || undefined, limit: pageSize + 1 });
    const page = rows.slice(0, pageSize);
    const last = page.at(-1);
    return { schedules: page.map(scheduleToProto), nextPageToken: rows.length > pageSize && last ? encodeToken(last.name) : "" };
  }

  async function pauseSchedule(request: PauseScheduleRequest): Promise<Schedule> {
    requireScheduleId(request.scheduleId);
    checkText("reason", request.reason, REASON_RULE);
    return scheduleToProto(await scheduler.pause(request.scheduleId, request.reason));
  }

  async function triggerSchedule(request: TriggerScheduleRequest, ctx: RpcContext): Promise<TriggerScheduleResponse> {
    const outcome = await scheduler.trigger(requireScheduleId(request.scheduleId));
    ctx.logger.info({ scheduleId: request.scheduleId, jobs: outcome.jobs.map((j) => j.id), skipped: outcome.skippedReason }, "schedule triggered");
    return { jobs: outcome.jobs.map((job) => jobToProto(job)), skippedReason: outcome.skippedReason };
  }

  return {
    createSchedule: rpc.unary("CreateSchedule", async (request: CreateScheduleRequest) => scheduleToProto(await scheduler.create(optionalScheduleSpecFromWire(request.spec)))),
    getSchedule: rpc.unary("GetSchedule", async (request: GetScheduleRequest) =>
      scheduleToProto(await scheduler.get(requireScheduleId(request.scheduleId))),
    ),
    listSchedules: rpc.unary("ListSchedules", listSchedules),
    updateSchedule: rpc.unary("UpdateSchedule", async (request: UpdateScheduleRequest) =>
      scheduleToProto(await scheduler.update(requireScheduleId(request.scheduleId), optionalScheduleSpecFromWire(request.spec))),
    ),
    pauseSchedule: rpc.unary("PauseSchedule", pauseSchedule),
    resumeSchedule: rpc.unary("ResumeSchedule", async (request: ResumeScheduleRequest) =>
      scheduleToProto(await scheduler.resume(requireScheduleId(request.scheduleId))),
    ),
    deleteSchedule: rpc.unary("DeleteSchedule", async (request: DeleteScheduleRequest): Promise<DeleteScheduleResponse> => {
      await scheduler.delete(requireScheduleId(request.scheduleId));
      return {};
    }),
    triggerSchedule: rpc.unary("TriggerSchedule", triggerSchedule),
  };
}
