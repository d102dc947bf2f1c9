// "Secrets are redacted" (README "Operations"), tested against the real service as a child process:
// every secret setting (HUB_API_KEY, GITHUB_TOKEN, DATABASE_URL with a password, the Kubernetes
// bearer token in K8S_TOKEN_FILE) is given a unique value, the service is driven through the paths
// that log or answer errors (a Hub that refuses writes and then is down, a GitHub that refuses the
// token, bad requests, a team round during a Hub outage, debug logging, shutdown), and every line it
// printed, every error's details and trailers, and every job's output are scanned for the values.
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Metadata, ServiceError } from "@grpc/grpc-js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CreateScheduleRequest, JobState, ListJobsRequest, ListOutboxRequest, ScheduleJobRequest, type JobSchedulerClient,
} from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { FakeGitHub } from "./support/fake-github.js";
import { FakeHub } from "./support/fake-hub.js";
import { startFakeKube, type FakeKube } from "./support/fake-kube/index.js";
import { baseEnv, call, cleanup, spawnService, tempDir, waitFor, type ChildService } from "./support/service.js";

const POSTGRES = "127.0.0.1:5432/test";
const unique = (prefix: string) => `${prefix}${randomBytes(16).toString("hex")}`;
const HUB_API_KEY = `sk_${randomBytes(32).toString("hex")}`;
const GITHUB_TOKEN = unique("ghp_");
const DB_PASSWORD = unique("dbpw");
const K8S_TOKEN = unique("k8s-token-");
/** The fake API server's service-account token is added once it runs (it accepts only that one). */
const SECRETS: Record<string, string> = { HUB_API_KEY, GITHUB_TOKEN, DB_PASSWORD, K8S_TOKEN };
const schema = `secrets_${randomBytes(6).toString("hex")}`;
const dirs: string[] = [];
const hub = new FakeHub();
const github = new FakeGitHub();

/** Every place a secret could surface: log lines, error details and trailers, job outputs. */
const seen: string[] = [];

function leaks(lines: readonly string[] = seen): string[] {
  const text = lines.join("\n");
  return Object.entries(SECRETS).flatMap(([name, value]) =>
    [value, encodeURIComponent(value), Buffer.from(value).toString("base64")].some((form) => text.includes(form)) ? [name] : []);
}

async function failing<T>(promise: Promise<T>): Promise<ServiceError | null> {
  return promise.then(() => null, (error: ServiceError) => {
    seen.push(error.message, error.details, JSON.stringify((error.metadata as Metadata | undefined)?.toJSON() ?? {}));
    return error;
  });
}

async function jobOutputs(client: JobSchedulerClient): Promise<void> {
  const { jobs } = await call(client, client.listJobs, ListJobsRequest.fromPartial({ pageSize: 1000 }));
  seen.push(JSON.stringify(jobs));
  for (const job of jobs) seen.push(JSON.stringify(await call(client, client.getJobStatus, { jobId: job.id })));
}

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: `postgres://postgres@${POSTGRES}` });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`);
  await admin.end();
  // The key may read teams and criteria but not write: every delivery is refused (403), loudly.
  hub.addKey(HUB_API_KEY, ["teams:read", "environment:read"]);
  await hub.start();
  hub.addTeam({ nickname: "team-a", hackathonId: "h1", env: { JUDJE_SCORE: "7", Repo: "https://github.com/team-a/app" } });
  await github.start();
  github.addRepo("team-a/app", { private: true, commits: [Date.now() - 3_600_000] });
  // GitHub knows another token only: the collector's request with ours is refused (401).
  github.tokens.add("ghp_someone_else");
});

afterAll(async () => {
  await hub.close();
  await github.close();
  const admin = new pg.Client({ connectionString: `postgres://postgres@${POSTGRES}` });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
  await admin.end();
  dirs.forEach(cleanup);
});

async function stop(service: ChildService): Promise<void> {
  service.client.close();
  service.process.kill("SIGTERM");
  await service.exited;
  seen.push(...service.logs);
}

