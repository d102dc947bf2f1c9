// Team rounds end to end, over the local runtime, against the Hub stand-in (which enforces the
// contract) and the GitHub stand-in: fan-out schedules fire (TriggerSchedule), one job per team
// runs the real collector programs, the evaluator's reports go through the outbox to the Hub.
// Also: the Hub down then up (exactly once, latest value wins), the service stopped between
// the jobs' end and delivery (delivered after the restart, once), per-item errors parked and
// resent, payloads rejected until parked, and 401 stopping reporting loudly.
import { status } from "@grpc/grpc-js";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateScheduleRequest, CriteriaType, JobState, ListJobsRequest, ListOutboxRequest, OutboxItemState, ScheduleJobRequest,
  type JobSchedulerClient, type ScheduleJobRequest as ScheduleJobRequestType,
} from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { PLACEHOLDER } from "../src/hub/default-schedules.js";
import { FakeGitHub } from "./support/fake-github.js";
import { FakeHub, newApiKey } from "./support/fake-hub.js";
import { call, cleanup, metricValue, startService, tempDir, waitFor, type TestService } from "./support/service.js";

const HACKATHON = "hl-2025";
const HOUR = 3_600_000;
const TEAMS = 20;
const hub = new FakeHub();
const github = new FakeGitHub();
const servers: Server[] = [];
type TargetKind = "good" | "failing" | "refused" | "hanging";
const KEY = newApiKey();

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

type Kind = TargetKind | "secure" | "none";

/** Team i's setup; the expectations below follow from it. */
function team(i: number) {
  const slug = i === 7 ? "Team_Upper_7" : `team-${String(i).padStart(2, "0")}`;
  const endpoint: Kind = i === 19 ? "secure" : i === 17 ? "none" : (["good", "failing", "refused", "hanging"] as const)[i % 4];
  const repo = i % 5 === 0 ? "none" : i === 3 ? "private" : i % 2 === 0 ? "active" : "stale";
  const money = i % 3 === 0 ? null : i === 4 ? "not a number" : `${i * 1000} ₸`;
  const judge = i % 2 === 1 ? null : i === 10 ? "7,5" : String(i % 11);
  // GitHub account names hold no "_": the team's repository lives under a valid one.
  const repoName = `${slug.toLowerCase().replace(/_/g, "-")}/solution`;
  return { slug, endpoint, repo, repoName, money, judge };
}

