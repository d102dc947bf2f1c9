// Admission of a job a caller is about to create (ScheduleJob, RetryJob): what the job may be
// (an inline k6 script only for operators and keys allowed them; built-in scenarios for the
// rest) and how much a caller may ask for. Quotas hold per key (each key on its own:
// QUOTA_PER_KEY) and per team (a team's scoped keys together: QUOTA_PER_TEAM):
//   - submissions per second: a token bucket (rate, burst), in memory;
//   - jobs queued at once: counted in the store (jobs the caller submitted still QUEUED);
//   - k6 VU-minutes per hour: the k6 jobs submitted in the last hour, from the store.
// Over a limit: RESOURCE_EXHAUSTED naming the limit, with google.rpc.RetryInfo. Admissions in
// flight (checked, not yet stored) count too, so concurrent submissions cannot overshoot.
import { z } from "zod";
import type { JobRecord } from "../jobs/job.js";
import { k6VuMs } from "../jobs/k6/load-budget.js";
import { KeyedSerial } from "../shared/keyed-serial.js";
import type { K6Params } from "../jobs/k6/params.js";
import type { QuotaCounts, QuotaSubject } from "../store/auth-store.js";
import { AuthError } from "./errors.js";
import type { JobAdmission, Now } from "./guard.js";
import { roleAtLeast } from "./permissions.js";
import type { Principal } from "./principal.js";

export const quotaSchema = z.strictObject({
  /** Token bucket: sustained submissions per second. */
  submissionsPerSecond: z.number().positive().max(100_000).optional(),
  /** Token bucket: submissions at once after a pause (default: the rate, at least 1). */
  burst: z.number().int().min(1).max(100_000).optional(),
  /** Jobs submitted and still QUEUED at once. */
  maxQueuedJobs: z.number().int().min(1).max(10_000_000).optional(),
  /** k6: VUs × minutes of the k6 jobs submitted within the last hour (k6 jobs/load-budget.ts). */
  k6VuMinutesPerHour: z.number().positive().max(1e9).optional(),
});

export type Quota = z.infer<typeof quotaSchema>;

const HOUR_MS = 3_600_000;
/** Retry hint when a queued job must start or end first (nothing tells when that will be). */
const QUEUED_RETRY_MS = 1000;

interface Bucket {
  tokens: number;
  at: number;
}

interface InFlight {
  jobs: number;
  vuMs: number;
}

export interface QuotaAdmissionOptions {
  perKey: Quota;
  perTeam: Quota;
  counts: QuotaCounts;
  clock: Now;
  /** K6_MAX_VUS: what a script that sets its own load is charged per VU-slot. */
  k6MaxVus: number;
}

export class QuotaAdmission implements JobAdmission {
  private readonly buckets = new Map<string, Bucket>();
  /** Admitted per subject and not answered yet (their jobs may not be stored yet). */
  private readonly inFlight = new Map<string, InFlight>();
  private readonly serial = new KeyedSerial();

  constructor(private readonly options: QuotaAdmissionOptions) {}

