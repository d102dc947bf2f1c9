// A DEPLOYED_SOLUTION round for 500 teams, end to end: the real service (`node dist/main.js`,
// local runtime, SQLite) fires a for_each_team http_check schedule; the Hub stand-in lists the
// teams and receives the reports. 10 % of the apps hang until the request timeout, 10 % answer
// 500, the rest answer at once; every app has its own port, as every team has its own host.
// Measured per round (two by default: the first with no history, then one ordered by it):
// trigger -> every team's criterion stored in the Hub. Compared with the seeds' sequential
// approach (one team after another, in one process): measured for the apps that answer, the
// full timeout per request for each hanging app.
//
// Knobs (env): BENCH_TEAMS (500), BENCH_ROUNDS (2), BENCH_REQUEST_TIMEOUT_MS (10000, the live collector's),
// BENCH_CONCURRENCY (running jobs at once, 64), BENCH_KEEP_DATA=1 (keep the service's DATA_DIR),
// BENCH_SERVICE_LOG (a file for the service's log lines), BENCH_SERVICE_NODE_ARGS (e.g. "--cpu-prof").
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism } from "node:os";
import {
  CreateScheduleRequest, ListJobsRequest, ScheduleJobRequest, type Job, type JobSchedulerClient,
} from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { PLACEHOLDER } from "../src/hub/default-schedules.js";
import { FakeHub, newApiKey } from "../test/support/fake-hub.js";
import { baseEnv, call, cleanup, spawnService, tempDir, type ChildService } from "../test/support/service.js";
import { emptyReport, type BenchModule, type BenchReport } from "./report.js";
import { childrenCpuSeconds, envArgs, machineBusySeconds, processCpuSeconds } from "./procs.js";

export const name = "hub-round";
export const description = "500-team deployment round (10 % hang, 10 % answer 500) vs the seeds' sequential loop";

const TARGET_SPEEDUP = 25;
const envNumber = (key: string, fallback: number) => (process.env[key] ? Number(process.env[key]) : fallback);

type AppKind = "ok" | "failing" | "hanging";

async function startApps(kinds: AppKind[]): Promise<{ urls: string[]; close(): Promise<void> }> {
  const servers: Server[] = [];
  const urls: string[] = [];
  for (const kind of kinds) {
    const server = createServer((_req, res) => {
      if (kind === "ok") res.writeHead(200, { "content-type": "application/json" }).end('{"items":[]}');
      else if (kind === "failing") res.writeHead(500, { "content-type": "application/json" }).end('{"error":"boom"}');
      // hanging: never answers
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  return {
    urls,
    async close() {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => {
        s.closeAllConnections();
        s.close(() => resolve());
      })));
    },
  };
}

