import type { ServerWritableStream } from "@grpc/grpc-js";
import type {
  RetryJobRequest, UpdateDispatchLimitsRequest,
  CancelJobRequest, DispatchingStatus, GetJobStatusRequest, Job, JobEvent, JobSchedulerServer, ListJobsRequest,
  ListJobsResponse, ListJobTypesResponse, PauseDispatchingRequest, ScheduleJobRequest, ScheduleJobResponse, WatchJobRequest,
} from "../gen/jobscheduler/v1/jobscheduler.js";
import type { Clock } from "../dispatch/clock.js";
import type { Dispatcher, DispatchingState } from "../dispatch/dispatcher.js";
import { QueuePositions } from "../dispatch/queue-positions.js";
import type { JobLifecycle } from "../dispatch/lifecycle.js";
import { JOB_ID } from "../jobs/ids.js";
import { isTerminal, type JobRecord } from "../jobs/job.js";
import type { JobEvents, PublishedTransition } from "../jobs/job-events.js";
import { KeyedSerial } from "../shared/keyed-serial.js";
import { admitEgress, type EgressAdmission } from "../jobs/egress/admission.js";
import type { JobRegistry } from "../jobs/registry.js";
import { newJobRecord, retryJobRecord } from "../jobs/submission/record.js";
import { LabelSelectorError, parseLabelSelector } from "../store/label-selector.js";
import type { JobStore } from "../store/store.js";
import { limitsToProto, updatedLimits } from "./dispatch-limits.js";
import { Conflict, fromZodError, InvalidField, NotFound, OutOfRange, PreconditionFailed } from "../jobs/errors.js";
import { echo } from "./errors.js";
import { eventToProto, handlerToProto, jobToProto, stateFromProto } from "./mapping.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import type { RpcContext, RpcInstrumentation, StreamContext } from "./rpc.js";
import { checkText, ID_RULE, idempotencyKey, PAGE_TOKEN_RULE, REASON_RULE, validateScheduleJob } from "./validation.js";

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export interface JobSchedulerDeps {
  store: JobStore;
  registry: JobRegistry;
  lifecycle: JobLifecycle;
  dispatcher: Dispatcher;
  events: JobEvents;
  /** How long CancelJob waits for a running job to stop before answering. */
  cancelWaitMs: number;
  defaultQueueTimeoutMs: number;
  /** How far ahead a request's run_at may be (MAX_SCHEDULE_HORIZON). */
  maxScheduleHorizonMs: number;
  clock: Clock;
  /** Who leads, as this replica sees it (src/leadership/). */
  leadership?: () => { leader: string; leading: boolean };
  /** Where jobs may send requests (src/jobs/egress/): checked before a job is created. */
  egress: EgressAdmission;
}

function requireJobId(id: string, field = "job_id"): string {
  if (!id) throw new InvalidField(field, "is required");
  checkText(field, id, ID_RULE);
  if (!JOB_ID.test(id)) throw new InvalidField(field, `"${id}" is not a job id`);
  return id;
}

async function getJobOr404(store: JobStore, id: string): Promise<JobRecord> {
  const job = await store.getJob(requireJobId(id));
  if (!job) throw new NotFound(`job ${id} not found`);
  return job;
}

function dispatchingToProto(state: DispatchingState, queued: number, leadership = { leader: "", leading: true }): DispatchingStatus {
  return { paused: state.paused, pausedReason: state.pausedReason, running: state.running, maxRunning: state.maxRunning, queued, ...leadership };
}

const IN_FLIGHT: readonly string[] = ["STARTING", "RUNNING"];

/** Resolves with the job once it is terminal, or with null after `ms`. */
function waitForEnd(events: JobEvents, jobId: string, ms: number): Promise<JobRecord | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(null), ms);
    const unsubscribe = events.subscribe(jobId, ({ job }) => {
      if (isTerminal(job.state)) finish(job);
    });
    function finish(job: JobRecord | null) {
      clearTimeout(timer);
      unsubscribe();
      resolve(job);
    }
  });
}

export type ScheduleRpcName =
  | "createSchedule" | "getSchedule" | "listSchedules" | "updateSchedule" | "pauseSchedule"
  | "resumeSchedule" | "deleteSchedule" | "triggerSchedule";

export type ScheduleRpcs = Pick<JobSchedulerServer, ScheduleRpcName>;
export type OutboxRpcs = Pick<JobSchedulerServer, "listOutbox" | "resendOutbox">;
export type SecurityRpcs = Pick<JobSchedulerServer, "createApiKey" | "listApiKeys" | "revokeApiKey" | "listAuditEvents">;

