// A whole hackathon on the Kubernetes runtime, time compressed: 500 teams for 48 hours, every
// team's rounds at the service's default cadences (deployment check every 15 min, git activity
// every 30 min, budget, judge score and a k6 load test every 6 hours: 312 jobs per team, 156,000
// in all), submitted through the gRPC API at their compressed fire times (the clock waits while
// more than one round is queued: the service keeps up with the real rate, ~1 job/s, and the
// figures should not be those of a backlog only the compression makes). The real service
// (`node dist/main.js`, RUNTIME=kubernetes, SQLite) runs them as Jobs against the fake API
// server in this process (test/support/fake-kube: answer latency 2 ms, pods/log 20 ms, watch
// connections reset every 5 s; its APF limit raised above the client's), whose pods end with
// each collector's result as termination message, after the type's run time compressed alike;
// 1 % of pods exit 1 with an error line (FAILED, kept K8S_KEEP_FAILED_JOBS: 1 h, compressed).
//
// Reported: the Jobs present in the API at any moment against the active ones (no Complete or
// Failed condition), the failed ones being kept, and the finished ones waiting for their delete;
// MET when no finished Job outlives its end by more than the window (5 s; a failed one: its keep
// time + 5 s). The service's RSS (sampled, and its VmHWM at the end): MET at <= 256 MiB. API
// calls per Kubernetes Job by verb. Wall time.
//
// By default the first 12 hours run (two cycles of every round, 39,000 jobs). Measured rates on 2
// cores shared with the fake API server in this process: 35-80 jobs/s (session 5), ~40 jobs/s
// alone and ~23 beside the crash harness (session 6), so the whole 48 hours (HACKATHON_HOURS=48,
// 156,000 jobs) take 35-110 min.
//
// Knobs (env): HACKATHON_TEAMS (500), HACKATHON_HOURS (12), HACKATHON_SECONDS_PER_HOUR (real
// seconds per hackathon hour, 8), HACKATHON_MAX_RUNNING (MAX_RUNNING_JOBS, 200),
// HACKATHON_QPS (K8S_QPS = K8S_BURST, 1000), HACKATHON_KEEP_FAILED_MINUTES (hackathon minutes, 60),
// HACKATHON_FAIL_PERCENT (1), HACKATHON_PROGRESS=1 (a status line every 10 s on stderr),
// HACKATHON_SERVICE_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"). A quick run:
// HACKATHON_TEAMS=50 HACKATHON_HOURS=6.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CriteriaType, JobState, ListJobsRequest, ScheduleJobRequest, type JobSchedulerClient } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { terminationMessage } from "../test/support/fake-k6/summary-data.js";
import { outcome, startFakeKube, type FakeKube, type PodOutcome, type RequestRecord, type StoreEvent, type StoredJob, type StoredPod } from "../test/support/fake-kube/index.js";
import { baseEnv, call, cleanup, spawnService, tempDir, type ChildService } from "../test/support/service.js";
import { breakdown, breakdownFigures, formatBreakdown, type MemoryBreakdown } from "./memory.js";
import { envArgs, envNumber } from "./procs.js";
import { emptyReport, type BenchModule, type BenchReport } from "./report.js";

export const name = "hackathon";
export const description =
  "500-team hackathon (time compressed; 12 of its 48 hours by default) on the Kubernetes runtime vs the fake API: Jobs present vs active, service RSS, API calls per job";

const NS = "jobscheduler-jobs";
const TYPE_LABEL = "jobscheduler.hackload.io/type";
const JOB_ID_LABEL = "jobscheduler.hackload.io/job-id";
const RSS_TARGET_MIB = 256;
/** A finished Job may stay this long after its end (recording, then its delete) and still count as deleted promptly. */
const WINDOW_MS = 5000;
const HACKATHON_ID = "hackload-bench";

type Spec = NonNullable<ScheduleJobRequest["spec"]>;

interface Round {
  type: string;
  everyMinutes: number;
  criteria: CriteriaType;
  /** How long the collector runs, in hackathon seconds. */
  runSeconds: number;
  spec(team: number): Spec;
}

const slug = (team: number) => `team-${String(team).padStart(3, "0")}`;
const appUrl = (team: number) => `https://${slug(team)}.apps.hackload.example`;

