// The Kubernetes runtime against the fake API server (test/support/fake-kube), with the real
// service as a child process (`node dist/main.js`, RUNTIME=kubernetes, SQLite):
//
//   1. watch latency: the time from a Job's Complete condition being written in the fake API to
//      the WatchJob event (SUCCEEDED) reaching a gRPC client. Jobs finish one at a time, so each
//      sample is a latency, not a queueing delay. Target: p99 <= 100 ms.
//   2. launch rate: 1,000 ScheduleJob calls at once, with the client-side rate limit at QPS 50
//      (burst 5): the time from the first to the last Job create the API server receives, against
//      the ideal (N-burst)/QPS = 19.9 s. Target: <= 1.1x. Also checks the limit was never exceeded.
//      (A burst of a few tokens lets the bucket catch up after an event-loop stall of the busy
//      service; with burst 1 every late timer is capacity lost for good.)
//
// Knobs (env): BENCH_K8S_SAMPLES (latency samples, 200), BENCH_K8S_JOBS (launches, 1000),
// BENCH_K8S_QPS (50), BENCH_K8S_BURST (5).
import { ScheduleJobRequest, JobState, type JobEvent } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { kubernetesJobName } from "../src/runtime/kubernetes/names.js";
import { outcome, startFakeKube, type FakeKube, type StoreEvent, type StoredJob, type StoredPod } from "../test/support/fake-kube/index.js";
import { baseEnv, call, cleanup, spawnService, tempDir, waitFor, type ChildService } from "../test/support/service.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { envNumber } from "./procs.js";
import { emptyReport, type BenchModule, type BenchReport } from "./report.js";

export const name = "kubernetes";
export const description = "Kubernetes runtime vs the fake API: Job condition -> WatchJob latency, and 1,000 launches at client QPS 50";

const NS = "jobscheduler-jobs";
const TARGETS = { latencyP99Ms: 100, launchRatio: 1.1 };

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function timer(timerName: string): ScheduleJobRequest {
  return ScheduleJobRequest.fromPartial({
    name: `bench ${timerName}`,
    spec: { $case: "timer", value: { duration: { seconds: 1, nanos: 0 }, timerName, completionCallbackUrl: "" } },
  });
}

async function startServiceFor(fake: FakeKube, dataDir: string, extra: Record<string, string>): Promise<ChildService> {
  const tokenFile = join(dataDir, "token");
  writeFileSync(tokenFile, fake.token);
  return spawnService(
    baseEnv(dataDir, {
      RUNTIME: "kubernetes",
      K8S_API_SERVER: fake.url,
      K8S_TOKEN_FILE: tokenFile,
      JOB_IMAGE: "ghcr.io/hackload/jobscheduler:bench",
      LOG_LEVEL: "info",
      MAX_RUNNING_JOBS: "10000",
      DISPATCH_POLL_INTERVAL: "50ms",
      ...extra,
    }),
  );
}

async function stop(service: ChildService, report: BenchReport): Promise<void> {
  service.client.close();
  service.process.kill("SIGTERM");
  const timer = setTimeout(() => service.process.kill("SIGKILL"), 10_000);
  const code = await service.exited;
  clearTimeout(timer);
  if (code !== 0) report.errors.push(`service exited with ${code}:\n${service.logs.slice(-20).join("\n")}`);
  const warnings = service.logs.filter((l) => /"level":(40|50|60)/.test(l));
  if (warnings.length) report.notes.push(`service logged ${warnings.length} warnings/errors, e.g. ${warnings[0].slice(0, 300)}`);
}

