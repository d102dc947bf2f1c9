// The Kubernetes runtime against the fake API server (test/support/fake-kube) loaded as a real
// one can be: every answer takes a few ms (pods/log 20 ms), APF-like throttling per user (429 +
// Retry-After past its rate), and a proxy resetting every watch connection after 5 s. The real
// service runs as a child process (`node dist/main.js`, RUNTIME=kubernetes, SQLite):
//
//   1. watch latency: the time from a Job's Complete condition being written in the fake API to
//      the WatchJob event (SUCCEEDED) reaching a gRPC client, jobs finishing one at a time (a
//      latency, not a queueing delay). Target: p99 <= 100 ms.
//   2. burst of ends: 200 timers launched together (MAX_RUNNING_JOBS 300, the default K8S_QPS
//      50 / K8S_BURST 100), all running, then all completed within one second; Complete
//      condition -> WatchJob SUCCEEDED per job, the WatchJob clients on a thread of their own
//      (watch-worker.ts: the fake's work would otherwise delay when this loop sees the events);
//      also Complete -> the service's "Kubernetes Job ended" log line. Target: p99 <= 100 ms.
//   3. launch rate: 1,000 ScheduleJob calls at once, client limit QPS 50 (burst 5), the API
//      server admitting 60/s per user (burst 120); the jobs run (two-second timers, 2% failing with a log to
//      read) and end while later ones launch. Span from the first to the last Job create the API
//      server receives, against the ideal (N - burst) / QPS = 19.9 s. Target: <= 1.1x. Also
//      checks that the server never had to refuse a request (429) and every job ended as its pod.
//
// Knobs (env): BENCH_K8S_SAMPLES (latency samples, 200), BENCH_K8S_BURST_JOBS (200),
// BENCH_K8S_JOBS (launches, 1000), BENCH_K8S_QPS (50), BENCH_K8S_BURST (5),
// BENCH_K8S_SERVER_QPS (60), BENCH_K8S_CASES (latency,burst,launch), BENCH_K8S_DEBUG (creates
// per second of the launch case), BENCH_K8S_CPU_PROF (a directory: the service's CPU profile).
import { ScheduleJobRequest, JobState, type Job, type JobEvent } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { kubernetesJobName } from "../src/runtime/kubernetes/names.js";
import { outcome, startFakeKube, type FakeKube, type FakeKubeOptions, type RequestRecord, type StoreEvent, type StoredJob, type StoredPod } from "../test/support/fake-kube/index.js";
import { baseEnv, call, cleanup, spawnService, tempDir, waitFor, type ChildService } from "../test/support/service.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { envNumber } from "./procs.js";
import { emptyReport, type BenchModule, type BenchReport } from "./report.js";

export const name = "kubernetes";
export const description =
  "Kubernetes runtime vs a loaded fake API: Complete -> WatchJob latency (one at a time, and 200 ends within a second), and 1,000 launches at client QPS 50";

const NS = "jobscheduler-jobs";
const TARGETS = { latencyP99Ms: 100, burstP99Ms: 100, launchRatio: 1.1 };
const TERMINAL = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function timer(timerName: string, seconds = 1): ScheduleJobRequest {
  return ScheduleJobRequest.fromPartial({
    name: `bench ${timerName}`,
    spec: { $case: "timer", value: { duration: { seconds, nanos: 0 }, timerName, completionCallbackUrl: "" } },
  });
}

function envOf(pod: StoredPod): Record<string, string> {
  return Object.fromEntries((pod.spec?.containers[0].env ?? []).map((e) => [e.name, e.value ?? ""]));
}

/** What the timer collector writes to /dev/termination-log. */
function timerResult(pod: StoredPod): string {
  const env = envOf(pod);
  const ms = Number(env.TIMER_DURATION_MS);
  return JSON.stringify({ timerName: env.TIMER_NAME, durationMs: ms, elapsedMs: ms, completed: true });
}

