// A team round on the shipped defaults (no MAX_RUNNING_JOBS, no HUB_ROUND_CONCURRENCY set): the
// round runs HUB_ROUND_CONCURRENCY checks at once, held back by its own per-type limit, never by
// the global one, and other work still starts while it runs. Every team's app holds its requests
// until the test lets them go, so the checks in flight are counted at the apps.
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { CreateScheduleRequest, JobState, ScheduleJobRequest } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { PLACEHOLDER } from "../src/hub/default-schedules.js";
import { FakeHub, newApiKey } from "./support/fake-hub.js";
import { baseEnv, call, cleanup, startService, waitFor } from "./support/service.js";

const HACKATHON = "defaults-hackathon";
const TEAMS = 24;
const hub = new FakeHub();
const key = newApiKey();
const apps: { close(): Promise<void> }[] = [];
/** Per team app, the answers it is holding back. */
const held = new Map<number, ServerResponse[]>();
let released = false;

const answer = (res: ServerResponse) => res.writeHead(200, { "content-type": "application/json" }).end("[]");

beforeAll(async () => {
  hub.addKey(key, ["teams:read", "environment:read", "environment:write"]);
  await hub.start();
  for (let i = 0; i < TEAMS; i++) {
    const server = createServer((_req, res) => {
      if (released) return answer(res);
      held.set(i, [...(held.get(i) ?? []), res]);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    apps.push({ close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) });
    hub.addTeam({ nickname: `team-${String(i).padStart(2, "0")}`, hackathonId: HACKATHON, env: { ENDPOINT_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` } });
  }
});

afterAll(async () => {
  for (const app of apps) await app.close();
  await hub.close();
});

describe("a team round on the shipped defaults", () => {
  it("runs HUB_ROUND_CONCURRENCY checks at once, limited by its type's limit and not the global one, with room for other jobs", async () => {
    const defaults = loadConfig(baseEnv("/tmp"));
    expect(defaults.MAX_RUNNING_JOBS).toBeGreaterThanOrEqual(2 * defaults.HUB_ROUND_CONCURRENCY);
    const service = await startService({ HUB_API_URL: hub.url, HUB_API_KEY: key, LOCAL_PASS_ENV: "PATH" });
    try {
      const { client } = service;
      const limits = await call(client, client.getDispatchLimits, {});
      expect(limits).toMatchObject({ maxRunning: defaults.MAX_RUNNING_JOBS, maxRunningPerType: { http_check: 16, git_activity: 16, budget: 16, judge_score: 16, k6: 8 } });
      const schedule = await call(client, client.createSchedule, CreateScheduleRequest.fromPartial({
        spec: {
          name: "defaults-round",
          cron: "0 0 1 1 *",
          forEachTeam: { hackathonId: HACKATHON, teamStatus: "" },
          jobTemplate: ScheduleJobRequest.fromPartial({
            retryPolicy: { maxAttempts: 1 },
            spec: { $case: "httpCheck", value: { baseUrl: PLACEHOLDER.appUrl, endpoints: [], requestTimeout: { seconds: 20, nanos: 0 } } },
          }),
        },
      }));
      const { jobs } = await call(client, client.triggerSchedule, { scheduleId: schedule.id });
      expect(jobs).toHaveLength(TEAMS);

      // Every check in flight holds all four of its requests at its app.
      await waitFor(async () => [...held.values()].filter((r) => r.length === 4).length === defaults.HUB_ROUND_CONCURRENCY, 20_000);
      const statuses = await Promise.all(jobs.map((j) => call(client, client.getJobStatus, { jobId: j.id })));
      const waiting = statuses.filter((j) => j.state === JobState.JOB_STATE_QUEUED);
      expect(waiting).toHaveLength(TEAMS - defaults.HUB_ROUND_CONCURRENCY);
      expect(new Set(waiting.map((j) => j.queue?.waitingReason))).toEqual(new Set(["TYPE_LIMIT"]));

      // Another job starts while the round holds its slots.
      const { job: timer } = await call(client, client.scheduleJob, ScheduleJobRequest.fromPartial({
        name: "beside-the-round",
        spec: { $case: "timer", value: { duration: { seconds: 0, nanos: 50e6 }, timerName: "beside" } },
      }));
      await waitFor(async () => (await call(client, client.getJobStatus, { jobId: timer!.id })).state === JobState.JOB_STATE_SUCCEEDED);

      released = true;
      for (const responses of held.values()) responses.forEach(answer);
      await waitFor(async () => hub.history.length >= TEAMS, 30_000);
      expect(hub.history.every((row) => row.status === "PASSED")).toBe(true);
    } finally {
      await service.stop();
      cleanup(service.dataDir);
    }
  }, 90_000);
});