beforeAll(async () => {
  hub.addKey(KEY, ["teams:read", "environment:read", "environment:write"]);
  await hub.start();
  await github.start();
  // Each team's app on its own port, as on the Hub every team has its own host (checks of one host run one at a time).
  const target = async (kind: TargetKind): Promise<string> => {
    if (kind === "good") return listen((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("[]"));
    if (kind === "failing") return listen((_req, res) => res.writeHead(500).end());
    if (kind === "hanging") return listen(() => undefined);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    return url;
  };

  const now = Date.now();
  for (let i = 1; i <= TEAMS; i++) {
    const t = team(i);
    const env: Record<string, string> = {};
    const secure: Record<string, string> = {};
    if (t.endpoint === "secure") secure.ENDPOINT_URL = await target("good");
    else if (t.endpoint !== "none") env.ENDPOINT_URL = await target(t.endpoint);
    if (t.repo !== "none") env.Repo = `https://github.com/${t.repoName}`;
    if (t.repo === "active") github.addRepo(t.repoName, { commits: Array.from({ length: 12 }, (_, k) => now - (k + 1) * HOUR) });
    if (t.repo === "stale") github.addRepo(t.repoName, { commits: [now - 20 * 24 * HOUR] });
    if (t.repo === "private") github.addRepo(t.repoName, { private: true, commits: [now - HOUR] });
    if (t.money !== null) env.MONEY_SPEND = t.money;
    if (t.judge !== null) env.JUDJE_SCORE = t.judge;
    hub.addTeam({ nickname: t.slug, hackathonId: HACKATHON, env, secure });
  }
  // Not measured: another hackathon's team and a team not approved.
  hub.addTeam({ nickname: "elsewhere", hackathonId: "other-hackathon", env: { JUDJE_SCORE: "9" } });
  hub.addTeam({ nickname: "pending-team", hackathonId: HACKATHON, status: "PENDING", env: { JUDJE_SCORE: "9" } });
});

afterAll(async () => {
  await hub.close();
  await github.close();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

function serviceEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    HUB_API_URL: hub.url,
    HUB_API_KEY: KEY,
    GITHUB_API_URL: github.url,
    MAX_RUNNING_JOBS: "16",
    HUB_ROUND_CONCURRENCY: "16",
    // Latency counts only past 5 s (the default 1 s would make the score depend on this machine's load).
    HUB_CRITERIA: JSON.stringify({ DEPLOYED_SOLUTION: { fastMs: 5000, slowMs: 10_000 } }),
    HUB_BATCH_SIZE: "50",
    HUB_BATCH_DELAY: "100ms",
    HUB_POLL_INTERVAL: "300ms",
    HUB_RETRY_INITIAL: "100ms",
    HUB_RETRY_MAX: "400ms",
    HUB_MAX_REJECTIONS: "3",
    // Collectors start faster without the system CA bundle (NODE_EXTRA_CA_CERTS) to load.
    LOCAL_PASS_ENV: "PATH",
    ...extra,
  };
}

const duration = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

const TEMPLATES: Record<string, Partial<ScheduleJobRequestType>> = {
  code: { spec: { $case: "gitActivity", value: { repoUrl: PLACEHOLDER.repoUrl, since: new Date(Date.now() - 30 * 24 * HOUR), activityWindow: duration(24 * HOUR) } } },
  // Generous per-request timeout: 58 collector processes share two cores with the targets here.
  deploy: { timeout: duration(15_000), spec: { $case: "httpCheck", value: { baseUrl: PLACEHOLDER.appUrl, endpoints: [], requestTimeout: duration(5000) } } },
  budget: { spec: { $case: "budget", value: { moneySpend: "" } } },
  judge: { spec: { $case: "judgeScore", value: { judgeScore: "" } } },
};

async function createRound(client: JobSchedulerClient, name: string, template: Partial<ScheduleJobRequestType>): Promise<string> {
  const schedule = await call(client, client.createSchedule, CreateScheduleRequest.fromPartial({
    spec: {
      name,
      cron: "0 0 1 1 *",
      forEachTeam: { hackathonId: HACKATHON, teamStatus: "" },
      jobTemplate: ScheduleJobRequest.fromPartial({ ...template, retryPolicy: { maxAttempts: 1 } }),
    },
  }));
  return schedule.id;
}

async function fire(client: JobSchedulerClient, scheduleId: string): Promise<string[]> {
  const { jobs } = await call(client, client.triggerSchedule, { scheduleId });
  return jobs.map((j) => j.id);
}

async function waitForJobs(client: JobSchedulerClient, ids: string[], timeoutMs = 40_000): Promise<void> {
  const terminal = [JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED];
  await waitFor(async () => {
    const jobs = await Promise.all(ids.map((jobId) => call(client, client.getJobStatus, { jobId })));
    return jobs.every((j) => terminal.includes(j.state));
  }, timeoutMs, 200);
}

async function outbox(client: JobSchedulerClient, states: OutboxItemState[] = [], teamSlug = "") {
  return (await call(client, client.listOutbox, ListOutboxRequest.fromPartial({ states, teamSlug, pageSize: 1000 }))).items;
}

describe("a full round for 20 teams", () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startService(serviceEnv());
  });

  afterAll(async () => {
    await service?.stop();
    if (service) cleanup(service.dataDir);
  });

  it("reports every team's criteria with the right status, integer score and the metrics the Hub's UI reads", async () => {
    const { client } = service;
    const rounds = await Promise.all(Object.entries(TEMPLATES).map(([name, template]) => createRound(client, `round-${name}`, template)));
    const jobIds = (await Promise.all(rounds.map((id) => fire(client, id)))).flat();
    // Teams lacking an input get no job: 4 without a repo (NO_DATA), 2 without a usable endpoint, 6 without spend, 10 without a mark.
    expect(jobIds.length).toBe(4 * TEAMS - 4 - 2 - 6 - 10);
    await waitForJobs(client, jobIds);
    await waitFor(async () => hub.criteria.size === 4 * TEAMS, 20_000, 100);

    for (let i = 1; i <= TEAMS; i++) {
      const t = team(i);
      const code = hub.current(t.slug, "CODE_REPO")!;
      const deploy = hub.current(t.slug, "DEPLOYED_SOLUTION")!;
      const budget = hub.current(t.slug, "BUDGET_TRACKING")!;
      const judge = hub.current(t.slug, "JUDGE_SCORE")!;
      for (const row of [code, deploy, budget, judge]) {
        expect(Number.isInteger(row.score)).toBe(true);
        expect(row.updatedBy).toBe("jobscheduler");
        expect(row.metrics).toHaveProperty("confirmationTitle");
        expect(row.metrics).toHaveProperty("confirmationDescription");
      }

      const codeStatus = { none: "NO_DATA", private: "NO_DATA", active: "PASSED", stale: "FAILED" }[t.repo];
      expect(code.status, `${t.slug} CODE_REPO`).toBe(codeStatus);
      if (t.repo === "active") {
        expect(code.score).toBe(100);
        expect(code.metrics).toMatchObject({ commitsCount: 12, hasRecentActivity: true, confirmationUrl: `https://github.com/${t.repoName}` });
      }
      if (t.repo === "stale") expect(code.metrics).toMatchObject({ commitsCount: 1, hasRecentActivity: false });
      if (t.repo === "private") expect(code.metrics).toMatchObject({ reason: "repository not found or private", hasRepository: false });

      const deployStatus = { good: "PASSED", failing: "FAILED", refused: "FAILED", hanging: "FAILED", secure: "NO_DATA", none: "NO_DATA" }[t.endpoint];
      expect(deploy.status, `${t.slug} DEPLOYED_SOLUTION`).toBe(deployStatus);
      if (t.endpoint === "good") {
        expect(deploy.score, JSON.stringify(deploy.metrics)).toBe(100);
        expect(deploy.metrics).toMatchObject({ workingEndpoints: 4, totalEndpoints: 4, successRate: 100, criticalSuccessRate: 100, isAccessible: true, statusCode: 200 });
        expect((deploy.metrics!.endpointResults as { critical: boolean }[]).every((e) => typeof e.critical === "boolean")).toBe(true);
      }
      if (t.endpoint === "failing") expect(deploy.metrics).toMatchObject({ isAccessible: true, statusCode: 500, workingEndpoints: 0 });
      if (t.endpoint === "refused" || t.endpoint === "hanging") expect(deploy.metrics).toMatchObject({ isAccessible: false, workingEndpoints: 0 });
      if (t.endpoint === "secure") expect(deploy.metrics).toMatchObject({ reason: "the team has no ENDPOINT_URL" });

      if (t.money === null || t.money === "not a number") {
        expect(budget.status).toBe("NO_DATA");
        expect(budget.metrics).toMatchObject({ hasSpendingData: false });
      } else {
        expect(budget.status).toBe("PASSED");
        expect(budget.metrics).toMatchObject({ hasSpendingData: true, totalSpent: i * 1000 });
      }

      if (t.judge === null || t.judge === "0") {
        expect(judge.status).toBe("NO_DATA");
        expect(judge.metrics).toMatchObject({ hasJudgeScore: false });
      } else {
        expect(judge.status).toBe("PASSED");
        const mark = t.judge === "7,5" ? 7.5 : Number(t.judge);
        expect(judge.metrics).toMatchObject({ hasJudgeScore: true, judgeScore: mark });
        expect(judge.score).toBe(Math.round(mark));
      }
      for (const type of ["CODE_REPO", "DEPLOYED_SOLUTION", "BUDGET_TRACKING", "JUDGE_SCORE"]) expect(hub.historyOf(t.slug, type)).toHaveLength(1);
    }
    // Others were never measured; the Hub was written in few bulk requests.
    expect(hub.current("elsewhere", "JUDGE_SCORE")).toBeUndefined();
    expect(hub.current("pending-team", "JUDGE_SCORE")).toBeUndefined();
    expect(hub.criteriaWrites().length).toBeLessThan(4 * TEAMS);
    expect(Math.max(...hub.criteriaWrites().map((w) => (w.body as { updates: unknown[] }).updates.length))).toBeGreaterThan(5);

    // Jobs carry the team binding and criteria type; the outbox shows every report delivered.
    const [job] = (await call(client, client.listJobs, ListJobsRequest.fromPartial({ scheduleId: rounds[0], pageSize: 1 }))).jobs;
    expect(job.team?.hackathonId).toBe(HACKATHON);
    expect(job.criteriaType).toBe(CriteriaType.CRITERIA_TYPE_CODE_REPO);
    expect(job.idempotencyKey).toMatch(new RegExp(`^schedule:${rounds[0]}:.*:(team-\\d\\d|Team_Upper_7)$`));
    const items = await outbox(client);
    expect(items).toHaveLength(4 * TEAMS);
    expect(items.every((item) => item.state === OutboxItemState.OUTBOX_ITEM_STATE_DELIVERED && item.deliveredTime)).toBe(true);

    const metrics = await (await fetch(`http://127.0.0.1:${service.app.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/jobscheduler_hub_outbox_items\{state="DELIVERED"\} 80/);
    expect(metrics).toMatch(/jobscheduler_hub_outbox_items\{state="PENDING"\} 0/);
    expect(metrics).toMatch(/jobscheduler_teams_processed_total\{criteria_type="JUDGE_SCORE",outcome="no_data"\} 10/);
  }, 60_000);
});

describe("delivery when the Hub is down, when the service restarts, and when items are refused", () => {
  it("the Hub down for the first attempts, then up: every criterion arrives exactly once and the latest value wins", async () => {
    const service = await startService(serviceEnv());
    try {
      const { client } = service;
      const judgeTeams = Array.from({ length: TEAMS }, (_, k) => team(k + 1)).filter((t) => t.judge !== null && t.judge !== "0");
      const before = new Map(judgeTeams.map((t) => [t.slug, hub.historyOf(t.slug, "JUDGE_SCORE").length]));
      const writesBefore = hub.criteriaWrites().length;
      hub.down(1_000_000, "503");
      const round = await createRound(client, "judge-outage", TEMPLATES.judge);
      await waitForJobs(client, await fire(client, round));
      // The first values were tried and refused by the outage; then the marks change and a second round runs.
      await waitFor(async () => (await outbox(client)).some((item) => item.attempts > 0), 10_000);
      for (const t of judgeTeams) hub.setEnv(t.slug, "JUDJE_SCORE", "9");
      const second = await call(client, client.createSchedule, CreateScheduleRequest.fromPartial({
        spec: { name: "judge-outage-2", cron: "0 0 1 1 *", forEachTeam: { hackathonId: HACKATHON, teamStatus: "" }, jobTemplate: ScheduleJobRequest.fromPartial(TEMPLATES.judge) },
      }));
      await waitForJobs(client, await fire(client, second.id));
      // Two more failures of another kind (dropped connections), then the Hub is up.
      hub.down(2, "reset");
      await waitFor(async () => judgeTeams.every((t) => hub.current(t.slug, "JUDGE_SCORE")?.metrics?.judgeScore === 9), 20_000, 100);
      await waitFor(async () => (await outbox(client, [OutboxItemState.OUTBOX_ITEM_STATE_PENDING])).length === 0, 10_000);
      for (const t of judgeTeams) {
        expect(hub.current(t.slug, "JUDGE_SCORE")).toMatchObject({ status: "PASSED", score: 9 });
        // Exactly one write per team in this test: the first round's value was superseded, never sent.
        expect(hub.historyOf(t.slug, "JUDGE_SCORE").length - before.get(t.slug)!).toBe(1);
      }
      const superseded = await outbox(client, [OutboxItemState.OUTBOX_ITEM_STATE_SUPERSEDED]);
      // The first round's reports, marks and NO_DATA alike.
      expect(superseded.length).toBe(TEAMS);
      expect(superseded.some((item) => item.attempts > 0 && item.lastError.includes("503"))).toBe(true);
      const failedWrites = hub.criteriaWrites().slice(writesBefore).filter((w) => w.status !== 200);
      expect(failedWrites.length).toBeGreaterThanOrEqual(3);
      const metrics = await (await fetch(`http://127.0.0.1:${service.app.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/jobscheduler_hub_delivery_failures_total\{kind="unavailable"\} [1-9]/);
    } finally {
      hub.down(0);
      await service.stop();
      cleanup(service.dataDir);
    }
  }, 60_000);

  it("the service stopped after the jobs ended but before delivery: delivered after the restart, exactly once", async () => {
    const dataDir = tempDir();
    hub.down(1_000_000, "503");
    const budgetTeams = Array.from({ length: TEAMS }, (_, k) => team(k + 1)).filter((t) => t.money !== null && t.money !== "not a number");
    for (const t of budgetTeams) hub.setEnv(t.slug, "MONEY_SPEND", "123456");
    const historyBefore = new Map(budgetTeams.map((t) => [t.slug, hub.historyOf(t.slug, "BUDGET_TRACKING").length]));
    let first: TestService | undefined = await startService(serviceEnv(), dataDir);
    let second: TestService | undefined;
    try {
      const round = await createRound(first.client, "budget-restart", TEMPLATES.budget);
      await waitForJobs(first.client, await fire(first.client, round));
      await waitFor(async () => (await outbox(first!.client, [OutboxItemState.OUTBOX_ITEM_STATE_PENDING])).length >= budgetTeams.length, 10_000);
      await first.stop();
      first = undefined;
      expect(budgetTeams.every((t) => hub.historyOf(t.slug, "BUDGET_TRACKING").length === historyBefore.get(t.slug))).toBe(true);

      hub.down(0);
      second = await startService(serviceEnv(), dataDir);
      await waitFor(async () => budgetTeams.every((t) => hub.current(t.slug, "BUDGET_TRACKING")?.metrics?.totalSpent === 123456), 15_000, 100);
      // The worker's next pass after every report arrived found nothing more to send.
      const idlePasses = () => metricValue(second!.app.metricsPort, "jobscheduler_hub_delivery_passes_total", { result: "idle" });
      const idleBefore = await idlePasses();
      await waitFor(async () => (await idlePasses()) > idleBefore, 10_000, 50);
      for (const t of budgetTeams) expect(hub.historyOf(t.slug, "BUDGET_TRACKING").length - historyBefore.get(t.slug)!).toBe(1);
      expect((await outbox(second.client, [OutboxItemState.OUTBOX_ITEM_STATE_PENDING])).length).toBe(0);
    } finally {
      hub.down(0);
      await first?.stop();
      await second?.stop();
      cleanup(dataDir);
    }
  }, 60_000);

  it("per-item errors are parked with the Hub's message, listable and resendable; payloads rejected N times are parked", async () => {
    const service = await startService(serviceEnv());
    try {
      const { client } = service;
      const submit = (slug: string, hackathonId: string, value: string) =>
        call(client, client.scheduleJob, ScheduleJobRequest.fromPartial({
          name: `judge ${slug}`, team: { slug, hackathonId }, criteriaType: CriteriaType.CRITERIA_TYPE_JUDGE_SCORE,
          spec: { $case: "judgeScore", value: { judgeScore: value } },
        }));
      const ghost = await submit("ghost-team", HACKATHON, "6");
      const mismatch = await submit("team-02", "wrong-hackathon", "6");
      const fine = await submit("team-04", HACKATHON, "8");
      await waitForJobs(client, [ghost.job!.id, mismatch.job!.id, fine.job!.id]);
      await waitFor(async () => (await outbox(client, [OutboxItemState.OUTBOX_ITEM_STATE_PARKED])).length === 2, 10_000);
      const parked = await outbox(client, [OutboxItemState.OUTBOX_ITEM_STATE_PARKED]);
      expect(parked.map((p) => [p.teamSlug, p.lastError]).sort()).toEqual([
        ["ghost-team", "the Hub refused this item: Team not found"],
        ["team-02", "the Hub refused this item: Hackathon ID mismatch"],
      ]);
      await waitFor(async () => hub.current("team-04", "JUDGE_SCORE")?.score === 8, 10_000);

      // The team appears on the Hub; the operator resends what was parked.
      hub.addTeam({ nickname: "ghost-team", hackathonId: HACKATHON });
      const ghostItem = parked.find((p) => p.teamSlug === "ghost-team")!;
      expect((await call(client, client.resendOutbox, { itemIds: [ghostItem.id] })).requeued).toBe(1);
      await waitFor(async () => hub.current("ghost-team", "JUDGE_SCORE")?.score === 6, 10_000);
      await expect(call(client, client.resendOutbox, { itemIds: [ghostItem.id] })).rejects.toMatchObject({ details: expect.stringMatching(/only parked items/) });

      // The Hub answers 500 (its answer to an invalid body): after HUB_MAX_REJECTIONS the item is parked.
      hub.down(1_000_000, "500");
      const rejected = await submit("team-06", HACKATHON, "5");
      await waitForJobs(client, [rejected.job!.id]);
      await waitFor(async () => (await outbox(client, [OutboxItemState.OUTBOX_ITEM_STATE_PARKED], "team-06")).length === 1, 15_000);
      const [poison] = await outbox(client, [OutboxItemState.OUTBOX_ITEM_STATE_PARKED], "team-06");
      expect(poison.attempts).toBe(3);
      expect(poison.lastError).toMatch(/rejected this item 3 times; last: .*500.*Internal server error/);
      hub.down(0);
      expect((await call(client, client.resendOutbox, { itemIds: [] })).requeued).toBe(2);
      await waitFor(async () => hub.current("team-06", "JUDGE_SCORE")?.score === 5, 10_000);
      const metrics = await (await fetch(`http://127.0.0.1:${service.app.metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/jobscheduler_hub_items_parked_total\{criteria_type="JUDGE_SCORE",cause="item_error"\} [2-9]/);
      expect(metrics).toMatch(/jobscheduler_hub_items_parked_total\{criteria_type="JUDGE_SCORE",cause="rejected"\} 1/);
    } finally {
      hub.down(0);
      await service.stop();
      cleanup(service.dataDir);
    }
  }, 60_000);

  it("a key the Hub refuses (401/403) stops reporting loudly: a readiness note, a metric, no retry loop", async () => {
    const limited = newApiKey();
    hub.addKey(limited, ["teams:read"]);
    for (const [key, status] of [["sk_unknown", 401], [limited, 403]] as const) {
      const service = await startService(serviceEnv({ HUB_API_KEY: key }));
      try {
        const writes = hub.criteriaWrites().length;
        const { job } = await call(service.client, service.client.scheduleJob, ScheduleJobRequest.fromPartial({
          team: { slug: "team-02", hackathonId: HACKATHON }, criteriaType: CriteriaType.CRITERIA_TYPE_JUDGE_SCORE,
          spec: { $case: "judgeScore", value: { judgeScore: "3" } },
        }));
        await waitForJobs(service.client, [job!.id]);
        const ready = await waitFor(async () => {
          const text = await (await fetch(`http://127.0.0.1:${service.app.httpPort}/readyz`)).text();
          return text.includes("hub reporting stopped") ? text : null;
        }, 10_000);
        expect(ready).toMatch(new RegExp(`answered ${status}`));
        await new Promise((r) => setTimeout(r, 1000));
        expect(hub.criteriaWrites().length - writes).toBe(1);
        const metrics = await (await fetch(`http://127.0.0.1:${service.app.metricsPort}/metrics`)).text();
        expect(metrics).toMatch(/jobscheduler_hub_reporting_blocked 1/);
        expect(metrics).toMatch(/jobscheduler_hub_delivery_failures_total\{kind="auth"\} 1/);
        const [pending] = await outbox(service.client, [OutboxItemState.OUTBOX_ITEM_STATE_PENDING]);
        expect(pending.lastError).toMatch(/check HUB_API_KEY/);
        expect(pending.lastError).not.toContain(key);
      } finally {
        await service.stop();
        cleanup(service.dataDir);
      }
    }
  }, 40_000);
});