/** The service's default team rounds (src/hub/settings.ts): their cadence, criteria and job spec. */
const ROUNDS: Round[] = [
  { type: "http_check", everyMinutes: 15, criteria: CriteriaType.CRITERIA_TYPE_DEPLOYED_SOLUTION, runSeconds: 3, spec: (t) => ({ $case: "httpCheck", value: { baseUrl: appUrl(t), endpoints: [] } }) },
  { type: "git_activity", everyMinutes: 30, criteria: CriteriaType.CRITERIA_TYPE_CODE_REPO, runSeconds: 5, spec: (t) => ({ $case: "gitActivity", value: { repoUrl: `https://github.com/${slug(t)}/biletter` } }) },
  { type: "budget", everyMinutes: 360, criteria: CriteriaType.CRITERIA_TYPE_BUDGET_TRACKING, runSeconds: 1, spec: (t) => ({ $case: "budget", value: { moneySpend: String(1000 * t) } }) },
  { type: "judge_score", everyMinutes: 360, criteria: CriteriaType.CRITERIA_TYPE_JUDGE_SCORE, runSeconds: 1, spec: (t) => ({ $case: "judgeScore", value: { judgeScore: String(t % 11) } }) },
  {
    type: "k6",
    everyMinutes: 360,
    criteria: CriteriaType.CRITERIA_TYPE_EVENT_SEARCH,
    runSeconds: 600,
    spec: (t) => ({ $case: "k6", value: { scriptSource: { $case: "scenario", value: "event-search" }, targetUrl: appUrl(t), vus: 50, duration: { seconds: 600, nanos: 0 }, parallelism: 1 } as never }),
  },
];

/** What each collector writes to /dev/termination-log (the handlers' result schemas). */
function resultOf(type: string, jobId: string): string {
  const now = new Date().toISOString();
  switch (type) {
    case "http_check":
      return JSON.stringify({
        baseUrl: "https://app.example",
        dns: { ok: true, address: "10.0.0.7" },
        tls: { valid: true, daysToExpiry: 60 },
        endpoints: ["/api/events", "/api/seats", "/api/bookings", "/api/analytics"].map((path, i) => ({ method: "GET", path, critical: i < 2, status: 200, ok: true, latencyMs: 12 + i, error: null })),
        workingEndpoints: 4,
        totalEndpoints: 4,
        durationMs: 120,
      });
    case "git_activity":
      return JSON.stringify({ outcome: "OK", repoUrl: `https://github.com/x/${jobId}`, defaultBranch: "main", commitsCount: 3, lastCommitTime: now, hasRecentActivity: true, since: now, activityWindowHours: 24 });
    case "budget":
      return JSON.stringify({ hasSpendingData: true, totalSpent: 12000, currency: "KZT", rawValue: "12000" });
    case "judge_score":
      return JSON.stringify({ hasJudgeScore: true, judgeScore: 7, rawValue: "7" });
    default:
      return terminationMessage({ reqs: 30_000, failed: 12, p95: 400, seconds: 600, vus: 50 }, null);
  }
}

/** A stable number in [0, 100) per job. */
function percentileOf(jobId: string): number {
  let h = 2166136261;
  for (let i = 0; i < jobId.length; i++) h = Math.imul(h ^ jobId.charCodeAt(i), 16777619);
  return ((h >>> 0) % 10_000) / 100;
}

function rssMiB(pid: number, field: "VmRSS" | "VmHWM"): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const isFinished = (job: StoredJob) => job.status?.conditions?.some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True") ?? false;
const isFailed = (job: StoredJob) => job.status?.conditions?.some((c) => c.type === "Failed" && c.status === "True") ?? false;

/** What the fake's store and answers say over the run. */
class ApiObserver {
  /** Job name -> when its Complete/Failed condition was first written (ms), and whether it failed. */
  private readonly ended = new Map<string, { at: number; failed: boolean }>();
  readonly deleteLatencyMs: number[] = [];
  readonly calls = new Map<string, number>();
  throttled = 0;
  jobsCreated = 0;
  samples = 0;
  max = { present: 0, active: 0, keptFailed: 0, awaitingDelete: 0, lingering: 0, excess: 0 };
  private lingeringExample = "";

  constructor(private readonly fake: FakeKube, private readonly keepFailedMs: number) {
    fake.events.on("change", (event: StoreEvent) => this.onChange(event));
    fake.events.on("request", (record: RequestRecord) => this.onRequest(record));
  }

  get example(): string {
    return this.lingeringExample;
  }