export function jobSchedulerService(deps: JobSchedulerDeps, rpc: RpcInstrumentation, schedules: ScheduleRpcs, outbox: OutboxRpcs, security: SecurityRpcs): JobSchedulerServer {
  const { store, registry, lifecycle, dispatcher, events } = deps;
  const positions = new QueuePositions(store, deps.clock);
  // A masked update reads the limits in force and writes them back: one at a time.
  const limitUpdates = new KeyedSerial();

  async function scheduleJob(request: ScheduleJobRequest, ctx: RpcContext): Promise<ScheduleJobResponse> {
    const submission = validateScheduleJob(request, registry, { now: deps.clock.now(), maxMs: deps.maxScheduleHorizonMs });
    await admitEgress(deps.egress, submission);
    const record = newJobRecord(submission, deps.clock.now(), { defaultQueueTimeoutMs: deps.defaultQueueTimeoutMs });
    const { job, created } = await store.createJob(await ctx.admitJob(record));
    if (!created && job.requestHash !== submission.requestHash) {
      throw new Conflict("idempotency_key", `was already used for job ${job.id} with a different request`);
    }
    if (created) {
      ctx.logger.info({ jobId: job.id, type: job.type }, "job scheduled");
      dispatcher.wake();
    }
    return { job: jobToProto(job), created };
  }

  async function listJobs(request: ListJobsRequest): Promise<ListJobsResponse> {
    const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
    if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw new InvalidField("page_size", `must be between 1 and ${MAX_PAGE_SIZE}`);
    checkText("type", request.type, { max: 64 });
    if (request.type && !registry.get(request.type)) throw new InvalidField("type", `unknown job type "${echo(request.type)}"`);
    checkText("reason", request.reason, { max: 64 });
    checkText("schedule_id", request.scheduleId, ID_RULE);
    checkText("team_slug", request.teamSlug, { max: 100 });
    checkText("page_token", request.pageToken, PAGE_TOKEN_RULE);
    const states = request.states.map((s, i) => {
      const state = stateFromProto(s);
      if (!state) throw new InvalidField(`states[${i}]`, "must be a job state other than UNSPECIFIED");
      return state;
    });
    let labels;
    try {
      labels = parseLabelSelector(request.labelSelector);
    } catch (error) {
      if (error instanceof LabelSelectorError) throw new InvalidField("label_selector", error.message);
      throw error;
    }
    const createdAfter = request.createdAfter?.getTime();
    const createdBefore = request.createdBefore?.getTime();
    for (const [field, value] of [["created_after", createdAfter], ["created_before", createdBefore]] as const) {
      if (value !== undefined && !Number.isFinite(value)) throw new InvalidField(field, "is not a valid timestamp");
    }
    const filters = { type: request.type, states, labels: request.labelSelector, createdAfter, createdBefore, scheduleId: request.scheduleId, reason: request.reason, team: request.teamSlug };
    const after = request.pageToken ? decodePageToken(request.pageToken, filters) : undefined;
    // One extra row tells whether another page exists.
    const rows = await store.listJobs({
      type: request.type || undefined, scheduleId: request.scheduleId || undefined, reason: request.reason || undefined, team: request.teamSlug || undefined,
      states, labels, createdAfter, createdBefore, after, limit: pageSize + 1,
    });
    const page = rows.slice(0, pageSize);
    const last = page.at(-1);
    return {
      jobs: page.map((job) => jobToProto(job)),
      nextPageToken: rows.length > pageSize && last ? encodePageToken({ createdAt: last.createdAt, id: last.id }, filters) : "",
    };
  }

  async function cancelJob(request: CancelJobRequest, ctx: RpcContext): Promise<Job> {
    requireJobId(request.jobId);
    checkText("reason", request.reason, REASON_RULE);
    const outcome = await lifecycle.cancel(request.jobId, request.reason);
    switch (outcome.kind) {
      case "not-found":
        throw new NotFound(`job ${request.jobId} not found`);
      case "already-finished":
        throw new PreconditionFailed(`job ${request.jobId} already finished (${outcome.job.state}) and cannot be cancelled`, "JOB_FINISHED");
      case "cancelled":
        return jobToProto(outcome.job);
      case "stopping": {
        ctx.logger.info({ jobId: request.jobId }, "stopping job on request");
        const ended = await waitForEnd(events, request.jobId, deps.cancelWaitMs);
        return jobToProto(ended ?? (await getJobOr404(store, request.jobId)));
      }
    }
  }

  async function watchJob(request: WatchJobRequest, stream: ServerWritableStream<WatchJobRequest, JobEvent>, ctx: StreamContext): Promise<void> {
    requireJobId(request.jobId);
    // Subscribe before reading, so no transition falls between the read and the subscription.
    const pending: PublishedTransition[] = [];
    let deliver: ((t: PublishedTransition) => void) | null = null;
    const unsubscribe = events.subscribe(request.jobId, (t) => (deliver ? deliver(t) : pending.push(t)));
    try {
      const job = await getJobOr404(store, request.jobId);
      if (request.afterSequence !== undefined && request.afterSequence > job.sequence) {
        throw new OutOfRange("after_sequence", `is past the job's last sequence number (${job.sequence})`);
      }
      let lastSent = request.afterSequence ?? 0;
      let ended = false;
      const send = (event: JobEvent, sequence: number, terminal: boolean) => {
        stream.write(event);
        lastSent = sequence;
        ended ||= terminal;
      };
      if (request.afterSequence !== undefined) {
        for (const event of await store.listEvents(job.id, request.afterSequence)) {
          send(eventToProto(event, event.sequence === job.sequence ? job : undefined), event.sequence, isTerminal(event.state));
        }
        // A finished job with nothing after after_sequence: nothing more will come.
        if (isTerminal(job.state) && lastSent >= job.sequence) ended = true;
      } else {
        const [current] = await store.listEvents(job.id, job.sequence - 1);
        send(eventToProto(current, job), job.sequence, isTerminal(job.state));
      }
      if (ended) return;
      await new Promise<void>((resolve) => {
        const onTransition = (t: PublishedTransition) => {
          if (t.event.sequence <= lastSent) return;
          send(eventToProto(t.event, t.job), t.event.sequence, isTerminal(t.job.state));
          if (ended) resolve();
        };
        for (const t of pending) onTransition(t);
        deliver = onTransition;
        if (ended) resolve();
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
      });
    } finally {
      unsubscribe();
    }
  }

  async function getJobStatus(request: GetJobStatusRequest): Promise<Job> {
    const job = await getJobOr404(store, request.jobId);
    if (job.state !== "QUEUED") return jobToProto(job);
    // The answers already in memory are taken without a turn through a promise each.
    const blocker = dispatcher.blockerWithoutCounts(job) ?? (await dispatcher.blockerOf(job));
    const position = positions.cachedPositionOf(job) ?? (await positions.positionOf(job));
    const due = blocker.reason !== "DELAYED" && blocker.reason !== "RETRY_BACKOFF";
    return jobToProto(job, { position: due ? position : 0, waitingReason: blocker.reason, waitingMessage: blocker.message });
  }

  async function retryJob(request: RetryJobRequest, ctx: RpcContext): Promise<Job> {
    requireJobId(request.jobId);
    const key = idempotencyKey.safeParse(request.idempotencyKey);
    if (!key.success) throw fromZodError(key.error, ["idempotency_key"]);
    const original = await getJobOr404(store, request.jobId);
    if (original.state !== "FAILED" && original.state !== "CANCELLED") {
      throw new PreconditionFailed(`job ${original.id} is ${original.state}; only failed or cancelled jobs can be retried`, "JOB_NOT_RETRYABLE");
    }
    // The policy in force now decides, not the one the original was admitted under.
    await admitEgress(deps.egress, { handler: registry.require(original.type), params: original.params });
    const { job, created } = await store.createJob(await ctx.admitJob(retryJobRecord(original, deps.clock.now(), request.idempotencyKey || null)));
    if (created) {
      ctx.logger.info({ jobId: job.id, retryOf: original.id }, "job retried");
      dispatcher.wake();
    } else if (job.retryOf !== original.id) {
      throw new Conflict("idempotency_key", `was already used for job ${job.id}`);
    }
    return jobToProto(job);
  }

  /** The dispatcher's state (after a pause or resume it may still be being stored) with the store's counts, read meanwhile. */
  async function dispatchingStatus(dispatching: DispatchingState | Promise<DispatchingState>): Promise<DispatchingStatus> {
    const [state, counts] = await Promise.all([dispatching, store.countByTypeAndState()]);
    const queued = counts.filter((c) => c.state === "QUEUED").reduce((sum, c) => sum + c.count, 0);
    const leadership = deps.leadership?.();
    // A follower runs nothing itself: it answers with what the store holds as in flight.
    const running = leadership && !leadership.leading ? counts.filter((c) => IN_FLIGHT.includes(c.state)).reduce((sum, c) => sum + c.count, 0) : state.running;
    return dispatchingToProto({ ...state, running }, queued, leadership);
  }

  return {
    ...schedules,
    ...outbox,
    ...security,
    scheduleJob: rpc.unary("ScheduleJob", scheduleJob),
    getJobStatus: rpc.unary("GetJobStatus", getJobStatus),
    retryJob: rpc.unary("RetryJob", retryJob),
    getDispatchLimits: rpc.unary("GetDispatchLimits", async () => limitsToProto(dispatcher.limitsInForce())),
    updateDispatchLimits: rpc.unary("UpdateDispatchLimits", (request: UpdateDispatchLimitsRequest) =>
      limitUpdates.run("limits", async () => limitsToProto(await dispatcher.setLimits(updatedLimits(request, dispatcher.limitsInForce())))),
    ),
    listJobs: rpc.unary("ListJobs", listJobs),
    cancelJob: rpc.unary("CancelJob", cancelJob),
    watchJob: rpc.serverStream("WatchJob", watchJob),
    listJobTypes: rpc.unary("ListJobTypes", async (): Promise<ListJobTypesResponse> => ({ jobTypes: registry.all().map(handlerToProto) })),
    pauseDispatching: rpc.unary("PauseDispatching", async (request: PauseDispatchingRequest) => {
      checkText("reason", request.reason, REASON_RULE);
      return dispatchingStatus(dispatcher.pause(request.reason || "paused by an operator"));
    }),
    resumeDispatching: rpc.unary("ResumeDispatching", async () => dispatchingStatus(dispatcher.resume())),
    getDispatchingStatus: rpc.unary("GetDispatchingStatus", async () => dispatchingStatus(dispatcher.state())),
  };
}