/** Job condition (Complete) written in the fake -> WatchJob SUCCEEDED event at the client. */
async function watchLatency(report: BenchReport): Promise<void> {
  const samples = envNumber("BENCH_K8S_SAMPLES", 200);
  const fake = await startFakeKube({ timing: { podStartMs: 5, podScheduleMs: 1 }, defaultOutcome: outcome.hang() });
  const dataDir = tempDir("jobscheduler-bench-k8s-");
  let service: ChildService | undefined;
  try {
    service = await startServiceFor(fake, dataDir, {});
    const { client } = service;
    const jobs = [];
    for (let i = 0; i < samples; i++) jobs.push((await call(client, client.scheduleJob, timer(`latency-${i}`))).job!);
    // All running: one pod each, hanging until the benchmark completes it.
    await waitFor(async () => fake.list<StoredPod>("Pod", NS).filter((p) => p.status?.phase === "Running").length === samples || undefined, 60_000, 50);
    for (const job of jobs) await waitFor(async () => (await call(client, client.getJobStatus, { jobId: job.id })).state === JobState.JOB_STATE_RUNNING || undefined, 10_000, 10);

    const conditionAt = new Map<string, number>();
    const onChange = (event: StoreEvent) => {
      if (event.kind !== "Job") return;
      const job = event.object as unknown as StoredJob;
      const complete = job.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True");
      if (complete && !conditionAt.has(job.metadata.name)) conditionAt.set(job.metadata.name, performance.now());
    };
    fake.events.on("change", onChange);
    const latencies: number[] = [];
    for (const job of jobs) {
      const jobName = kubernetesJobName(job.id, job.attempt, job.type);
      const stream = client.watchJob({ jobId: job.id, afterSequence: Number(job.sequence) });
      const succeeded = new Promise<number>((resolve, reject) => {
        stream.on("data", (event: JobEvent) => {
          if (event.state === JobState.JOB_STATE_SUCCEEDED) resolve(performance.now());
          else if (event.state === JobState.JOB_STATE_FAILED) reject(new Error(`${job.id} failed: ${event.reason} ${event.message}`));
        });
        stream.on("error", reject);
      });
      // Let the stream subscribe before the end happens.
      await new Promise((r) => setTimeout(r, 15));
      const [pod] = fake.podsOf(NS, jobName);
      const result = JSON.stringify({ timerName: `latency-${latencies.length}`, durationMs: 1000, elapsedMs: 1000, completed: true });
      fake.completePod(NS, pod.metadata.name, outcome.succeed(result));
      const eventAt = await succeeded;
      stream.cancel();
      const at = conditionAt.get(jobName);
      if (at === undefined) throw new Error(`no Complete condition was seen for ${jobName}`);
      latencies.push(eventAt - at);
    }
    fake.events.off("change", onChange);
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    report.rows.push({
      label: "Job Complete condition -> WatchJob event",
      figures: { samples: sorted.length, "p50 ms": p50, "p90 ms": percentile(sorted, 90), "p99 ms": p99, "max ms": sorted.at(-1)! },
    });
    report.checks.push({ label: "condition -> WatchJob p99 (ms)", value: p99, target: `<= ${TARGETS.latencyP99Ms} ms`, met: p99 <= TARGETS.latencyP99Ms, format: "number" });
    report.notes.push(
      "latency: fake API in this process, service as a child process (SQLite); each sample: completePod -> kubelet/job controller write Complete " +
        "(t0, the fake's store event) -> service's Job watch -> pod log read -> store -> WatchJob stream (t1, this process)",
    );
    if (fake.internalErrors.length) report.errors.push(`fake-kube internal errors: ${fake.internalErrors.length}`);
  } finally {
    if (service) await stop(service, report);
    await fake.close();
    cleanup(dataDir);
  }
}

