// The store methods whose SQL is the same on SQLite and PostgreSQL: each store
// extends this with its way of running a query, its placeholder dialect and how
// it reads JSON columns.
import type { ActiveCounts } from "./admission-queries.js";
import type { JobRecord } from "../jobs/job.js";
import * as admission from "./admission-queries.js";
import * as auth from "./auth-queries.js";
import type { ApiKeyQuery, ApiKeyRecord, AuditEventRecord, AuditQuery, QuotaSubject } from "./auth-store.js";
import * as schedules from "./schedule-queries.js";
import type { ScheduleChange, ScheduleProgress, ScheduleQuery, ScheduleRecord, ScheduleRun } from "./schedule-store.js";
import { rowToJob, type SqlDialect } from "./sql.js";

export abstract class SharedQueries {
  protected abstract readonly all: admission.QueryAll;
  /** For reads whose cost grows with the data (SQLite: its worker thread); the same as `all` where nothing blocks. */
  protected abstract readonly allOffLoop: admission.QueryAll;
  protected abstract readonly dialect: SqlDialect;
  protected abstract readonly parseJson: (value: unknown) => unknown;

  private get scheduleDb(): schedules.ScheduleDb {
    return { all: this.all, dialect: this.dialect, parse: this.parseJson };
  }

  private get authDb(): auth.AuthDb {
    return { all: this.all, dialect: this.dialect, parse: this.parseJson };
  }

  private jobs(rows: admission.Row[]): JobRecord[] {
    return rows.map((row) => rowToJob(row, this.parseJson));
  }

  activeCounts(): Promise<ActiveCounts> {
    return admission.activeCounts(this.all);
  }

  async dueQueuedJobs(now: number, limit: number, after?: admission.DispatchCursor): Promise<JobRecord[]> {
    return this.jobs(await admission.dueQueuedJobs(this.all, this.dialect, now, limit, after));
  }

  // A scan of n index entries, read in the background (queue-positions.ts): off the event loop.
  nthDueQueued(now: number, n: number): Promise<admission.DispatchCursor | null> {
    return admission.nthDueQueued(this.allOffLoop, this.dialect, now, n);
  }

  async expiredQueuedJobs(now: number, limit: number): Promise<JobRecord[]> {
    return this.jobs(await admission.expiredQueuedJobs(this.all, this.dialect, now, limit));
  }

  nextQueueChange(now: number): Promise<number | null> {
    return admission.nextQueueChange(this.all, this.dialect, now);
  }

  queuePosition(job: JobRecord, now: number, bound: number): Promise<number> {
    return admission.queuePosition(this.all, this.dialect, job, now, bound);
  }

  queuedCounts(now: number): Promise<admission.QueuedCount[]> {
    return admission.queuedCounts(this.all, this.allOffLoop, this.dialect, now);
  }

  insertSchedule(schedule: ScheduleRecord): Promise<boolean> {
    return schedules.insertSchedule(this.scheduleDb, schedule);
  }

  getSchedule(id: string): Promise<ScheduleRecord | null> {
    return schedules.getSchedule(this.scheduleDb, id);
  }

  getScheduleByName(name: string): Promise<ScheduleRecord | null> {
    return schedules.getScheduleByName(this.scheduleDb, name);
  }

  listSchedules(query: ScheduleQuery): Promise<ScheduleRecord[]> {
    return schedules.listSchedules(this.scheduleDb, query);
  }

  updateSchedule(id: string, change: ScheduleChange, at: number): Promise<ScheduleRecord | null> {
    return schedules.updateSchedule(this.scheduleDb, id, change, at);
  }

  recordScheduleProgress(id: string, progress: ScheduleProgress, at: number): Promise<ScheduleRecord | null> {
    return schedules.recordScheduleProgress(this.scheduleDb, id, progress, at);
  }

  deleteSchedule(id: string): Promise<boolean> {
    return schedules.deleteSchedule(this.scheduleDb, id);
  }

  dueSchedules(now: number, limit: number): Promise<ScheduleRecord[]> {
    return schedules.dueSchedules(this.scheduleDb, now, limit);
  }

  nextScheduleFireAt(): Promise<number | null> {
    return schedules.nextScheduleFireAt(this.scheduleDb);
  }

  activeScheduleJobs(scheduleId: string): Promise<JobRecord[]> {
    return schedules.activeScheduleJobs(this.scheduleDb, scheduleId);
  }

  recentScheduleRuns(scheduleId: string, limit: number): Promise<ScheduleRun[]> {
    return schedules.recentScheduleRuns(this.scheduleDb, scheduleId, limit);
  }

  insertApiKey(key: ApiKeyRecord): Promise<boolean> {
    return auth.insertApiKey(this.authDb, key);
  }

  getApiKey(id: string): Promise<ApiKeyRecord | null> {
    return auth.getApiKey(this.authDb, id);
  }

  listApiKeys(query: ApiKeyQuery): Promise<ApiKeyRecord[]> {
    return auth.listApiKeys(this.authDb, query);
  }

  revokeApiKey(id: string, at: number): Promise<ApiKeyRecord | null> {
    return auth.revokeApiKey(this.authDb, id, at);
  }

  touchApiKeys(uses: readonly { id: string; at: number }[]): Promise<void> {
    return auth.touchApiKeys(this.authDb, uses);
  }

  countApiKeys(): Promise<number> {
    return auth.countApiKeys(this.authDb);
  }

  insertAuditEvents(events: readonly AuditEventRecord[]): Promise<void> {
    return auth.insertAuditEvents(this.authDb, events);
  }

  listAuditEvents(query: AuditQuery): Promise<AuditEventRecord[]> {
    return auth.listAuditEvents(this.authDb, query);
  }

  deleteAuditEventsBefore(at: number): Promise<number> {
    return auth.deleteAuditEventsBefore(this.authDb, at);
  }

  countQueuedJobs(subject: QuotaSubject, limit: number): Promise<number> {
    return auth.countQueuedJobs(this.authDb, subject, limit);
  }

  recentK6Jobs(subject: QuotaSubject, since: number): Promise<{ createdAt: number; params: Record<string, unknown>; timeoutMs: number }[]> {
    return auth.recentK6Jobs(this.authDb, subject, since);
  }
}
