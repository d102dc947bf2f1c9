// A DEPLOYED_SOLUTION round for 500 teams, end to end, on the shipped defaults: the real service
// (`node dist/main.js`, local runtime, SQLite) with no limit or timeout set declares its default
// `hub-deployed-solution` round (HUB_HACKATHON_ID; the other rounds off, its cron out of the way),
// which the bench triggers; the Hub stand-in lists the teams and receives the reports. The apps:
// 3 % hang, 2 % have one endpoint hanging and one answering 500, 5 % refuse connections, 10 %
// answer 5xx (500 or 503), 10 % answer slowly (BENCH_SLOW_MS), the rest at once; each app on its
// own port, as every team has its own host. Measured per round (two by default: the first with no
// history, then one ordered by it): trigger -> the first criterion in the Hub, and -> every
// team's criterion in the Hub. Compared with the seeds' sequential approach (one team after
// another, in one process): measured for the requests that answer at once, the known wait for
// the others (the timeout for a hanging request, BENCH_SLOW_MS for a slow one).
//
// Knobs (env): BENCH_TEAMS (500), BENCH_ROUNDS (2), BENCH_SLOW_MS (2000), BENCH_REQUEST_TIMEOUT_MS
// (unset: HTTP_TIMEOUT's default, 10 s), BENCH_CONCURRENCY (unset: the defaults; else MAX_RUNNING_JOBS
// and HUB_ROUND_CONCURRENCY), BENCH_KEEP_DATA=1 (keep the service's DATA_DIR), BENCH_SERVICE_LOG
// (a file for the service's log lines), BENCH_SERVICE_NODE_ARGS (e.g. "--cpu-prof").
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { availableParallelism } from "node:os";
import { loadConfig } from "../src/config.js";
import { ListJobsRequest, ListSchedulesRequest, type Job, type JobSchedulerClient } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { DEFAULT_ENDPOINTS } from "../src/jobs/http-check.js";
import { FakeHub, newApiKey } from "../test/support/fake-hub.js";
import { baseEnv, call, cleanup, spawnService, tempDir, type ChildService } from "../test/support/service.js";
import { emptyReport, type BenchModule, type BenchReport } from "./report.js";
import { childrenCpuSeconds, envArgs, machineBusySeconds, processCpuSeconds } from "./procs.js";

export const name = "hub-round";
export const description = "500-team deployment round on the shipped defaults (hanging, refused, 5xx, slow apps) vs the seeds' sequential loop";

const TARGET_SPEEDUP = 25;
const envNumber = (key: string, fallback: number) => (process.env[key] ? Number(process.env[key]) : fallback);

type AppKind = "ok" | "slow" | "failing" | "refused" | "hanging" | "partial";

/** Team i's app. */
function kindOf(i: number): AppKind {
  if ([3, 37, 71].includes(i % 100)) return "hanging";
  if ([19, 88].includes(i % 100)) return "partial";
  if (i % 20 === 7) return "refused";
  if (i % 10 === 5) return "failing";
  if (i % 10 === 1) return "slow";
  return "ok";
}

const PASSING: readonly AppKind[] = ["ok", "slow", "partial"];
const [CRITICAL_A, CRITICAL_B, HANGING_PATH] = DEFAULT_ENDPOINTS.map((e) => e.path.split("?")[0]);

/** How an app of this kind answers a path: a status and a delay, "hang" or "refuse". */
function behaviour(kind: AppKind, path: string, index: number, slowMs: number): { status: number; delayMs: number } | "hang" | "refuse" {
  switch (kind) {
    case "ok":
      return { status: 200, delayMs: 0 };
    case "slow":
      return { status: 200, delayMs: slowMs };
    case "failing":
      return { status: index % 20 === 5 ? 500 : 503, delayMs: 0 };
    case "refused":
      return "refuse";
    case "hanging":
      return "hang";
    case "partial": {
      // The critical endpoints work (PASSED); of the others one hangs, one answers 500.
      const route = path.split("?")[0];
      if (route === CRITICAL_A || route === CRITICAL_B) return { status: 200, delayMs: 0 };
      return route === HANGING_PATH ? "hang" : { status: 500, delayMs: 0 };
    }
  }
}