describe("secrets never reach logs or error answers", () => {
  it("the scan finds a secret in any of its forms", () => {
    expect(leaks([`Authorization: Bearer ${GITHUB_TOKEN}`, encodeURIComponent(DB_PASSWORD), Buffer.from(HUB_API_KEY).toString("base64")]))
      .toEqual(["HUB_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD"]);
  });

  it("local runtime, PostgreSQL with a password, the Hub and GitHub with their credentials, debug logs", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const service = await spawnService(baseEnv(dataDir, {
      LOG_LEVEL: "debug",
      // Trust authentication here: the password is sent and ignored, as a real one would be sent.
      DATABASE_URL: `postgres://postgres:${DB_PASSWORD}@${POSTGRES}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      HUB_API_URL: hub.url,
      HUB_API_KEY,
      GITHUB_API_URL: github.url,
      GITHUB_TOKEN,
      HUB_BATCH_DELAY: "10ms",
    }));
    try {
      const { client } = service;
      // A git_activity run that hands the token to GitHub and is refused (401, exit 78).
      const git = (await call(client, client.scheduleJob, ScheduleJobRequest.fromPartial({
        name: "git", retryPolicy: { maxAttempts: 1 },
        spec: { $case: "gitActivity", value: { repoUrl: "https://github.com/team-a/app" } },
      }))).job!;
      await waitFor(async () => (await call(client, client.getJobStatus, { jobId: git.id })).state === JobState.JOB_STATE_FAILED, 30_000);
      expect(github.requests.some((r) => r.authorization === `Bearer ${GITHUB_TOKEN}` && r.status === 401)).toBe(true);

      // A team round: its report is refused by the Hub (403), which stops reporting loudly.
      const round = await call(client, client.createSchedule, CreateScheduleRequest.fromPartial({
        spec: {
          name: "judge", cron: "0 0 1 1 *", forEachTeam: { hackathonId: "h1", teamStatus: "" },
          jobTemplate: ScheduleJobRequest.fromPartial({ spec: { $case: "judgeScore", value: { judgeScore: "" } } }),
        },
      }));
      await call(client, client.triggerSchedule, { scheduleId: round.id });
      await waitFor(async () => hub.requests.some((r) => r.method === "POST" && r.status === 403), 30_000);
      await waitFor(async () => service.logs.some((line) => line.includes('"level":"error"')), 10_000);
      const outbox = await call(client, client.listOutbox, ListOutboxRequest.fromPartial({ pageSize: 100 }));
      seen.push(JSON.stringify(outbox));

      // The same round while the Hub is down: UNAVAILABLE, with the Hub's error in the details.
      hub.down(1_000_000, "503", true);
      const outage = await failing(call(client, client.triggerSchedule, { scheduleId: round.id }));
      expect(outage).not.toBeNull();
      hub.down(0);

      // Bad requests and missing things: details and trailers.
      expect(await failing(call(client, client.scheduleJob, ScheduleJobRequest.fromPartial({ name: "" })))).not.toBeNull();
      expect(await failing(call(client, client.getJobStatus, { jobId: "no-such-job" }))).not.toBeNull();
      expect(await failing(call(client, client.scheduleJob, ScheduleJobRequest.fromPartial({
        name: "bad-git", spec: { $case: "gitActivity", value: { repoUrl: `https://x:${GITHUB_TOKEN}@gitlab.example/a/b` } },
      })))).not.toBeNull();

      await jobOutputs(client);
      const metrics = await (await fetch(`http://127.0.0.1:${service.metricsPort}/metrics`)).text();
      const ready = await (await fetch(`http://127.0.0.1:${service.httpPort}/readyz`)).text();
      seen.push(metrics, ready);
    } finally {
      await stop(service);
    }
    expect(service.logs.length).toBeGreaterThan(10);
    expect(leaks()).toEqual([]);
  }, 120_000);

  it("Kubernetes runtime with a bearer token file, and a start-up that fails with every secret set", async () => {
    const kube: FakeKube = await startFakeKube({ timing: { msPerSecond: 20, podScheduleMs: 5, podStartMs: 20, podRunMs: 30 } });
    try {
      SECRETS.K8S_SERVICE_ACCOUNT_TOKEN = kube.token;
      const dir = mkdtempSync(join(tmpdir(), "secrets-k8s-"));
      dirs.push(dir);
      writeFileSync(join(dir, "token"), kube.token);
      const dataDir = tempDir();
      dirs.push(dataDir);
      const env = baseEnv(dataDir, {
        LOG_LEVEL: "debug",
        RUNTIME: "kubernetes",
        K8S_API_SERVER: kube.url,
        K8S_TOKEN_FILE: join(dir, "token"),
        JOB_IMAGE: "ghcr.io/hackload/jobscheduler:test",
        HUB_API_URL: hub.url,
        HUB_API_KEY,
        GITHUB_TOKEN,
      });
      const service = await spawnService(env);
      try {
        const { client } = service;
        const timer = (await call(client, client.scheduleJob, ScheduleJobRequest.fromPartial({
          name: "k8s-timer", spec: { $case: "timer", value: { duration: { seconds: 1 }, timerName: "t" } },
        }))).job!;
        await waitFor(async () => (await call(client, client.getJobStatus, { jobId: timer.id })).state >= JobState.JOB_STATE_RUNNING, 30_000);
        expect(await failing(call(client, client.getJobStatus, { jobId: "missing" }))).not.toBeNull();
        await jobOutputs(client);
      } finally {
        await stop(service);
      }

      // The API server refuses the token (401): whatever the service does about it, it says so without the token.
      writeFileSync(join(dir, "token"), K8S_TOKEN);
      const unauthorized = await spawnService(env).then(
        async (started) => {
          const { client } = started;
          await failing(call(client, client.scheduleJob, ScheduleJobRequest.fromPartial({
            name: "k8s-refused", spec: { $case: "timer", value: { duration: { seconds: 1 }, timerName: "t" } },
          })));
          await stop(started);
          return "started";
        },
        (error: Error) => (seen.push(error.message), "refused"),
      );
      expect(kube.requests.some((r) => r.code === 401) || unauthorized === "refused").toBe(true);
      // The database refuses to connect: start-up fails, and says so without the password.
      const refused = await spawnService({ ...env, DATABASE_URL: `postgres://postgres:${DB_PASSWORD}@127.0.0.1:1/test` }).then(
        async (started) => (await stop(started), null),
        (error: Error) => error.message,
      );
      expect(refused).toMatch(/service exited \(1\) before it was ready/);
      seen.push(refused!);
    } finally {
      await kube.close();
    }
    expect(leaks()).toEqual([]);
  }, 120_000);
});
