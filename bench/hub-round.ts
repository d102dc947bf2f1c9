// A DEPLOYED_SOLUTION round for 500 teams, end to end: the real service (`node dist/main.js`,
// local runtime, SQLite) fires a for_each_team http_check schedule; the Hub stand-in lists the
// teams and receives the reports. 10 % of the apps hang until the request timeout, 10 % answer
// 500, the rest answer at once; every app has its own port, as every team has its own host.
// Measured: trigger -> every team's criterion stored in the Hub. Compared with the seeds'
// sequential approach (one team after another, in one process), computed from the same run's
// per-team figures: a hanging app costs its full timeout there, each other team its latencies.
//
// Knobs (env): BENCH_TEAMS (500), BENCH_REQUEST_TIMEOUT_MS (10000, the live collector's),
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
import { baseEnv, call, cleanup, spawnService, tempDir } from "../test/support/service.js";
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

export async function run(): Promise<BenchReport> {
  const report = emptyReport();
  const teams = envNumber("BENCH_TEAMS", 500);
  const timeoutMs = envNumber("BENCH_REQUEST_TIMEOUT_MS", 10_000);
  const concurrency = envNumber("BENCH_CONCURRENCY", 64);
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
    const pid = service.process.pid!;
    const cpuBefore = { service: processCpuSeconds(pid), runs: childrenCpuSeconds(pid), machine: machineBusySeconds() };
    const started = performance.now();
    const fired = await call(client, client.triggerSchedule, { scheduleId: schedule.id });
    const firedMs = performance.now() - started;
    let jobsDoneMs = 0;
    for (;;) {
      const stored = [...hub.criteria.values()].filter((c) => c.criteriaType === "DEPLOYED_SOLUTION").length;
      if (!jobsDoneMs) {
        const counts = await call(client, client.getDispatchingStatus, {});
        if (counts.queued === 0 && counts.running === 0 && performance.now() - started > 1000) jobsDoneMs = performance.now() - started;
      }
      if (stored >= teams) break;
      if (performance.now() - started > 20 * 60_000) {
        report.errors.push(`only ${stored} of ${teams} criteria reached the Hub within 20 minutes`);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const roundMs = performance.now() - started;
    jobsDoneMs ||= roundMs;
    const cpuSpent = (before: number | null, after: number | null) => (before === null || after === null ? null : after - before);
    const cpu = {
      service: cpuSpent(cpuBefore.service, processCpuSeconds(pid)),
      runs: cpuSpent(cpuBefore.runs, childrenCpuSeconds(pid)),
      machine: cpuSpent(cpuBefore.machine, machineBusySeconds()),
    };

    const jobs = await allJobs(client, schedule.id);
    if (fired.jobs.length !== teams || jobs.length !== teams) report.errors.push(`expected ${teams} jobs, the fire created ${fired.jobs.length} (${jobs.length} listed)`);
    // The seeds' loop, per team: the deployment monitor's single GET (seed 001; hanging = the full timeout),
    // and the live collector's endpoint list probed one request after another.
    let sequentialSingleMs = 0;
    let sequentialListMs = 0;
    let perTeamMax = 0;
    let timeoutsSingleMs = 0;
    let timeoutsListMs = 0;
    for (const job of jobs) {
      const endpoints = ((job.result?.endpoints as { latencyMs: number | null; error: string | null }[]) ?? []);
      if (!endpoints.length) {
        report.errors.push(`job ${job.id} (${job.name}) has no endpoint results: ${job.reason} ${job.message}`);
        continue;
      }
      const cost = (e: { latencyMs: number | null; error: string | null }) => (e.error === "TIMEOUT" ? timeoutMs : (e.latencyMs ?? 0));
      sequentialSingleMs += cost(endpoints[0]);
      if (endpoints[0].error === "TIMEOUT") timeoutsSingleMs += timeoutMs;
      timeoutsListMs += endpoints.filter((e) => e.error === "TIMEOUT").length * timeoutMs;
      sequentialListMs += endpoints.reduce((sum, e) => sum + cost(e), 0);
      if (job.startTime && job.finishTime) perTeamMax = Math.max(perTeamMax, job.finishTime.getTime() - job.startTime.getTime());
    }
    const statuses = [...hub.criteria.values()].reduce<Record<string, number>>((acc, c) => ((acc[c.status] = (acc[c.status] ?? 0) + 1), acc), {});
    const expectedPassed = kinds.filter((k) => k === "ok").length;
    if (statuses.PASSED !== expectedPassed || statuses.FAILED !== teams - expectedPassed) {
      report.errors.push(`expected ${expectedPassed} PASSED and ${teams - expectedPassed} FAILED in the Hub, got ${JSON.stringify(statuses)}`);
    }
    const posts = hub.criteriaWrites().length;

    const speedupSingle = sequentialSingleMs / roundMs;
    const speedupList = sequentialListMs / roundMs;
    report.rows.push(
      { label: "this service: trigger -> all criteria in the Hub", figures: { "seconds": roundMs / 1000, "speed-up ratio": null } },
      { label: "  of which: fire (list teams, submit jobs)", figures: { "seconds": firedMs / 1000, "speed-up ratio": null } },
      { label: "  of which: until every job ended", figures: { "seconds": jobsDoneMs / 1000, "speed-up ratio": null } },
      { label: "seeds, sequential, 1 GET per team (seed 001)", figures: { "seconds": sequentialSingleMs / 1000, "speed-up ratio": speedupSingle } },
      { label: "seeds, sequential, same 4 endpoints per team", figures: { "seconds": sequentialListMs / 1000, "speed-up ratio": speedupList } },
    );
    report.checks.push(
      { label: `round vs the sequential loop over the same probes (4 endpoints per team), target >= ${TARGET_SPEEDUP}x`, value: speedupList, target: `>= ${TARGET_SPEEDUP}`, met: speedupList >= TARGET_SPEEDUP, format: "number" },
      { label: `round vs seed 001's loop with a single GET per team (a smaller job than this round's), target >= ${TARGET_SPEEDUP}x`, value: speedupSingle, target: `>= ${TARGET_SPEEDUP}`, met: speedupSingle >= TARGET_SPEEDUP, format: "number" },
    );
    report.notes.push(
      `${teams} teams: ${kinds.filter((k) => k === "hanging").length} hang, ${kinds.filter((k) => k === "failing").length} answer 500; request timeout ${timeoutMs} ms; ${concurrency} runs at once (MAX_RUNNING_JOBS, HUB_ROUND_CONCURRENCY), one per app host.`,
      `Throughput ${(teams / (jobsDoneMs / 1000)).toFixed(1)} jobs/s. The round is bound by starting one process per team (the local runtime's synchronous spawn and per-run directories on the service's event loop), not by the hanging apps: with a Kubernetes runtime the same round runs as ${teams} pods.`,
      `Hub: ${JSON.stringify(statuses)} in ${posts} bulk POSTs; slowest single job ${(perTeamMax / 1000).toFixed(1)} s (a hanging app costs one timeout, the endpoints of one app are probed in parallel).`,
      cpu.service === null ? "CPU accounting needs /proc." :
        `CPU during the round: service ${cpu.service.toFixed(1)} s (${((cpu.service * 1000) / teams).toFixed(1)} ms per team), its runs ${cpu.runs!.toFixed(1)} s (${((cpu.runs! * 1000) / teams).toFixed(1)} ms per run), whole machine ${cpu.machine!.toFixed(1)} s of ${((roundMs / 1000) * availableParallelism()).toFixed(1)} s available on ${availableParallelism()} CPUs.`,
      "Sequential figures are computed from this run's per-team results: each endpoint's measured latency, the full timeout for one that timed out.",
      `Latencies were measured under the round's own load, so the sequential figures run slightly high; their timeouts alone (the lower bound) are ${(timeoutsSingleMs / 1000).toFixed(0)} s (1 GET per team: ${(timeoutsSingleMs / roundMs).toFixed(1)}x) and ${(timeoutsListMs / 1000).toFixed(0)} s (same probes: ${(timeoutsListMs / roundMs).toFixed(1)}x).`,
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
