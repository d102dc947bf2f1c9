// Recurring schedules: their operations (create, update, pause, resume, delete,
// trigger) and the loop that fires them. Everything a fire decides is in the store:
// the schedule's next unprocessed fire time, and jobs whose idempotency key is made of
// the schedule id and the fire time, so a fire repeated after a crash finds its job
// instead of creating a second one.
import type { Logger } from "pino";
import { Conflict, DomainError, InvalidField, NotFound, PreconditionFailed } from "../../jobs/errors.js";
import { newJobId } from "../../jobs/ids.js";
import type { JobRecord } from "../../jobs/job.js";
import { KeyedSerial } from "../../shared/keyed-serial.js";
import { admitEgress, type EgressAdmission } from "../../jobs/egress/admission.js";
import type { JobRegistry } from "../../jobs/registry.js";
import { newJobRecord } from "../../jobs/submission/record.js";
import { forFire, validateJobRequest } from "../../jobs/submission/submission.js";
import type { ScheduleQuery, ScheduleRecord, ScheduleSource, ScheduleStore } from "../../store/schedule-store.js";
import type { JobStore } from "../../store/store.js";
import type { Term } from "../../leadership/term.js";
import type { Clock } from "../clock.js";
import type { CancelOutcome } from "../lifecycle.js";
import type { Schedule, ScheduleDefinition, ScheduleSpecCodec } from "./definition.js";
import { planFires } from "./fire-planner.js";
import { templateOnce, type FireTargets } from "./fire-targets.js";
import { jitterDelayMs } from "./jitter.js";
import { alternateShortLong, lastDurations } from "./target-order.js";
import type { ScheduleObserver } from "./metrics.js";
import { decideOverlap, exclusiveGroupOf } from "./overlap.js";
import { resolveSpec, validateScheduleSpec, type ResolvedSpec } from "./spec.js";

/** Schedules looked at per pass of the loop. */
const DUE_PAGE = 100;
/** The loop looks at the store at least this often, even when nothing is due (a safety net). */
const DEFAULT_MAX_SLEEP_MS = 60_000;
const ERROR_BACKOFF_MS = 5_000;
/** How many of a schedule's past runs a fire reads to order its targets (two fires of 5,000 teams). */
const MAX_HISTORY_RUNS = 10_000;

export interface SchedulerDeps {
  store: JobStore & ScheduleStore;
  registry: JobRegistry;
  /** How definitions are stored (the API's: the proto JSON of ScheduleSpec). */
  specs: ScheduleSpecCodec;
  lifecycle: { cancel(jobId: string, reason: string): Promise<CancelOutcome> };
  dispatcher: { wake(): void };
  clock: Clock;
  /** Fires only while this replica's term is valid. */
  term?: Term;
  logger: Logger;
  /** Applies to fired jobs whose template sets no queue_timeout (0 = none). */
  defaultQueueTimeoutMs: number;
  observer?: ScheduleObserver;
  /** Turns a fire of a for_each_team schedule into one submission per team; without it the template fires once. */
  fanOut?: FireTargets;
  maxSleepMs?: number;
  /** Where fired jobs may send requests: each fire's jobs are admitted as ScheduleJob admits them. */
  egress: EgressAdmission;
}

export interface FireOutcome {
  jobs: JobRecord[];
  /** Why the fire created nothing ("" when it created jobs). */
  skippedReason: string;
}

/** The idempotency key of a fire's job: schedule id + fire time (+ the target for a fan-out). */
export function fireKey(scheduleId: string, fireTime: number, targetKey = ""): string {
  const key = `schedule:${scheduleId}:${new Date(fireTime).toISOString()}`;
  return targetKey ? `${key}:${targetKey}` : key;
}