  private onChange(event: StoreEvent): void {
    if (event.kind !== "Job") return;
    const job = event.object as unknown as StoredJob;
    const name = job.metadata.name;
    if (event.type === "DELETED") {
      const end = this.ended.get(name);
      if (end && !end.failed) this.deleteLatencyMs.push(Date.now() - end.at);
      this.ended.delete(name);
      return;
    }
    if (!this.ended.has(name) && isFinished(job)) this.ended.set(name, { at: Date.now(), failed: isFailed(job) });
  }

  private onRequest(record: RequestRecord): void {
    if (record.code === 429) {
      this.throttled++;
      return;
    }
    const key = `${record.verb} ${record.resource ?? record.path}${record.subresource ? `/${record.subresource}` : ""}`;
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    if (record.verb === "create" && record.resource === "jobs" && record.code === 201) this.jobsCreated++;
  }

  /** One look at the Jobs in the API. */
  sample(): number {
    const now = Date.now();
    const jobs = this.fake.list<StoredJob>("Job", NS);
    let active = 0;
    let keptFailed = 0;
    let awaiting = 0;
    let lingering = 0;
    for (const job of jobs) {
      const end = this.ended.get(job.metadata.name);
      if (!end) {
        active++;
        continue;
      }
      const age = now - end.at;
      if (end.failed && age <= this.keepFailedMs + WINDOW_MS) keptFailed++;
      else if (age <= WINDOW_MS) awaiting++;
      else {
        lingering++;
        this.lingeringExample ||= `${job.metadata.name} (${end.failed ? "failed" : "succeeded"}, ended ${(age / 1000).toFixed(1)} s before)`;
      }
    }
    this.samples++;
    const m = this.max;
    m.present = Math.max(m.present, jobs.length);
    m.active = Math.max(m.active, active);
    m.keptFailed = Math.max(m.keptFailed, keptFailed);
    m.awaitingDelete = Math.max(m.awaitingDelete, awaiting);
    m.lingering = Math.max(m.lingering, lingering);
    m.excess = Math.max(m.excess, jobs.length - active);
    return jobs.length;
  }
}

/** The service's heap and external memory (its /metrics), for the progress line. */
async function memoryMetrics(port: number): Promise<string> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (metric: string) => Number(new RegExp(`^jobscheduler_${metric}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN) / 2 ** 20;
    return `heap used ${value("nodejs_heap_size_used_bytes").toFixed(0)} of ${value("nodejs_heap_size_total_bytes").toFixed(0)} MiB, external ${value("nodejs_external_memory_bytes").toFixed(0)} MiB`;
  } catch (error) {
    return `no metrics: ${(error as Error).message}`;
  }
}

/** Pods in the API by type and phase, for the progress line. */
function podStates(fake: FakeKube): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const pod of fake.list<StoredPod>("Pod", NS)) {
    const key = `${pod.metadata.labels?.[TYPE_LABEL]}:${pod.status?.phase}${pod.metadata.deletionTimestamp ? ":deleting" : ""}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

async function submitRound(client: JobSchedulerClient, round: Round, fireMinute: number, teams: number, errors: string[]): Promise<number> {
  let next = 1;
  let submitted = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next <= teams) {
        const team = next++;
        const request = ScheduleJobRequest.fromPartial({
          name: `${round.type} ${slug(team)}`,
          idempotencyKey: `${round.type}:${slug(team)}:${fireMinute}`,
          team: { slug: slug(team), hackathonId: HACKATHON_ID },
          criteriaType: round.criteria,
          spec: round.spec(team),
        });
        try {
          await call(client, client.scheduleJob, request);
          submitted++;
        } catch (error) {
          if (errors.length < 20) errors.push(`ScheduleJob ${round.type} ${slug(team)}: ${(error as Error).message}`);
        }
      }
    }),
  );
  return submitted;
}

async function countFailed(client: JobSchedulerClient): Promise<Record<string, number>> {
  const reasons: Record<string, number> = {};
  let pageToken = "";
  do {
    const page = await call(client, client.listJobs, ListJobsRequest.fromPartial({ states: [JobState.JOB_STATE_FAILED], pageSize: 1000, pageToken }));
    for (const job of page.jobs) reasons[`${job.type}:${job.reason}`] = (reasons[`${job.type}:${job.reason}`] ?? 0) + 1;
    pageToken = page.nextPageToken;
  } while (pageToken);
  return reasons;
}