async function startServiceFor(fake: FakeKube, dataDir: string, extra: Record<string, string>): Promise<ChildService> {
  const tokenFile = join(dataDir, "token");
  writeFileSync(tokenFile, fake.token);
  const profileDir = process.env.BENCH_K8S_CPU_PROF;
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
    profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [],
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

/** High-resolution time comparable across threads (performance.now() is per thread). */
function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

/** WatchJob streams for the jobs on a thread of their own (watch-worker.ts); resolves with each SUCCEEDED arrival. */
async function watchOnWorker(service: ChildService, jobs: Job[]): Promise<{ arrivals: Promise<Record<string, number>>; stop(): Promise<number> }> {
  // A TypeScript worker: register tsx in the thread, then load the module.
  const entry = new URL("./watch-worker.ts", import.meta.url).href;
  const worker = new Worker(`import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`, {
    eval: true,
    workerData: { address: `127.0.0.1:${service.grpcPort}`, jobs: jobs.map((job) => ({ id: job.id, sequence: Number(job.sequence) })) },
  });
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  const arrivals = new Promise<Record<string, number>>((resolve, reject) => {
    worker.on("message", (message: "subscribed" | { arrivals: Record<string, number> } | { error: string }) => {
      if (message === "subscribed") subscribed();
      else if ("error" in message) reject(new Error(message.error));
      else resolve(message.arrivals);
    });
    worker.on("error", reject);
  });
  await ready;
  return { arrivals, stop: () => worker.terminate() };
}

/** Records when each Job first has its Complete condition, as written in the fake's store. */
function completeTimes(fake: FakeKube): { at: Map<string, number>; stop(): void } {
  const at = new Map<string, number>();
  const onChange = (event: StoreEvent) => {
    if (event.kind !== "Job") return;
    const job = event.object as unknown as StoredJob;
    const complete = job.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True");
    if (complete && !at.has(job.metadata.name)) at.set(job.metadata.name, epochNow());
  };
  fake.events.on("change", onChange);
  return { at, stop: () => fake.events.off("change", onChange) };
}

/** Resolves with the arrival time of the job's SUCCEEDED event on a WatchJob stream opened now. */
function succeededAt(service: ChildService, job: Job): { arrived: Promise<number>; cancel(): void } {
  const stream = service.client.watchJob({ jobId: job.id, afterSequence: Number(job.sequence) });
  const arrived = new Promise<number>((resolve, reject) => {
    stream.on("data", (event: JobEvent) => {
      if (event.state === JobState.JOB_STATE_SUCCEEDED) resolve(epochNow());
      else if (TERMINAL.has(event.state)) reject(new Error(`${job.id} ended ${JobState[event.state]}: ${event.reason} ${event.message}`));
    });
    stream.on("error", (error: Error & { code?: number }) => {
      if (error.code !== 1) reject(error); // 1: CANCELLED by us
    });
  });
  return { arrived, cancel: () => stream.cancel() };
}

function latencyFigures(latencies: number[]): Record<string, number> {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { samples: sorted.length, "p50 ms": percentile(sorted, 50), "p90 ms": percentile(sorted, 90), "p99 ms": percentile(sorted, 99), "max ms": sorted.at(-1)! };
}

const isLogRead = (r: RequestRecord) => r.subresource === "log";
const isPodList = (r: RequestRecord) => r.verb === "list" && r.resource === "pods";

function apiTraffic(fake: FakeKube, from: number): string {
  const seen = fake.requests.slice(from);
  return (
    `${seen.filter(isLogRead).length} pods/log reads, ${seen.filter(isPodList).length} pod lists, ${seen.filter((r) => r.verb === "watch").length} watches opened, ` +
    `${seen.filter((r) => r.code === 429).length} answers 429, ${fake.watchResets} watch connections reset by the proxy`
  );
}

/** Job Complete condition written in the fake -> WatchJob SUCCEEDED at the client, one job at a time. */
async function watchLatency(report: BenchReport): Promise<void> {
  const samples = envNumber("BENCH_K8S_SAMPLES", 200);
  const fake = await startFakeKube({ timing: { podStartMs: 5, podScheduleMs: 1 }, defaultOutcome: outcome.hang() });
  const dataDir = tempDir("jobscheduler-bench-k8s-");
  let service: ChildService | undefined;
  try {
    service = await startServiceFor(fake, dataDir, {});
    const { client } = service;
    const jobs: Job[] = [];
    for (let i = 0; i < samples; i++) jobs.push((await call(client, client.scheduleJob, timer(`latency-${i}`))).job!);
    // All running: one pod each, hanging until the benchmark completes it.
    await waitFor(async () => fake.list<StoredPod>("Pod", NS).filter((p) => p.status?.phase === "Running").length === samples || undefined, 60_000, 50);
    for (const job of jobs) await waitFor(async () => (await call(client, client.getJobStatus, { jobId: job.id })).state === JobState.JOB_STATE_RUNNING || undefined, 10_000, 10);

    const from = fake.requests.length;
    const complete = completeTimes(fake);
    const latencies: number[] = [];
    for (const job of jobs) {
      const jobName = kubernetesJobName(job.id, job.attempt, job.type);
      const watch = succeededAt(service, job);
      // Let the stream subscribe before the end happens.
      await new Promise((r) => setTimeout(r, 15));
      const [pod] = fake.podsOf(NS, jobName);
      fake.completePod(NS, pod.metadata.name, outcome.succeed(timerResult(pod)));
      const eventAt = await watch.arrived;
      watch.cancel();
      const at = complete.at.get(jobName);
      if (at === undefined) throw new Error(`no Complete condition was seen for ${jobName}`);
      latencies.push(eventAt - at);
    }
    complete.stop();
    const figures = latencyFigures(latencies);
    report.rows.push({ label: "one at a time: Job Complete -> WatchJob event", figures });
    report.checks.push({ label: "one at a time: Complete -> WatchJob p99 (ms)", value: figures["p99 ms"], target: `<= ${TARGETS.latencyP99Ms} ms`, met: figures["p99 ms"] <= TARGETS.latencyP99Ms, format: "number" });
    report.notes.push(
      "latency: fake API in this process, service as a child process (SQLite); each sample: completePod -> kubelet/job controller write Complete " +
        `(t0, the fake's store event) -> service's Job (and pod) watch -> store -> WatchJob stream (t1, this process); API traffic meanwhile: ${apiTraffic(fake, from)}`,
    );
    if (fake.internalErrors.length) report.errors.push(`fake-kube internal errors: ${fake.internalErrors.length}`);
  } finally {
    if (service) await stop(service, report);
    await fake.close();
    cleanup(dataDir);
  }
}

/** 200 timers running together, completed within one second: Complete -> WatchJob for each. */
async function burstOfEnds(report: BenchReport): Promise<void> {
  const count = envNumber("BENCH_K8S_BURST_JOBS", 200);
  const fake = await startFakeKube({ defaultOutcome: outcome.hang() });
  const dataDir = tempDir("jobscheduler-bench-k8s-");
  let service: ChildService | undefined;
  try {
    service = await startServiceFor(fake, dataDir, { MAX_RUNNING_JOBS: "300" });
    const { client } = service;
    const jobs = await Promise.all(Array.from({ length: count }, async (_, i) => (await call(client, client.scheduleJob, timer(`burst-${i}`, 2))).job!));
    await waitFor(async () => fake.list<StoredPod>("Pod", NS).filter((p) => p.status?.phase === "Running").length === count || undefined, 60_000, 50);
    await waitFor(async () => {
      const states = await Promise.all(jobs.map((job) => call(client, client.getJobStatus, { jobId: job.id })));
      return states.every((s) => s.state === JobState.JOB_STATE_RUNNING) || undefined;
    }, 30_000, 100);
    const watches = await watchOnWorker(service, jobs);

    const from = fake.requests.length;
    const complete = completeTimes(fake);
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const startedAt = epochNow();
    // Spread over one second, in random order.
    for (const job of jobs) {
      const jobName = kubernetesJobName(job.id, job.attempt, job.type);
      const [pod] = fake.podsOf(NS, jobName);
      setTimeout(() => fake.completePod(NS, pod.metadata.name, outcome.succeed(timerResult(pod))), Math.random() * 1000);
    }
    const arrivals = await watches.arrivals;
    await watches.stop();
    const wallSeconds = (Math.max(...Object.values(arrivals)) - startedAt) / 1000;
    lag.disable();
    complete.stop();
    // When the service had recorded each end (its "Kubernetes Job ended" log line, written once
    // the store holds the end): the part of the latency that is the service's own.
    const endedLines = () => service!.logs.filter((line) => line.includes('"Kubernetes Job ended"')).length;
    await waitFor(async () => endedLines() >= count || undefined, 5000, 50).catch(() => undefined);
    const offset = Date.now() - epochNow();
    const recordedAt = new Map<string, number>();
    for (const line of service.logs) {
      if (!line.includes('"Kubernetes Job ended"')) continue;
      const entry = JSON.parse(line) as { kubernetesJob: string; time: string };
      recordedAt.set(entry.kubernetesJob, Date.parse(entry.time) - offset);
    }
    const recorded = jobs.flatMap((job) => {
      const jobName = kubernetesJobName(job.id, job.attempt, job.type);
      const at = recordedAt.get(jobName);
      return at === undefined ? [] : [Math.max(0, at - complete.at.get(jobName)!)];
    });
    const latencies = jobs.map((job) => {
      const at = complete.at.get(kubernetesJobName(job.id, job.attempt, job.type));
      if (at === undefined) throw new Error(`no Complete condition was seen for job ${job.id}`);
      return arrivals[job.id] - at;
    });
    const figures = latencyFigures(latencies);
    report.rows.push({ label: `${count} ends within 1 s: Job Complete -> WatchJob event`, figures });
    report.rows.push({ label: `${count} ends within 1 s: Job Complete -> end recorded (service log, ms precision)`, figures: latencyFigures(recorded) });
    report.checks.push({ label: `${count} ends within 1 s: Complete -> WatchJob p99 (ms)`, value: figures["p99 ms"], target: `<= ${TARGETS.burstP99Ms} ms`, met: figures["p99 ms"] <= TARGETS.burstP99Ms, format: "number" });
    report.notes.push(
      `burst: ${count} two-second timers launched together (MAX_RUNNING_JOBS 300, K8S_QPS 50, K8S_BURST 100), all RUNNING, then their pods completed ` +
        `at random times within 1 s; last WatchJob event ${wallSeconds.toFixed(2)} s after the first completion; API traffic during the ends: ${apiTraffic(fake, from)}; ` +
        `the WatchJob clients run on a thread of their own; event-loop delay of the fake API's thread meanwhile: p50 ${(lag.percentile(50) / 1e6).toFixed(0)} ms, max ${(lag.max / 1e6).toFixed(0)} ms`,
    );
    if (fake.internalErrors.length) report.errors.push(`fake-kube internal errors: ${fake.internalErrors.length}`);
  } finally {
    if (service) await stop(service, report);
    await fake.close();
    cleanup(dataDir);
  }
}

/** N ScheduleJob calls at once, the jobs running and ending meanwhile; the client-side limit spaces the creates at 1/QPS. */
async function launchRate(report: BenchReport): Promise<void> {
  const count = envNumber("BENCH_K8S_JOBS", 1000);
  const qps = envNumber("BENCH_K8S_QPS", 50);
  const burst = envNumber("BENCH_K8S_BURST", 5);
  const serverQps = envNumber("BENCH_K8S_SERVER_QPS", 60);
  const options: FakeKubeOptions = {
    // Its sustained rate just above the client's; a burst of 2 s worth, because arrivals bunch up
    // when this process (the fake and the load) stalls, which a compliant client cannot help.
    flowControl: { qps: serverQps, burst: 2 * serverQps, retryAfterSeconds: 1 },
    // Two-second timers; one job in 50 fails with a log to read (exit 1 and its error line).
    defaultOutcome: (pod) =>
      Number(envOf(pod).TIMER_NAME.split("-")[1]) % 50 === 7
        ? outcome.fail(1, { runMs: 2000, log: "timer: waiting\nError: callback refused\n" })
        : outcome.succeed(timerResult(pod), { runMs: 2000, log: "timer: waiting\ntimer: done\n" }),
  };
  const fake = await startFakeKube(options);
  const dataDir = tempDir("jobscheduler-bench-k8s-");
  let service: ChildService | undefined;
  try {
    service = await startServiceFor(fake, dataDir, { K8S_QPS: String(qps), K8S_BURST: String(burst) });
    const { client } = service;
    const from = fake.requests.length;
    const startedAt = performance.now();
    const wallStart = Date.now();
    const scheduled: Job[] = [];
    const concurrency = 50;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          scheduled.push((await call(client, client.scheduleJob, timer(`launch-${i}`, 2))).job!);
        }
      }),
    );
    const scheduleSeconds = (performance.now() - startedAt) / 1000;
    const creates = () => fake.requests.slice(from).filter((r) => r.verb === "create" && r.resource === "jobs" && r.code === 201);
    await waitFor(async () => creates().length >= count || undefined, (count / qps) * 2000 + 30_000, 100);
    const times = creates().map((r) => r.at).sort((a, b) => a - b);
    const spanSeconds = (times.at(-1)! - times[0]) / 1000;
    const during = fake.requests.slice(from).filter((r) => r.at <= times.at(-1)!);
    if (process.env.BENCH_K8S_DEBUG) {
      const bySecond = new Map<number, number>();
      for (const t of times) bySecond.set(Math.floor((t - times[0]) / 1000), (bySecond.get(Math.floor((t - times[0]) / 1000)) ?? 0) + 1);
      console.log("creates per second:", [...bySecond.values()].join(" "));
    }
    // The first `burst` creates may go at once; every later one waits 1/QPS for its token.
    const ideal = (count - burst) / qps;
    const ratio = spanSeconds / ideal;
    // The most requests the API server received in any window of the given length.
    const peakIn = (at: number[], windowMs: number): number => {
      let peak = 0;
      for (let i = 0, j = 0; i < at.length; i++) {
        while (at[i] - at[j] >= windowMs) j++;
        peak = Math.max(peak, i - j + 1);
      }
      return peak;
    };
    const all = during.map((r) => r.at).sort((a, b) => a - b);
    const peak5 = peakIn(all, 5000);

    report.rows.push({
      label: `${count} launches at client QPS ${qps}`,
      figures: {
        creates: times.length,
        "span s": spanSeconds,
        "ideal s": ideal,
        ratio,
        "API calls in span": during.length,
        "pods/log in span": during.filter(isLogRead).length,
        "pod lists in span": during.filter(isPodList).length,
        "429s": fake.requests.slice(from).filter((r) => r.code === 429).length,
        "ScheduleJob s": scheduleSeconds,
        "first create s": (times[0] - wallStart) / 1000,
      },
    });
    report.checks.push({ label: `${count} launches / ideal ${ideal.toFixed(1)} s`, value: ratio, target: `<= ${TARGETS.launchRatio}x`, met: ratio <= TARGETS.launchRatio, format: "number" });
    // The limit that counts is the server's: admitting serverQps (just above the client's QPS)
    // per second, it answers 429 to a client that exceeds its own limit. (Arrival times at the
    // fake bunch up when its event loop is late, so a window count is shown, not judged.)
    const throttled = fake.requests.slice(from).filter((r) => r.code === 429).length;
    if (throttled > 0) report.errors.push(`the API server (limit ${serverQps}/s) refused ${throttled} requests with 429: the client exceeded its share`);
    // Every job ends as its pod did (after the figures: a slow end must not hide them).
    let succeeded = 0;
    let failedCount = 0;
    try {
      const ends = await waitFor(async () => {
        const states: Job[] = [];
        for (let i = 0; i < scheduled.length; i += 100) {
          states.push(...(await Promise.all(scheduled.slice(i, i + 100).map((job) => call(client, client.getJobStatus, { jobId: job.id })))));
        }
        return states.every((s) => TERMINAL.has(s.state)) ? states : undefined;
      }, 120_000, 1000);
      const failedExpected = scheduled.filter((job) => Number((job.params as { timerName: string }).timerName.split("-")[1]) % 50 === 7).length;
      const failed = ends.filter((s) => s.state === JobState.JOB_STATE_FAILED);
      const succeededCount = ends.filter((s) => s.state === JobState.JOB_STATE_SUCCEEDED).length;
      if (failed.length !== failedExpected || succeededCount !== count - failedExpected) {
        report.errors.push(`expected ${count - failedExpected} SUCCEEDED and ${failedExpected} FAILED, got ${succeededCount} and ${failed.length}`);
      }
      const withTail = failed.filter((s) => s.outputTail.includes("Error: callback refused")).length;
      if (withTail !== failed.length) report.errors.push(`${failed.length - withTail} failed jobs lack their output tail`);
      succeeded = succeededCount;
      failedCount = failed.length;
    } catch (error) {
      report.errors.push(`not every job ended within 2 minutes of the last create: ${(error as Error).message}`);
    }
    report.notes.push(
      `launches: ${count} ScheduleJob calls from ${concurrency} concurrent clients took ${scheduleSeconds.toFixed(1)} s; the service dispatched them at once ` +
        `(MAX_RUNNING_JOBS 10000) and its token bucket (K8S_QPS ${qps}, K8S_BURST ${burst}) spaced every API call; ideal = (N - burst) / QPS; span = first to last ` +
        `create received by the API server (admitting ${serverQps}/s per user, burst ${2 * serverQps}); the jobs ran (2 s) and ended meanwhile, 1 in 50 failing with a log to read. ` +
        `At most ${peak5} API calls in any 5 s (client limit ${5 * qps + burst}). ${succeeded} SUCCEEDED, ${failedCount} FAILED with their output tail. ` +
        `Whole run: ${apiTraffic(fake, from)}`,
    );
    if (fake.internalErrors.length) report.errors.push(`fake-kube internal errors: ${fake.internalErrors.length}`);
  } finally {
    if (service) await stop(service, report);
    await fake.close();
    cleanup(dataDir);
  }
}

export async function run(): Promise<BenchReport> {
  const report = emptyReport();
  const cases = (process.env.BENCH_K8S_CASES ?? "latency,burst,launch").split(",").map((c) => c.trim());
  if (cases.includes("latency")) await watchLatency(report);
  if (cases.includes("burst")) await burstOfEnds(report);
  if (cases.includes("launch")) await launchRate(report);
  return report;
}

const module: BenchModule = { name, description, run };
export default module;