describe("team discovery while the Hub is down", () => {
  it("a round triggered while every Hub read fails answers UNAVAILABLE naming the Hub and creates nothing; once the Hub is back it runs", async () => {
    const service = await startService(serviceEnv());
    try {
      const { client } = service;
      const round = await createRound(client, "judge-discovery-outage", TEMPLATES.judge);
      const listingsBefore = hub.requests.filter((r) => r.path === "/api/service/teams").length;
      hub.down(1_000_000, "503", true);
      const error = await fire(client, round).then(() => null, (e: { code: number; details: string }) => e);
      expect(error?.code).toBe(status.UNAVAILABLE);
      expect(error?.details).toMatch(/hub/i);
      expect(hub.requests.filter((r) => r.path === "/api/service/teams").length).toBeGreaterThan(listingsBefore);
      const jobs = await call(client, client.listJobs, ListJobsRequest.fromPartial({ pageSize: 1000 }));
      expect(jobs.jobs.filter((j) => j.idempotencyKey.includes(round))).toEqual([]);
      hub.down(0);
      const ids = await fire(client, round);
      expect(ids.length).toBeGreaterThan(0);
      await waitForJobs(client, ids);
    } finally {
      hub.down(0);
      await service.stop();
      cleanup(service.dataDir);
    }
  }, 60_000);
});