export async function run(): Promise<BenchReport> {
  const report = emptyReport();
  const teams = envNumber("HACKATHON_TEAMS", 500);
  const hours = envNumber("HACKATHON_HOURS", 12);
  const secondsPerHour = envNumber("HACKATHON_SECONDS_PER_HOUR", 8);
  const maxRunning = envNumber("HACKATHON_MAX_RUNNING", 200);
  const qps = envNumber("HACKATHON_QPS", 1000);
  const keepMinutes = envNumber("HACKATHON_KEEP_FAILED_MINUTES", 60);
  const failPercent = envNumber("HACKATHON_FAIL_PERCENT", 1);
  /** Real ms per hackathon second. */
  const scale = (secondsPerHour * 1000) / 3600;
  const keepFailedMs = Math.round(keepMinutes * 60 * scale);

  const fires: Array<{ minute: number; round: Round }> = [];
  for (const round of ROUNDS) for (let minute = 0; minute < hours * 60; minute += round.everyMinutes) fires.push({ minute, round });
  fires.sort((a, b) => a.minute - b.minute);
  const expectedJobs = fires.length * teams;

  const fake = await startFakeKube({
    // The service's client may send QPS per second; the server admits a little more (APF would give this client its share).
    flowControl: { qps: Math.ceil(qps * 1.2), burst: Math.ceil(qps * 2.4), retryAfterSeconds: 1 },
    historySize: 5000,
    defaultOutcome: (pod: StoredPod): PodOutcome => {
      const type = pod.metadata.labels?.[TYPE_LABEL] ?? "";
      const jobId = pod.metadata.labels?.[JOB_ID_LABEL] ?? pod.metadata.name;
      const round = ROUNDS.find((r) => r.type === type);
      const runMs = Math.max(10, Math.round((round?.runSeconds ?? 1) * scale));
      if (percentileOf(jobId) < failPercent) return outcome.fail(1, { runMs, log: `${type}: starting\nError: connect ECONNRESET 10.0.0.7:443\n` });
      return outcome.succeed(resultOf(type, jobId), { runMs, log: `${type}: done\n` });
    },
  });
  const observer = new ApiObserver(fake, keepFailedMs);
  const dataDir = tempDir("bench-hackathon-");
  const tokenFile = join(dataDir, "token");
  writeFileSync(tokenFile, fake.token);
  let service: ChildService | undefined;
  let sampler: NodeJS.Timeout | undefined;
  const rss: number[] = [];
  /** What the service's memory was made of at the highest RSS of a scrape of its /metrics (every 2 s). */
  let peakMemory: MemoryBreakdown | null = null;
  /** The service's warnings and errors: how many, and the first few. */
  const warnings = { count: 0, first: [] as string[] };
  const keepWarnings = (lines: string[]) => {
    for (const line of lines) {
      if (!/"level":(40|50|60)/.test(line)) continue;
      warnings.count++;
      if (warnings.first.length < 3) warnings.first.push(line.slice(0, 300));
    }
  };
  try {
    service = await spawnService(
      baseEnv(dataDir, {
        RUNTIME: "kubernetes",
        K8S_API_SERVER: fake.url,
        K8S_TOKEN_FILE: tokenFile,
        JOB_IMAGE: "ghcr.io/hackload/jobscheduler:bench",
        LOG_LEVEL: "info",
        MAX_RUNNING_JOBS: String(maxRunning),
        K8S_QPS: String(qps),
        K8S_BURST: String(qps),
        K8S_KEEP_FAILED_JOBS: `${keepFailedMs}ms`,
        DISPATCH_POLL_INTERVAL: "1s",
      }),
      envArgs("HACKATHON_SERVICE_NODE_ARGS"),
    );
    const { client } = service;
    const pid = service.process.pid!;
    const progress = process.env.HACKATHON_PROGRESS === "1";
    let ticks = 0;
    const startedAt = performance.now();
    const logs = service.logs;
    sampler = setInterval(() => {
      observer.sample();
      const mib = rssMiB(pid, "VmRSS");
      if (mib !== null) rss.push(mib);
      if (ticks % 8 === 0) {
        void fetch(`http://127.0.0.1:${service!.metricsPort}/metrics`)
          .then((r) => r.text())
          .then((text) => {
            const memory = breakdown(pid, text);
            if (memory && (!peakMemory || memory.rss > peakMemory.rss)) peakMemory = memory;
          })
          .catch(() => undefined);
      }
      // Counted on the fly ("request" events); the fake's own list would hold every request.
      fake.clearRequests();
      // The service logs a few info lines per job: keep only its warnings and errors.
      keepWarnings(logs);
      logs.length = 0;
      if (++ticks % 40 === 0 && progress) {
        void Promise.all([call(client, client.getDispatchingStatus, {}), memoryMetrics(service!.metricsPort)]).then(([s, memory]) =>
          console.error(
            `[hackathon] ${((performance.now() - startedAt) / 1000).toFixed(0)} s: ${observer.jobsCreated} Jobs created, queued ${s.queued}, running ${s.running}, ` +
              `RSS ${mib?.toFixed(0)} MiB (${memory}), max present ${observer.max.present}, warnings ${warnings.count} ${warnings.first[0] ?? ""}; pods ${JSON.stringify(podStates(fake))}`,
          ),
        );
      }
    }, 250);

    let submitted = 0;
    // The compressed clock waits while the service has more than a round queued: the real one
    // keeps up with 2,000 jobs an hour easily; this measures its Jobs and memory in that regime,
    // not a backlog that only the compression creates.
    let heldMs = 0;
    for (const fire of fires) {
      const dueMs = fire.minute * 60 * scale + heldMs;
      const wait = dueMs - (performance.now() - startedAt);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const holdFrom = performance.now();
      while ((await call(client, client.getDispatchingStatus, {})).queued > teams) await new Promise((resolve) => setTimeout(resolve, 100));
      heldMs += performance.now() - holdFrom;
      submitted += await submitRound(client, fire.round, fire.minute, teams, report.errors);
    }
    const submittedSeconds = (performance.now() - startedAt) / 1000;
    // Every job ended...
    for (;;) {
      const status = await call(client, client.getDispatchingStatus, {});
      if (status.queued === 0 && status.running === 0) break;
      if (performance.now() - startedAt > 30 * 60_000) {
        report.errors.push(`not done after 30 minutes: ${status.queued} queued, ${status.running} running`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const jobsDoneSeconds = (performance.now() - startedAt) / 1000;
    // ...and every Job deleted (the failed ones after their keep time).
    const drainDeadline = performance.now() + keepFailedMs + 30_000;
    while (observer.sample() > 0 && performance.now() < drainDeadline) await new Promise((resolve) => setTimeout(resolve, 250));
    const wallSeconds = (performance.now() - startedAt) / 1000;
    const left = fake.list<StoredJob>("Job", NS).length;
    if (left) report.errors.push(`${left} Jobs still in the API ${((keepFailedMs + 30_000) / 1000).toFixed(0)} s after the last job ended`);
    const hwm = rssMiB(pid, "VmHWM");
    const failed = await countFailed(client);

    // ---- figures ----
    const m = observer.max;
    const lat = [...observer.deleteLatencyMs].sort((a, b) => a - b);
    const jobs = observer.jobsCreated;
    const row = (label: string, value: number, perJob: number | null = null) => report.rows.push({ label, figures: { value, "per Kubernetes Job": perJob } });
    row("Jobs in the API at once, max: all present", m.present);
    row("  active (no Complete/Failed condition)", m.active);
    row("  failed, kept for K8S_KEEP_FAILED_JOBS", m.keptFailed);
    row("  ended <= 5 s ago (delete on its way)", m.awaitingDelete);
    row("  ended > 5 s ago (should be none)", m.lingering);
    row("end -> Job deleted (succeeded), p50 ms", percentile(lat, 50));
    row("end -> Job deleted (succeeded), p99 ms", percentile(lat, 99));
    row("end -> Job deleted (succeeded), max ms", lat.at(-1) ?? Number.NaN);
    const rssSorted = [...rss].sort((a, b) => a - b);
    row("service RSS max, MiB (VmHWM)", hwm ?? Number.NaN);
    row("service RSS max sampled every 250 ms, MiB", rssSorted.at(-1) ?? Number.NaN);
    row("service RSS at the end, MiB", rss.at(-1) ?? Number.NaN);
    const peak = peakMemory as MemoryBreakdown | null;
    if (peak) {
      report.rows.push({ label: "service memory at the highest RSS a /metrics scrape saw", figures: breakdownFigures(peak) });
      report.notes.push(`service memory at the highest RSS a scrape saw: ${formatBreakdown(peak)}`);
    }
    const verbs: Array<[string, string]> = [
      ["create jobs", "API calls: create (Jobs)"],
      ["get pods/log", "API calls: log read (pods/log)"],
      ["delete jobs", "API calls: delete (Jobs)"],
      ["list jobs", "API calls: list jobs"],
      ["list pods", "API calls: list pods"],
      ["watch jobs", "API calls: watch jobs (opened)"],
      ["watch pods", "API calls: watch pods (opened)"],
      ["create configmaps", "API calls: create configmaps"],
    ];
    for (const [key, label] of verbs) {
      const count = observer.calls.get(key) ?? 0;
      row(label, count, jobs ? count / jobs : null);
    }
    const others = [...observer.calls.entries()].filter(([k]) => !verbs.some(([v]) => v === k));
    row("Kubernetes Jobs created", jobs);
    row("wall time: all submitted, s", submittedSeconds);
    row("wall time: all jobs ended, s", jobsDoneSeconds);
    row("wall time: all Jobs gone from the API, s", wallSeconds);
    report.checks.push({
      label: `Jobs present <= active + kept failed + those that ended within ${WINDOW_MS / 1000} s (max finished Jobs older than that)`,
      value: m.lingering,
      target: "0",
      met: m.lingering === 0,
      format: "number",
      note: m.lingering ? `e.g. ${observer.example}` : `max present ${m.present} vs max active ${m.active}`,
    });
    const peakRss = Math.max(hwm ?? 0, rssSorted.at(-1) ?? 0);
    report.checks.push({ label: "service RSS max (MiB, VmHWM)", value: peakRss, target: `<= ${RSS_TARGET_MIB}`, met: peakRss <= RSS_TARGET_MIB, format: "number" });

    if (submitted !== expectedJobs) report.errors.push(`submitted ${submitted} of ${expectedJobs} jobs`);
    const expectedFailures = Object.entries(failed).filter(([key]) => /:(EXIT_CODE|RETRIES_EXHAUSTED)$/.test(key));
    const unexpected = Object.entries(failed).filter(([key]) => !/:(EXIT_CODE|RETRIES_EXHAUSTED)$/.test(key));
    if (unexpected.length) report.errors.push(`unexpected failures: ${JSON.stringify(Object.fromEntries(unexpected))}`);
    if (fake.internalErrors.length) report.errors.push(`fake-kube internal errors: ${fake.internalErrors.length}`);
    report.notes.push(
      `${teams} teams x ${hours} h at ${secondsPerHour} s per hackathon hour: ${fires.length} rounds, ${submitted} jobs submitted through ScheduleJob ` +
        `(${ROUNDS.map((r) => `${r.type} every ${r.everyMinutes} min`).join(", ")}), ${jobs} Kubernetes Jobs created; pods run the type's time compressed ` +
        `(k6 ${Math.round(600 * scale)} ms, a deployment check ${Math.round(3 * scale)} ms), ${failPercent} % exit 1. MAX_RUNNING_JOBS ${maxRunning}, K8S_QPS/K8S_BURST ${qps}, ` +
        `K8S_KEEP_FAILED_JOBS ${keepMinutes} hackathon minutes = ${keepFailedMs} ms; the fake admits ${Math.ceil(qps * 1.2)}/s (burst ${Math.ceil(qps * 2.4)}), answers in 2 ms (pods/log 20 ms), resets watches every 5 s, ` +
        `keeps 5000 events of history. The clock waited ${(heldMs / 1000).toFixed(1)} s in all for the service's queue to fall to one round (${teams} jobs).`,
      `Failed jobs by type and reason: ${JSON.stringify(Object.fromEntries(expectedFailures))}. 429 answers: ${observer.throttled}. ${observer.samples} samples of the API's Jobs (every 250 ms). ` +
        (others.length ? `Other calls: ${others.map(([k, v]) => `${k} ${v}`).join(", ")}.` : ""),
      `Before this change (only ttlSecondsAfterFinished, 24 h): the API, and the runtime's caches, would hold every Job of the last 24 hackathon hours, ` +
        `${teams * fires.filter((f) => f.minute >= Math.max(0, hours - 24) * 60).length} at the end of this run (the jobs of the last ${Math.min(24, hours)} h).`,
      "The runtime's Job and pod caches mirror what the API holds (list+watch by label): they held at most the Jobs counted above and their pods.",
    );
  } finally {
    clearInterval(sampler);
    if (service) {
      service.client.close();
      service.process.kill("SIGTERM");
      const timer = setTimeout(() => service!.process.kill("SIGKILL"), 10_000);
      const code = await service.exited;
      clearTimeout(timer);
      if (code !== 0) report.errors.push(`service exited with ${code}:\n${service.logs.slice(-20).join("\n")}`);
      keepWarnings(service.logs);
      if (warnings.count) report.notes.push(`service logged ${warnings.count} warnings/errors, e.g. ${warnings.first.join(" | ")}`);
    }
    await fake.close();
    cleanup(dataDir);
  }
  return report;
}

const bench: BenchModule = { name, description, run };
export default bench;