async function allJobs(client: JobSchedulerClient, scheduleId: string): Promise<Job[]> {
  const jobs: Job[] = [];
  let pageToken = "";
  do {
    const page = await call(client, client.listJobs, ListJobsRequest.fromPartial({ scheduleId, pageSize: 1000, pageToken }));
    jobs.push(...page.jobs);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return jobs;
}

interface RoundFigures {
  roundMs: number;
  fireMs: number;
  jobsDoneMs: number;
  jobs: Job[];
  statuses: Record<string, number>;
  posts: number;
  slowestJobMs: number;
  cpu: { service: number | null; runs: number | null; machine: number | null };
}

const cpuSpent = (before: number | null, after: number | null) => (before === null || after === null ? null : after - before);

/** One fire of the round's schedule, from TriggerSchedule until every team's criterion is in the Hub. */
async function runRound(service: ChildService, hub: FakeHub, scheduleId: string, teams: number, errors: string[]): Promise<RoundFigures> {
  const { client } = service;
  const pid = service.process.pid!;
  const historyBefore = hub.history.length;
  const postsBefore = hub.criteriaWrites().length;
  const cpuBefore = { service: processCpuSeconds(pid), runs: childrenCpuSeconds(pid), machine: machineBusySeconds() };
  const started = performance.now();
  const fired = await call(client, client.triggerSchedule, { scheduleId });
  const fireMs = performance.now() - started;
  let jobsDoneMs = 0;
  for (;;) {
    const stored = hub.history.length - historyBefore;
    if (!jobsDoneMs) {
      const counts = await call(client, client.getDispatchingStatus, {});
      if (counts.queued === 0 && counts.running === 0 && performance.now() - started > 1000) jobsDoneMs = performance.now() - started;
    }
    if (stored >= teams) break;
    if (performance.now() - started > 20 * 60_000) {
      errors.push(`only ${stored} of ${teams} criteria reached the Hub within 20 minutes`);
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const roundMs = performance.now() - started;
  const cpu = {
    service: cpuSpent(cpuBefore.service, processCpuSeconds(pid)),
    runs: cpuSpent(cpuBefore.runs, childrenCpuSeconds(pid)),
    machine: cpuSpent(cpuBefore.machine, machineBusySeconds()),
  };
  const ids = new Set(fired.jobs.map((j) => j.id));
  const jobs = (await allJobs(client, scheduleId)).filter((j) => ids.has(j.id));
  if (fired.jobs.length !== teams || jobs.length !== teams) errors.push(`expected ${teams} jobs, the fire created ${fired.jobs.length} (${jobs.length} listed)`);
  const statuses = hub.history.slice(historyBefore).reduce<Record<string, number>>((acc, row) => ((acc[row.status] = (acc[row.status] ?? 0) + 1), acc), {});
  const slowestJobMs = Math.max(0, ...jobs.map((j) => (j.startTime && j.finishTime ? j.finishTime.getTime() - j.startTime.getTime() : 0)));
  return { roundMs, fireMs, jobsDoneMs: jobsDoneMs || roundMs, jobs, statuses, posts: hub.criteriaWrites().length - postsBefore, slowestJobMs, cpu };
}

/**
 * The seeds' loop, measured where it can be: one team after another, each app's requests one after
 * another with the request timeout (seed 001: a single GET of the app URL; the live collector: the
 * endpoint list). Hanging apps are not waited for: each of their requests costs exactly the timeout.
 */
async function seedsLoop(urls: string[], kinds: AppKind[], paths: string[], timeoutMs: number): Promise<{ measuredMs: number; hangingMs: number }> {
  let measuredMs = 0;
  let hangingMs = 0;
  for (let i = 0; i < urls.length; i++) {
    if (kinds[i] === "hanging") {
      hangingMs += paths.length * timeoutMs;
      continue;
    }
    for (const path of paths) {
      const started = performance.now();
      try {
        const res = await fetch(new URL(path, urls[i]), { headers: { "User-Agent": "HackLoad-Monitor/1.0" }, signal: AbortSignal.timeout(timeoutMs) });
        await res.arrayBuffer();
      } catch {
        // a failed request costs what it took, as in the seed's catch branch
      }
      measuredMs += performance.now() - started;
    }
  }
  return { measuredMs, hangingMs };
}

export async function run(): Promise<BenchReport> {
  const report = emptyReport();
  const teams = envNumber("BENCH_TEAMS", 500);
  const timeoutMs = envNumber("BENCH_REQUEST_TIMEOUT_MS", 10_000);
  const concurrency = envNumber("BENCH_CONCURRENCY", 64);
  const rounds = envNumber("BENCH_ROUNDS", 2);
  const kinds: AppKind[] = Array.from({ length: teams }, (_, i) => (i % 10 === 3 ? "hanging" : i % 10 === 7 ? "failing" : "ok"));
  const apps = await startApps(kinds);
  const hub = new FakeHub();
  const key = newApiKey();
  hub.addKey(key, ["teams:read", "environment:read", "environment:write"]);
  await hub.start();
  kinds.forEach((_, i) => hub.addTeam({ nickname: `team-${String(i + 1).padStart(3, "0")}`, hackathonId: "bench", env: { ENDPOINT_URL: apps.urls[i] } }));

  const dataDir = tempDir("bench-hub-round-");
  const service = await spawnService(baseEnv(dataDir, {
    LOG_LEVEL: "info",
    HUB_API_URL: hub.url,
    HUB_API_KEY: key,
    MAX_RUNNING_JOBS: String(concurrency),
    HUB_ROUND_CONCURRENCY: String(concurrency),
    HUB_BATCH_SIZE: "100",
    DISPATCH_POLL_INTERVAL: "200ms",
    // Runs inherit only PATH: loading the system CA bundle (NODE_EXTRA_CA_CERTS) would triple each run's start-up.
    LOCAL_PASS_ENV: "PATH",
  }), envArgs("BENCH_SERVICE_NODE_ARGS"));
  try {
    const { client } = service;
    const schedule = await call(client, client.createSchedule, CreateScheduleRequest.fromPartial({
      spec: {
        name: "bench-deployment-round",
        cron: "0 0 1 1 *",
        forEachTeam: { hackathonId: "bench", teamStatus: "" },
        jobTemplate: ScheduleJobRequest.fromPartial({
          timeout: { seconds: Math.ceil((timeoutMs * 2 + 10_000) / 1000), nanos: 0 },
          retryPolicy: { maxAttempts: 1 },
          spec: { $case: "httpCheck", value: { baseUrl: PLACEHOLDER.appUrl, endpoints: [], requestTimeout: { seconds: Math.floor(timeoutMs / 1000), nanos: (timeoutMs % 1000) * 1e6 } } },
        }),
      },
    }));
    const figures: RoundFigures[] = [];
    for (let i = 0; i < rounds; i++) figures.push(await runRound(service, hub, schedule.id, teams, report.errors));

    const expectedPassed = kinds.filter((k) => k === "ok").length;
    figures.forEach((round, i) => {
      if (round.statuses.PASSED !== expectedPassed || round.statuses.FAILED !== teams - expectedPassed) {
        report.errors.push(`round ${i + 1}: expected ${expectedPassed} PASSED and ${teams - expectedPassed} FAILED in the Hub, got ${JSON.stringify(round.statuses)}`);
      }
      for (const job of round.jobs) {
        if (!(job.result?.endpoints as unknown[] | undefined)?.length) report.errors.push(`job ${job.id} (${job.name}) has no endpoint results: ${job.reason} ${job.message}`);
      }
    });
    const paths = ((figures[0].jobs[0]?.result?.endpoints as { path: string }[] | undefined) ?? []).map((e) => e.path);
    const single = await seedsLoop(apps.urls, kinds, ["/"], timeoutMs);
    const list = await seedsLoop(apps.urls, kinds, paths, timeoutMs);
    const seedSingleMs = single.measuredMs + single.hangingMs;
    const seedListMs = list.measuredMs + list.hangingMs;

    figures.forEach((round, i) => {
      const label = i === 0 ? "round 1 (no history)" : `round ${i + 1} (ordered by the last round's durations)`;
      report.rows.push(
        { label: `${label}: trigger -> all criteria in the Hub`, figures: { "seconds": round.roundMs / 1000, "vs seed 001": seedSingleMs / round.roundMs, "vs same probes": seedListMs / round.roundMs } },
        { label: "  of which: TriggerSchedule answered", figures: { "seconds": round.fireMs / 1000, "vs seed 001": null, "vs same probes": null } },
        { label: "  of which: until every job ended", figures: { "seconds": round.jobsDoneMs / 1000, "vs seed 001": null, "vs same probes": null } },
      );
    });
    report.rows.push(
      { label: "seeds' loop, 1 GET per team (seed 001)", figures: { "seconds": seedSingleMs / 1000, "vs seed 001": null, "vs same probes": null } },
      { label: `seeds' loop, the same ${paths.length} endpoints per team`, figures: { "seconds": seedListMs / 1000, "vs seed 001": null, "vs same probes": null } },
    );
    const first = figures[0];
    const steady = figures.at(-1)!;
    report.checks.push(
      { label: `first round (no history) vs seed 001's loop, target >= ${TARGET_SPEEDUP}x`, value: seedSingleMs / first.roundMs, target: `>= ${TARGET_SPEEDUP}`, met: seedSingleMs / first.roundMs >= TARGET_SPEEDUP, format: "number" },
      { label: `first round (no history) vs the loop over the same probes, target >= ${TARGET_SPEEDUP}x`, value: seedListMs / first.roundMs, target: `>= ${TARGET_SPEEDUP}`, met: seedListMs / first.roundMs >= TARGET_SPEEDUP, format: "number" },
    );
    if (figures.length > 1) {
      report.checks.push(
        { label: `later rounds (slowest teams first) vs seed 001's loop, target >= ${TARGET_SPEEDUP}x`, value: seedSingleMs / steady.roundMs, target: `>= ${TARGET_SPEEDUP}`, met: seedSingleMs / steady.roundMs >= TARGET_SPEEDUP, format: "number" },
      );
    }
    const cpuNote = (round: RoundFigures, i: number) => round.cpu.service === null ? "CPU accounting needs /proc." :
      `Round ${i + 1} CPU: service ${round.cpu.service.toFixed(1)} s (${((round.cpu.service * 1000) / teams).toFixed(1)} ms per team), its runs ${round.cpu.runs!.toFixed(1)} s (${((round.cpu.runs! * 1000) / teams).toFixed(1)} ms per run), whole machine ${round.cpu.machine!.toFixed(1)} s of ${((round.roundMs / 1000) * availableParallelism()).toFixed(1)} s available on ${availableParallelism()} CPUs.`;
    report.notes.push(
      `${teams} teams: ${kinds.filter((k) => k === "hanging").length} hang, ${kinds.filter((k) => k === "failing").length} answer 500; request timeout ${timeoutMs} ms; ${concurrency} runs at once (MAX_RUNNING_JOBS, HUB_ROUND_CONCURRENCY), one per app host.`,
      ...figures.map((round, i) => `Round ${i + 1}: ${(teams / (round.jobsDoneMs / 1000)).toFixed(1)} jobs/s; Hub ${JSON.stringify(round.statuses)} in ${round.posts} bulk POSTs; slowest single job ${(round.slowestJobMs / 1000).toFixed(1)} s (a hanging app costs one timeout: the endpoints of one app are probed in parallel).`),
      ...figures.map(cpuNote),
      "The first round is bound by the CPU cost of one node process per team on this machine (the local runtime), and ends one timeout after the last hanging app started; later rounds start the teams that ran longest last time first, so the timeouts overlap the rest of the round. With the Kubernetes runtime each team is a pod.",
      `Seeds' loop: the ${kinds.filter((k) => k !== "hanging").length} answering apps measured one request after another (${(single.measuredMs / 1000).toFixed(2)} s for 1 GET each, ${(list.measuredMs / 1000).toFixed(2)} s for ${paths.length} each), plus the timeout for each request to a hanging app (${(single.hangingMs / 1000).toFixed(0)} s and ${(list.hangingMs / 1000).toFixed(0)} s).`,
    );
  } finally {
    service.client.close();
    if (process.env.BENCH_SERVICE_LOG) writeFileSync(process.env.BENCH_SERVICE_LOG, service.logs.join("\n"));
    service.process.kill("SIGTERM");
    await service.exited;
    if (!process.env.BENCH_KEEP_DATA) cleanup(dataDir);
    await hub.close();
    await apps.close();
  }
  return report;
}

const bench: BenchModule = { name, description, run };
export default bench;