/** The first fire time after `after` within the schedule's start and end, or null. */
export function firstFireAfter(resolved: ResolvedSpec, after: number): number | null {
  const from = resolved.startTime === null ? after : Math.max(after, resolved.startTime - 1);
  const next = resolved.cron.nextAfter(from);
  if (next === null || (resolved.endTime !== null && next >= resolved.endTime)) return null;
  return next;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class Scheduler {
  private readonly serial = new KeyedSerial();
  private readonly wakeUps = new Set<AbortController>();
  private stopped = true;
  private loopDone?: Promise<void>;
  private readonly store: JobStore & ScheduleStore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly templateOnce: FireTargets;

  constructor(private readonly deps: SchedulerDeps) {
    this.store = deps.store;
    this.clock = deps.clock;
    this.logger = deps.logger;
    this.templateOnce = templateOnce(deps.registry, deps.egress);
  }

  /** Upserts the declared schedules (SCHEDULES_FILE), then starts firing. */
  async start(declared: readonly ScheduleDefinition[] = []): Promise<void> {
    await this.upsertDeclared(declared);
    this.stopped = false;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loopDone;
  }

  /** Looks at the schedules again now (after a change that may bring a fire time forward). */
  wake(): void {
    for (const controller of this.wakeUps) controller.abort();
  }

  // --- operations -----------------------------------------------------------

  async create(spec: ScheduleDefinition | undefined, source: ScheduleSource = "api"): Promise<Schedule> {
    const resolved = validateScheduleSpec(spec, this.deps.registry);
    // A declared schedule is kept even so: it fires once the server has what it needs.
    if (source === "api") {
      this.requireFireTargets(resolved.spec);
      await this.admitTemplate(resolved.spec);
    }
    const now = this.clock.now();
    const schedule: ScheduleRecord = {
      id: newJobId(now),
      name: resolved.spec.name,
      spec: this.deps.specs.toStored(resolved.spec),
      paused: false,
      pausedReason: "",
      nextFireAt: firstFireAfter(resolved, now),
      lastFireAt: null,
      fires: 0,
      misses: 0,
      skips: 0,
      source,
      createdAt: now,
      updatedAt: now,
    };
    if (!(await this.store.insertSchedule(schedule))) {
      const existing = await this.store.getScheduleByName(schedule.name);
      throw new Conflict("spec.name", `a schedule named "${schedule.name}" already exists${existing ? ` (${existing.id})` : ""}`);
    }
    this.logger.info({ scheduleId: schedule.id, name: schedule.name, source, nextFireAt: schedule.nextFireAt && iso(schedule.nextFireAt) }, "schedule created");
    this.wake();
    return { ...schedule, spec: resolved.spec };
  }

  /** A plain schedule's template is judged by the egress policy now; a team round's targets at each fire. */
  private async admitTemplate(spec: ScheduleDefinition): Promise<void> {
    if (spec.forEachTeam || !spec.jobTemplate) return;
    const submission = validateJobRequest(spec.jobTemplate, this.deps.registry);
    await admitEgress(this.deps.egress, submission, { fieldPrefix: "spec.job_template." });
  }

  async get(id: string): Promise<Schedule> {
    const schedule = await this.store.getSchedule(id);
    if (!schedule) throw new NotFound(`schedule ${id} not found`);
    return this.read(schedule);
  }

  async list(query: ScheduleQuery): Promise<Schedule[]> {
    return (await this.store.listSchedules(query)).map((schedule) => this.read(schedule));
  }

  /** Replaces the spec (the name stays) and reschedules from now. */
  update(id: string, spec: ScheduleDefinition | undefined): Promise<Schedule> {
    return this.serial.run(id, async () => {
      const current = await this.get(id);
      if (spec && !spec.name) spec = { ...spec, name: current.name };
      const resolved = validateScheduleSpec(spec, this.deps.registry);
      if (resolved.spec.name !== current.name) {
        throw new InvalidField("spec.name", `cannot change (the schedule is named "${current.name}"; create a new schedule for another name)`);
      }
      this.requireFireTargets(resolved.spec);
      await this.admitTemplate(resolved.spec);
      const now = this.clock.now();
      const updated = await this.store.updateSchedule(id, { spec: this.deps.specs.toStored(resolved.spec), nextFireAt: firstFireAfter(resolved, now) }, now);
      if (!updated) throw new NotFound(`schedule ${id} not found`);
      this.logger.info({ scheduleId: id, nextFireAt: updated.nextFireAt && iso(updated.nextFireAt) }, "schedule updated");
      this.wake();
      return this.read(updated);
    });
  }

  /** No fires while paused; fire times passed meanwhile follow the catch-up policy on resume. */
  pause(id: string, reason: string): Promise<Schedule> {
    return this.serial.run(id, async () => {
      await this.get(id);
      const updated = await this.store.updateSchedule(id, { paused: true, pausedReason: reason || "paused by an operator" }, this.clock.now());
      if (!updated) throw new NotFound(`schedule ${id} not found`);
      this.logger.info({ scheduleId: id, reason: updated.pausedReason }, "schedule paused");
      return this.read(updated);
    });
  }

  resume(id: string): Promise<Schedule> {
    return this.serial.run(id, async () => {
      const current = await this.get(id);
      if (!current.paused) return current;
      const updated = await this.store.updateSchedule(id, { paused: false, pausedReason: "" }, this.clock.now());
      if (!updated) throw new NotFound(`schedule ${id} not found`);
      this.logger.info({ scheduleId: id }, "schedule resumed");
      this.wake();
      return this.read(updated);
    });
  }

  /** Removes the schedule; the jobs it created stay (with their schedule_id). */
  delete(id: string): Promise<void> {
    return this.serial.run(id, async () => {
      if (!(await this.store.deleteSchedule(id))) throw new NotFound(`schedule ${id} not found`);
      this.logger.info({ scheduleId: id }, "schedule deleted");
    });
  }

  /** Fires now, outside the cron times (also when paused); the overlap policy applies. */
  trigger(id: string): Promise<FireOutcome> {
    return this.serial.run(id, async () => {
      const schedule = await this.get(id);
      const resolved = resolveSpec(schedule.spec);
      this.requireFireTargets(schedule.spec);
      const now = this.clock.now();
      const outcome = await this.fire(schedule, resolved, now, false);
      await this.store.recordScheduleProgress(id, {
        lastFireAt: Math.max(schedule.lastFireAt ?? now, now),
        nextFireAt: schedule.nextFireAt,
        fires: outcome.jobs.length,
        misses: 0,
        skips: outcome.skippedReason ? 1 : 0,
      }, now);
      this.deps.observer?.fired(schedule.name, outcome.jobs.length);
      if (outcome.skippedReason) this.deps.observer?.skipped(schedule.name, 1, "overlap");
      return outcome;
    });
  }

  /** Declared schedules are created, or updated by name when their spec changed (counters and pause state stay). */
  async upsertDeclared(specs: readonly ScheduleDefinition[]): Promise<void> {
    const checked = specs.map((spec, i) => {
      try {
        return validateScheduleSpec(spec, this.deps.registry);
      } catch (error) {
        if (error instanceof DomainError) throw new Error(`SCHEDULES_FILE: [${i}] (${spec.name || "unnamed"}): ${error.message}`);
        throw error;
      }
    });
    for (const resolved of checked) {
      const existing = await this.store.getScheduleByName(resolved.spec.name);
      if (!existing) {
        await this.create(resolved.spec, "config");
        continue;
      }
      // Both read the way they are stored, so a definition stored by an older release compares as its own.
      const changed = this.storedJson(this.deps.specs.fromStored(existing.spec)) !== this.storedJson(resolved.spec);
      if (!changed && existing.source === "config") continue;
      const now = this.clock.now();
      await this.serial.run(existing.id, () =>
        this.store.updateSchedule(existing.id, {
          spec: this.deps.specs.toStored(resolved.spec),
          source: "config",
          // Rescheduled only when the spec changed, so an unchanged one catches up on the downtime.
          ...(changed ? { nextFireAt: firstFireAfter(resolved, now) } : {}),
        }, now),
      );
      this.logger.info({ scheduleId: existing.id, name: existing.name, changed }, "declared schedule updated");
    }
  }

  /** FAILED_PRECONDITION when this server cannot turn the spec's fires into jobs (a fan-out without the Hub). */
  private requireFireTargets(spec: ScheduleDefinition): void {
    if (!spec.forEachTeam) return;
    const reason = this.deps.fanOut?.unavailableReason?.();
    if (reason) throw new PreconditionFailed(reason, "FAN_OUT_UNAVAILABLE");
  }

  private read(record: ScheduleRecord): Schedule {
    return { ...record, spec: this.deps.specs.fromStored(record.spec) };
  }

  private storedJson(spec: ScheduleDefinition): string {
    return JSON.stringify(this.deps.specs.toStored(spec));
  }

  // --- firing ---------------------------------------------------------------

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const controller = new AbortController();
      this.wakeUps.add(controller);
      try {
        const { more, failed } = await this.pass();
        if (failed) {
          await this.clock.sleep(ERROR_BACKOFF_MS, controller.signal);
        } else if (more) {
          await new Promise((resolve) => setImmediate(resolve));
        } else {
          const now = this.clock.now();
          const next = await this.store.nextScheduleFireAt();
          const maxSleep = this.deps.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS;
          await this.clock.sleep(next === null ? maxSleep : Math.min(maxSleep, Math.max(0, next - now)), controller.signal);
        }
      } catch (error) {
        this.logger.error({ err: error }, "schedule loop failed; retrying");
        await this.clock.sleep(ERROR_BACKOFF_MS, controller.signal);
      } finally {
        this.wakeUps.delete(controller);
      }
    }
  }

  /** Processes every due schedule once. Exposed for tests. */
  async pass(): Promise<{ more: boolean; failed: boolean }> {
    const due = await this.store.dueSchedules(this.clock.now(), DUE_PAGE);
    let more = due.length === DUE_PAGE;
    let failed = false;
    for (const { id } of due) {
      if (this.stopped || (this.deps.term && !this.deps.term.valid())) break;
      try {
        more = (await this.serial.run(id, () => this.process(id))) || more;
      } catch (error) {
        failed = true;
        this.logger.error({ err: error, scheduleId: id }, "processing a schedule failed");
      }
    }
    return { more, failed };
  }

  /** Fires what is due of one schedule and records where it got to. True when more is due. */
  private async process(id: string): Promise<boolean> {
    const record = await this.store.getSchedule(id);
    const now = this.clock.now();
    if (!record || record.paused || record.nextFireAt === null || record.nextFireAt > now) return false;
    let schedule: Schedule;
    let resolved: ResolvedSpec;
    try {
      schedule = this.read(record);
      resolved = resolveSpec(schedule.spec);
    } catch (error) {
      // E.g. a time zone this server's ICU no longer knows: stop it visibly rather than fail forever.
      const reason = `paused by the scheduler: the stored spec is no longer valid (${(error as Error).message})`;
      this.logger.error({ scheduleId: id, err: error }, "schedule spec invalid; pausing it");
      await this.store.updateSchedule(id, { paused: true, pausedReason: reason }, now);
      return false;
    }
    const plan = planFires({
      after: record.nextFireAt - 1,
      now,
      catchupWindowMs: resolved.catchupWindowMs,
      catchupPolicy: resolved.catchupPolicy,
      startTime: resolved.startTime,
      endTime: resolved.endTime,
      fireTimes: (after, until, limit) => resolved.cron.between(after, until, limit),
    });
    let fires = 0;
    let overlapSkips = 0;
    for (const fireTime of plan.run) {
      const outcome = await this.fire(schedule, resolved, fireTime, true);
      fires += outcome.jobs.length;
      if (outcome.skippedReason) overlapSkips++;
    }
    if (plan.missed || plan.skipped) {
      this.logger.warn(
        { scheduleId: id, name: schedule.name, missed: plan.missed, skipped: plan.skipped, policy: resolved.catchupPolicy, windowMs: resolved.catchupWindowMs },
        "late fire times: older than the catch-up window are missed, the rest follow the catch-up policy",
      );
    }
    // The firer's progress is a leader-only write: fenced by the term's epoch.
    await this.store.recordScheduleProgress(id, {
      lastFireAt: plan.lastProcessed ?? schedule.lastFireAt,
      nextFireAt: firstFireAfter(resolved, plan.complete ? now : plan.lastProcessed!),
      fires,
      misses: plan.missed,
      skips: plan.skipped + overlapSkips,
    }, now, this.deps.term?.epoch());
    const observer = this.deps.observer;
    observer?.fired(schedule.name, fires);
    observer?.missed(schedule.name, plan.missed);
    observer?.skipped(schedule.name, plan.skipped, "catchup");
    observer?.skipped(schedule.name, overlapSkips, "overlap");
    return !plan.complete;
  }

  /** A fire's targets in the order their jobs should start: alternately the shortest and the longest of the last round. */
  private async dispatchOrder<T extends { key: string }>(scheduleId: string, targets: T[]): Promise<T[]> {
    if (targets.length < 2) return targets;
    const runs = await this.store.recentScheduleRuns(scheduleId, Math.min(targets.length * 2, MAX_HISTORY_RUNS));
    return alternateShortLong(targets, lastDurations(runs, scheduleId));
  }

  /** One fire: the overlap policy, then one job per target (jittered for cron fires). */
  private async fire(schedule: Schedule, resolved: ResolvedSpec, fireTime: number, jitter: boolean): Promise<FireOutcome> {
    const log = this.logger.child({ scheduleId: schedule.id, name: schedule.name, fireTime: iso(fireTime) });
    const source = schedule.spec.forEachTeam && this.deps.fanOut ? this.deps.fanOut : this.templateOnce;
    const targets = await source.targets(schedule, fireTime);
    if (targets.length === 0) {
      log.info("fire skipped: it has no targets");
      return { jobs: [], skippedReason: "the fire has no targets (for_each_team matched no team)" };
    }
    const keys = new Set(targets.map((t) => fireKey(schedule.id, fireTime, t.key)));
    // A job of this very fire (repeated after a crash) is not an overlap: createJob will return it.
    const active = (await this.store.activeScheduleJobs(schedule.id)).filter((job) => !keys.has(job.idempotencyKey ?? ""));
    const decision = decideOverlap(resolved.overlap, active);
    if (decision.action === "skip") {
      log.info({ reason: decision.reason }, "fire skipped");
      return { jobs: [], skippedReason: decision.reason };
    }
    for (const job of decision.cancel) {
      const outcome = await this.deps.lifecycle.cancel(job.id, `superseded by the fire at ${iso(fireTime)} of schedule "${schedule.name}"`);
      log.info({ jobId: job.id, outcome: outcome.kind }, "cancelled the previous job of the schedule");
    }
    const runAt = jitter ? fireTime + jitterDelayMs(schedule.id, fireTime, resolved.jitterMs) : null;
    const records: JobRecord[] = [];
    for (const target of await this.dispatchOrder(schedule.id, targets)) {
      let submission;
      try {
        if ("rejection" in target) throw target.rejection;
        submission = forFire(target.submission, { idempotencyKey: fireKey(schedule.id, fireTime, target.key), runAt });
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        log.error({ err: error }, "the schedule's job template was rejected");
        return { jobs: [], skippedReason: `the job template was rejected: ${error.message}` };
      }
      records.push(newJobRecord(submission, this.clock.now(), {
        scheduleId: schedule.id,
        exclusiveGroup: decision.exclusive ? exclusiveGroupOf(schedule.id, target.key) : null,
        defaultQueueTimeoutMs: this.deps.defaultQueueTimeoutMs,
      }));
    }
    // Created together: the store commits them as one group, before any of them is dispatched.
    const created = await Promise.all(records.map((record) => this.store.createJob(record)));
    const jobs = created.map(({ job }) => job);
    for (const { job, created: isNew } of created) {
      log.info({ jobId: job.id, created: isNew, runAt: iso(job.runAt) }, isNew ? "schedule fired" : "schedule fire already had its job");
    }
    this.deps.dispatcher.wake();
    return { jobs, skippedReason: "" };
  }
}