async function startApps(kinds: AppKind[], slowMs: number): Promise<{ urls: string[]; close(): Promise<void> }> {
  const servers: Server[] = [];
  const urls: string[] = new Array(kinds.length);
  const refused: number[] = [];
  for (const [i, kind] of kinds.entries()) {
    const server = createServer((req, res) => {
      const answer = behaviour(kind, req.url ?? "/", i, slowMs);
      if (answer === "hang" || answer === "refuse") return;
      const send = () => res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.status === 200 ? '{"items":[]}' : '{"error":"boom"}');
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    urls[i] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    if (kind === "refused") refused.push(i);
    servers.push(server);
  }
  // A refused app: its port was bound and closed, so connections to it are refused.
  for (const i of refused) {
    const server = servers[i];
    server.close();
  }
  const open = servers.filter((_, i) => kinds[i] !== "refused");
  return {
    urls,
    async close() {
      await Promise.all(open.map((s) => new Promise<void>((resolve) => {
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
  /** Trigger -> the first of the round's criteria stored in the Hub. */
  firstCriterionMs: number;
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
  const startedAt = Date.now();
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
  const firstStoredAt = Math.min(...hub.history.slice(historyBefore).map((row) => Date.parse(row.createdAt)));
  return {
    roundMs, fireMs, firstCriterionMs: firstStoredAt - startedAt, jobsDoneMs: jobsDoneMs || roundMs, jobs, statuses,
    posts: hub.criteriaWrites().length - postsBefore, slowestJobMs, cpu,
  };
}

/**
 * The seeds' loop, measured where it can be: one team after another, each app's requests one after
 * another with the request timeout (seed 001: a single GET of the app URL; the live collector: the
 * endpoint list). Requests with a known wait are not waited for: a hanging one costs exactly the
 * timeout, a slow one its delay.
 */
async function seedsLoop(urls: string[], kinds: AppKind[], paths: string[], timeoutMs: number, slowMs: number): Promise<{ measuredMs: number; knownMs: number }> {
  let measuredMs = 0;
  let knownMs = 0;
  for (let i = 0; i < urls.length; i++) {
    for (const path of paths) {
      const answer = behaviour(kinds[i], path, i, slowMs);
      if (answer === "hang" || (answer !== "refuse" && answer.delayMs)) {
        knownMs += answer === "hang" ? timeoutMs : answer.delayMs;
        continue;
      }
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
  return { measuredMs, knownMs };
}

export async function run(): Promise<BenchReport> {
  const report = emptyReport();
  const teams = envNumber("BENCH_TEAMS", 500);
  const slowMs = envNumber("BENCH_SLOW_MS", 2000);
  const rounds = envNumber("BENCH_ROUNDS", 2);
  const overrides: Record<string, string> = {};
  if (process.env.BENCH_REQUEST_TIMEOUT_MS) overrides.HTTP_TIMEOUT = `${Number(process.env.BENCH_REQUEST_TIMEOUT_MS)}ms`;
  if (process.env.BENCH_CONCURRENCY) overrides.MAX_RUNNING_JOBS = overrides.HUB_ROUND_CONCURRENCY = process.env.BENCH_CONCURRENCY;
  const settings = loadConfig(overrides);
  const timeoutMs = settings.HTTP_TIMEOUT;
  const kinds = Array.from({ length: teams }, (_, i) => kindOf(i));
  const apps = await startApps(kinds, slowMs);
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
    // The default deployment round, declared by the service itself; fired here by TriggerSchedule only.
    HUB_HACKATHON_ID: "bench",
    DEPLOYMENT_MONITOR_INTERVAL: "0 0 1 1 *",
    GIT_MONITOR_ENABLED: "false",
    COST_TRACKING_ENABLED: "false",
    JUDGE_SCORE_ENABLED: "false",
    K6_SERVICES_ENABLED: "false",
    // baseEnv's test value back to the default.
    DISPATCH_POLL_INTERVAL: "1s",
    // Runs inherit only PATH: this machine sets NODE_EXTRA_CA_CERTS, whose CA bundle would triple each run's start-up.
    LOCAL_PASS_ENV: "PATH",
    ...overrides,
  }), envArgs("BENCH_SERVICE_NODE_ARGS"));
  try {
    const { client } = service;
    const { schedules } = await call(client, client.listSchedules, ListSchedulesRequest.fromPartial({ pageSize: 100 }));
    const schedule = schedules.find((s) => s.spec?.name === "hub-deployed-solution");
    if (!schedule) throw new Error(`the service declared no hub-deployed-solution round (schedules: ${schedules.map((s) => s.spec?.name).join(", ")})`);
    const figures: RoundFigures[] = [];
    for (let i = 0; i < rounds; i++) figures.push(await runRound(service, hub, schedule.id, teams, report.errors));

    const expectedPassed = kinds.filter((k) => PASSING.includes(k)).length;
    figures.forEach((round, i) => {
      if (round.statuses.PASSED !== expectedPassed || round.statuses.FAILED !== teams - expectedPassed) {
        report.errors.push(`round ${i + 1}: expected ${expectedPassed} PASSED and ${teams - expectedPassed} FAILED in the Hub, got ${JSON.stringify(round.statuses)}`);
      }
      for (const job of round.jobs) {
        if (!(job.result?.endpoints as unknown[] | undefined)?.length) report.errors.push(`job ${job.id} (${job.name}) has no endpoint results: ${job.reason} ${job.message}`);
      }
    });
    const paths = DEFAULT_ENDPOINTS.map((e) => e.path);
    const single = await seedsLoop(apps.urls, kinds, ["/"], timeoutMs, slowMs);
    const list = await seedsLoop(apps.urls, kinds, paths, timeoutMs, slowMs);
    const seedSingleMs = single.measuredMs + single.knownMs;
    const seedListMs = list.measuredMs + list.knownMs;

    figures.forEach((round, i) => {
      const label = i === 0 ? "round 1 (no history)" : `round ${i + 1} (ordered by the last round's durations)`;
      report.rows.push(
        { label: `${label}: trigger -> all criteria in the Hub`, figures: { "seconds": round.roundMs / 1000, "vs seed 001": seedSingleMs / round.roundMs, "vs same probes": seedListMs / round.roundMs } },
        { label: "  of which: TriggerSchedule answered", figures: { "seconds": round.fireMs / 1000, "vs seed 001": null, "vs same probes": null } },
        { label: "  of which: the first criterion in the Hub", figures: { "seconds": round.firstCriterionMs / 1000, "vs seed 001": null, "vs same probes": null } },
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
        { label: `later rounds (shortest and longest alternating) vs seed 001's loop, target >= ${TARGET_SPEEDUP}x`, value: seedSingleMs / steady.roundMs, target: `>= ${TARGET_SPEEDUP}`, met: seedSingleMs / steady.roundMs >= TARGET_SPEEDUP, format: "number" },
      );
    }
    const cpuNote = (round: RoundFigures, i: number) => round.cpu.service === null ? "CPU accounting needs /proc." :
      `Round ${i + 1} CPU: service ${round.cpu.service.toFixed(1)} s (${((round.cpu.service * 1000) / teams).toFixed(1)} ms per team), its runs ${round.cpu.runs!.toFixed(1)} s (${((round.cpu.runs! * 1000) / teams).toFixed(1)} ms per run), whole machine ${round.cpu.machine!.toFixed(1)} s of ${((round.roundMs / 1000) * availableParallelism()).toFixed(1)} s available on ${availableParallelism()} CPUs.`;
    const count = (kind: AppKind) => kinds.filter((k) => k === kind).length;
    report.notes.push(
      `${teams} teams: ${count("hanging")} hang, ${count("partial")} have one endpoint hanging and one answering 500 (critical ones work), ${count("refused")} refuse connections, ` +
        `${count("failing")} answer 5xx, ${count("slow")} answer after ${slowMs} ms, ${count("ok")} at once. Shipped defaults: HTTP_TIMEOUT ${timeoutMs} ms, ` +
        `MAX_RUNNING_JOBS ${settings.MAX_RUNNING_JOBS}, HUB_ROUND_CONCURRENCY ${settings.HUB_ROUND_CONCURRENCY}, job timeout ${settings.DEPLOYMENT_MONITOR_TIMEOUT / 1000} s, ` +
        `the service's own hub-deployed-solution round; one check per app host.${Object.keys(overrides).length ? ` Overridden: ${JSON.stringify(overrides)}.` : ""}`,
      ...figures.map((round, i) => `Round ${i + 1}: ${(teams / (round.jobsDoneMs / 1000)).toFixed(1)} jobs/s; first criterion in the Hub after ${(round.firstCriterionMs / 1000).toFixed(2)} s; Hub ${JSON.stringify(round.statuses)} in ${round.posts} bulk POSTs; slowest single job ${(round.slowestJobMs / 1000).toFixed(1)} s (a hanging app costs one timeout: its TLS check and endpoints are probed at once).`),
      ...figures.map(cpuNote),
      "The first round is bound by the CPU cost of one node process per team on this machine (the local runtime) and by the slots the hanging apps hold for one timeout each; later rounds alternate the teams that ran shortest and longest last time, so the timeouts overlap the rest of the round while fast checks report from the start. With the Kubernetes runtime each team is a pod.",
      `Seeds' loop: the requests that answer at once measured one after another (${(single.measuredMs / 1000).toFixed(2)} s for 1 GET each, ${(list.measuredMs / 1000).toFixed(2)} s for ${paths.length} each), plus the known wait of the others: the timeout per hanging request, ${slowMs} ms per slow one (${(single.knownMs / 1000).toFixed(0)} s and ${(list.knownMs / 1000).toFixed(0)} s).`,
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