  async admit(principal: Principal, job: JobRecord): Promise<() => void> {
    checkInlineScript(principal, job);
    const subjects: { subject: QuotaSubject; quota: Quota; label: string }[] = [];
    if (hasLimits(this.options.perKey)) subjects.push({ subject: { by: "key", value: principal.id }, quota: this.options.perKey, label: `key ${principal.id}` });
    if (principal.team !== undefined && hasLimits(this.options.perTeam)) {
      subjects.push({ subject: { by: "team", value: principal.team }, quota: this.options.perTeam, label: `team ${principal.team}` });
    }
    if (subjects.length === 0) return () => undefined;
    const now = this.options.clock.now();
    const vuMs = job.type === "k6" ? k6VuMs(job.params as unknown as K6Params, job.timeoutMs, this.options.k6MaxVus) : 0;
    // The cheap, in-memory check first: a flood is refused without a store read.
    for (const { subject, quota, label } of subjects) this.takeToken(subject, quota, label, now);
    const held: InFlight[] = [];
    const release = () => {
      for (const flight of held.splice(0)) {
        flight.jobs -= 1;
        flight.vuMs -= vuMs;
      }
    };
    try {
      for (const { subject, quota, label } of subjects) {
        const name = `${subject.by}:${subject.value}`;
        // One check at a time per subject, each counting the admissions before it that are not
        // stored yet: concurrent submissions cannot all pass on the same count.
        await this.serial.run(name, async () => {
          const flight = this.inFlight.get(name) ?? { jobs: 0, vuMs: 0 };
          this.inFlight.set(name, flight);
          await this.checkStore(subject, quota, label, now, vuMs, job.type === "k6", flight);
          flight.jobs += 1;
          flight.vuMs += vuMs;
          held.push(flight);
        });
      }
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  private takeToken(subject: QuotaSubject, quota: Quota, label: string, now: number): void {
    const rate = quota.submissionsPerSecond;
    if (rate === undefined) return;
    const burst = quota.burst ?? Math.max(1, Math.ceil(rate));
    const name = `${subject.by}:${subject.value}`;
    const bucket = this.buckets.get(name) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    this.buckets.set(name, bucket);
    if (bucket.tokens < 1) {
      throw AuthError.quotaExceeded(
        "QUOTA_SUBMISSION_RATE",
        `submission rate limit of ${label} reached: ${rate} per second (burst ${burst})`,
        ((1 - bucket.tokens) / rate) * 1000,
        name,
      );
    }
    bucket.tokens -= 1;
  }

  private async checkStore(subject: QuotaSubject, quota: Quota, label: string, now: number, vuMs: number, isK6: boolean, flight: InFlight): Promise<void> {
    const name = `${subject.by}:${subject.value}`;
    if (quota.maxQueuedJobs !== undefined) {
      const queued = (await this.options.counts.countQueuedJobs(subject, quota.maxQueuedJobs)) + flight.jobs;
      if (queued >= quota.maxQueuedJobs) {
        throw AuthError.quotaExceeded("QUOTA_QUEUED_JOBS", `queued jobs limit of ${label} reached: at most ${quota.maxQueuedJobs} queued at once`, QUEUED_RETRY_MS, name);
      }
    }
    if (isK6 && quota.k6VuMinutesPerHour !== undefined) {
      const budgetMs = quota.k6VuMinutesPerHour * 60_000;
      const recent = await this.options.counts.recentK6Jobs(subject, now - HOUR_MS);
      const costs = recent.map((job) => ({ at: job.createdAt, vuMs: k6VuMs(job.params as unknown as K6Params, job.timeoutMs, this.options.k6MaxVus) }));
      const used = costs.reduce((sum, c) => sum + c.vuMs, 0) + flight.vuMs;
      if (used + vuMs > budgetMs) {
        // When enough of the hour's jobs have aged out for this one to fit (an hour, if it never fits).
        let retryMs = HOUR_MS;
        if (vuMs <= budgetMs) {
          let left = used;
          for (const cost of costs.sort((a, b) => a.at - b.at)) {
            left -= cost.vuMs;
            if (left + vuMs <= budgetMs) {
              retryMs = cost.at + HOUR_MS - now;
              break;
            }
          }
        }
        const minutes = (ms: number) => Math.ceil(ms / 60_000);
        throw AuthError.quotaExceeded(
          "QUOTA_K6_VU_MINUTES",
          `k6 load budget of ${label} reached: ${quota.k6VuMinutesPerHour} VU-minutes per hour; ${minutes(Math.max(0, used))} used, this job needs ${minutes(vuMs)}`,
          retryMs,
          name,
        );
      }
    }
  }
}

function hasLimits(quota: Quota): boolean {
  return quota.submissionsPerSecond !== undefined || quota.maxQueuedJobs !== undefined || quota.k6VuMinutesPerHour !== undefined;
}

/** Inline k6 scripts run whatever their author wrote: operators and keys allowed them only. */
export function checkInlineScript(principal: Principal, job: JobRecord): void {
  if (job.type !== "k6" || typeof job.params.script !== "string") return;
  if (roleAtLeast(principal.role, "operator") || principal.allowInlineScripts) return;
  throw AuthError.permissionDenied(
    "inline k6 scripts need the operator role or a key allowed them; use a built-in scenario (k6.scenario)",
    "k6.script",
    "INLINE_SCRIPT_NOT_ALLOWED",
  );
}