describe("the order of a round's jobs", () => {
  it("starts the team whose run took longest in the last round second, after the shortest, so its wait overlaps the rest", async () => {
    const hackathonId = "order-hackathon";
    const slugs = ["order-fast-1", "order-fast-2", "order-slow", "order-fast-3"];
    for (const slug of slugs) {
      const app = slug === "order-slow"
        ? await listen(() => undefined)
        : await listen((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("[]"));
      hub.addTeam({ nickname: slug, hackathonId, env: { ENDPOINT_URL: app } });
    }
    // One run at a time: the start order is the dispatch order.
    const service = await startService(serviceEnv({ MAX_RUNNING_JOBS: "1", HUB_ROUND_CONCURRENCY: "1" }));
    try {
      const { client } = service;
      const schedule = await call(client, client.createSchedule, CreateScheduleRequest.fromPartial({
        spec: {
          name: "ordered-round",
          cron: "0 0 1 1 *",
          forEachTeam: { hackathonId, teamStatus: "" },
          jobTemplate: ScheduleJobRequest.fromPartial({
            retryPolicy: { maxAttempts: 1 },
            spec: { $case: "httpCheck", value: { baseUrl: PLACEHOLDER.appUrl, endpoints: [], requestTimeout: duration(5000) } },
          }),
        },
      }));
      let lastRun = "";
      const startOrder = async () => {
        const ids = await fire(client, schedule.id);
        await waitForJobs(client, ids);
        const jobs = await Promise.all(ids.map((jobId) => call(client, client.getJobStatus, { jobId })));
        lastRun = jobs.map((j) => `${j.team!.slug} ${j.startTime!.toISOString()} ${j.finishTime ? j.finishTime.getTime() - j.startTime!.getTime() : "?"}ms`).join(", ");
        return jobs.sort((a, b) => a.startTime!.getTime() - b.startTime!.getTime()).map((j) => j.team!.slug);
      };
      // No history: the order the Hub lists the teams in (by slug), the hanging app last.
      expect(await startOrder()).toEqual([...slugs].sort());
      // The hanging app took its timeout (5 s, well above this machine's noise in spawning a check)
      // last time: it starts second now, right after the shortest check, which reports at once.
      const firstRun = lastRun;
      const second = await startOrder();
      expect(second[1], `${firstRun} / ${lastRun}`).toBe("order-slow");
      expect([second[0], ...second.slice(2)].sort()).toEqual(["order-fast-1", "order-fast-2", "order-fast-3"]);
    } finally {
      await service.stop();
      cleanup(service.dataDir);
    }
  }, 60_000);
});

describe("egress in a round: each team's own app is allowed by name, nothing else", () => {
  it("runs the team whose app TARGET_ALLOWLIST does not name, gives the team whose app is the metadata address NO_DATA, and still refuses the same URL outside the round", async () => {
    const hackathonId = "egress-hackathon";
    const app = await listen((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("[]"));
    const port = new URL(app).port;
    // A name (localhost: loopback, never a DNS question) TARGET_ALLOWLIST's address entries do not name.
    hub.addTeam({ nickname: "egress-by-name", hackathonId, env: { ENDPOINT_URL: `http://localhost:${port}` } });
    hub.addTeam({ nickname: "egress-metadata", hackathonId, env: { ENDPOINT_URL: "http://169.254.169.254" } });
    // No host glob at all: only loopback addresses, so a name passes only through a team's allowance.
    const service = await startService(serviceEnv({ TARGET_ALLOWLIST: "127.0.0.0/8,[::1]" }));
    try {
      const { client } = service;
      const schedule = await call(client, client.createSchedule, CreateScheduleRequest.fromPartial({
        spec: {
          name: "egress-round",
          cron: "0 0 1 1 *",
          forEachTeam: { hackathonId, teamStatus: "" },
          jobTemplate: ScheduleJobRequest.fromPartial({ retryPolicy: { maxAttempts: 1 }, spec: { $case: "httpCheck", value: { baseUrl: PLACEHOLDER.appUrl, endpoints: [], requestTimeout: duration(5000) } } }),
        },
      }));
      const ids = await fire(client, schedule.id);
      expect(ids).toHaveLength(1);
      await waitForJobs(client, ids);
      const job = await call(client, client.getJobStatus, { jobId: ids[0] });
      expect(job.team!.slug).toBe("egress-by-name");
      expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
      expect((job.result as Record<string, any>).workingEndpoints).toBe(4);
      const metadataTeam = await waitFor(async () => (await outbox(client, [], "egress-metadata"))[0]);
      expect(metadataTeam.status).toBe("NO_DATA");
      expect(JSON.stringify(metadataTeam.metrics)).toContain("http_check.base_url: host 169.254.169.254 is not allowed by TARGET_ALLOWLIST (169.254.0.0/16 is link-local (cloud metadata)");
      // A job outside a round gets no allowance: the same URL is refused by name.
      const error = await call(client, client.scheduleJob, ScheduleJobRequest.fromPartial({ spec: { $case: "httpCheck", value: { baseUrl: `http://localhost:${port}` } } })).then(() => null, (e: unknown) => e);
      expect(error).toMatchObject({ code: status.PERMISSION_DENIED, details: "http_check.base_url: host localhost is not allowed by TARGET_ALLOWLIST" });
    } finally {
      await service.stop();
      cleanup(service.dataDir);
    }
  }, 60_000);
});