/** N ScheduleJob calls at once; the client-side limit spaces the creates at 1/QPS. */
async function launchRate(report: BenchReport): Promise<void> {
  const count = envNumber("BENCH_K8S_JOBS", 1000);
  const qps = envNumber("BENCH_K8S_QPS", 50);
  const burst = envNumber("BENCH_K8S_BURST", 5);
  const fake = await startFakeKube();
  // No pods: only the launches use the API (no pod events, no log reads).
  fake.pauseController();
  const dataDir = tempDir("jobscheduler-bench-k8s-");
  let service: ChildService | undefined;
  try {
    service = await startServiceFor(fake, dataDir, { K8S_QPS: String(qps), K8S_BURST: String(burst) });
    const { client } = service;
    const from = fake.requests.length;
    const startedAt = performance.now();
    const wallStart = Date.now();
    const scheduled: string[] = [];
    const concurrency = 50;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          scheduled.push((await call(client, client.scheduleJob, timer(`launch-${i}`))).job!.id);
        }
      }),
    );
    const scheduleSeconds = (performance.now() - startedAt) / 1000;
    const creates = () => fake.requests.slice(from).filter((r) => r.verb === "create" && r.resource === "jobs" && r.code === 201);
    await waitFor(async () => creates().length >= count || undefined, (count / qps) * 2000 + 30_000, 100);
    const times = creates().map((r) => r.at).sort((a, b) => a - b);
    const spanSeconds = (times.at(-1)! - times[0]) / 1000;
    if (process.env.BENCH_K8S_DEBUG) {
      const gaps = times.slice(1).map((t, i) => t - times[i]);
      const bySecond = new Map<number, number>();
      for (const t of times) bySecond.set(Math.floor((t - times[0]) / 1000), (bySecond.get(Math.floor((t - times[0]) / 1000)) ?? 0) + 1);
      console.log("creates per second:", [...bySecond.values()].join(" "), "max gap", Math.max(...gaps));
    }
    // The first `burst` creates may go at once; every later one waits 1/QPS for its token.
    const ideal = (count - burst) / qps;
    const ratio = spanSeconds / ideal;
    // The most creates the API server received in any window of the given length.
    const peakIn = (windowMs: number): number => {
      let peak = 0;
      for (let i = 0, j = 0; i < times.length; i++) {
        while (times[i] - times[j] >= windowMs) j++;
        peak = Math.max(peak, i - j + 1);
      }
      return peak;
    };
    const peak = peakIn(1000);
    const peak5 = peakIn(5000);
    const firstCreateDelay = (times[0] - wallStart) / 1000;
    report.rows.push({
      label: `${count} launches at client QPS ${qps}`,
      figures: {
        "creates": times.length,
        "span s": spanSeconds,
        "ideal s": ideal,
        "ratio": ratio,
        "peak in 1 s": peak,
        "peak in 5 s": peak5,
        "ScheduleJob s": scheduleSeconds,
        "first create s": firstCreateDelay,
      },
    });
    report.checks.push({ label: `${count} launches / ideal ${ideal.toFixed(1)} s`, value: ratio, target: `<= ${TARGETS.launchRatio}x`, met: ratio <= TARGETS.launchRatio, format: "number" });
    // The bucket spaces reservations exactly; arrival times at the server jitter by the two event
    // loops' delays (a late request followed by an on-time one), so a 1 s window can hold a few
    // more than QPS. Over 5 s that jitter is small: more than 5*QPS + burst + 2% would be a leak.
    // The bucket allows QPS x window + burst. Times are arrivals at the API server: each create opens
    // its own connection from a busy child process to a busy fake, so arrivals jitter by tens of ms
    // around the release times; 200 ms worth of jitter is tolerated over 5 s.
    const allowed5 = 5 * qps + burst + Math.ceil(qps * 0.2);
    if (peak5 > allowed5) report.errors.push(`the API server saw ${peak5} creates in 5 s, above the client limit (5 x QPS ${qps} + burst ${burst} + jitter)`);
    report.notes.push(
      `rate at the API server: at most ${peak} creates in any 1 s and ${peak5} in any 5 s (bucket: ${qps + burst} and ${5 * qps + burst}; ` +
        "the excess, if any, is arrival jitter)",
    );
    const jobs = fake.list<StoredJob>("Job", NS).length;
    if (jobs !== count) report.errors.push(`${jobs} Jobs exist in the fake, expected ${count}`);
    report.notes.push(
      `launches: ${count} ScheduleJob calls from ${concurrency} concurrent clients took ${scheduleSeconds.toFixed(1)} s; the service dispatched ` +
        `them at once (MAX_RUNNING_JOBS 10000) and its token bucket (K8S_QPS ${qps}, K8S_BURST ${burst}) spaced the creates; ideal = ` +
        "(N - burst) / QPS; span = first to last create received by the API server; the fake's job controller was paused so nothing else used the API",
    );
  } finally {
    if (service) await stop(service, report);
    await fake.close();
    cleanup(dataDir);
  }
}

export async function run(): Promise<BenchReport> {
  const report = emptyReport();
  await watchLatency(report);
  await launchRate(report);
  return report;
}

const module: BenchModule = { name, description, run };
export default module;
