// A team round checks each team's job request once: the fan-out validates it into a Submission,
// and the scheduler submits that Submission with the fire's key and due time, without checking it
// again. Counted on the domain's validateJobRequest through a real fire (TriggerSchedule over
// gRPC, the Hub stand-in listing the teams).
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CreateScheduleRequest, ScheduleJobRequest } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import * as submissions from "../src/jobs/submission/submission.js";
import { FakeHub, newApiKey } from "./support/fake-hub.js";
import { call, cleanup, startService, type TestService } from "./support/service.js";

vi.mock("../src/jobs/submission/submission.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("../src/jobs/submission/submission.js")>();
  return { ...actual, validateJobRequest: vi.fn(actual.validateJobRequest) };
});

const validate = vi.mocked(submissions.validateJobRequest);
const HACKATHON = "hl-validate-once";
const KEY = newApiKey();
const hub = new FakeHub();
let service: TestService;

beforeAll(async () => {
  hub.addKey(KEY, ["teams:read", "environment:read", "environment:write"]);
  for (const [slug, judge] of [["team-a", "8"], ["team-b", "9"], ["team-c", "7"], ["team-d", "6"]]) {
    hub.addTeam({ nickname: slug, hackathonId: HACKATHON, env: { JUDJE_SCORE: judge } });
  }
  // No mark: NO_DATA straight to the outbox, no request to check.
  hub.addTeam({ nickname: "team-e", hackathonId: HACKATHON, env: {} });
  await hub.start();
  service = await startService({ HUB_API_URL: hub.url, HUB_API_KEY: KEY });
  // The fire is what is counted; the jobs need not run.
  await call(service.client, service.client.pauseDispatching, { reason: "counting validations" });
});

afterAll(async () => {
  await service?.stop();
  if (service) cleanup(service.dataDir);
  await hub.close();
});

describe("a fan-out fire", () => {
  it("validates each team's request once, and the jobs carry what was validated", async () => {
    const { client } = service;
    const schedule = await call(client, client.createSchedule, CreateScheduleRequest.fromPartial({
      spec: {
        name: "judge-round",
        cron: "0 0 1 1 *",
        forEachTeam: { hackathonId: HACKATHON, teamStatus: "" },
        jobTemplate: ScheduleJobRequest.fromPartial({ spec: { $case: "judgeScore", value: { judgeScore: "" } } }),
      },
    }));
    validate.mockClear();

    const { jobs, skippedReason } = await call(client, client.triggerSchedule, { scheduleId: schedule.id });

    expect(skippedReason).toBe("");
    expect(jobs.map((job) => job.team?.slug).sort()).toEqual(["team-a", "team-b", "team-c", "team-d"]);
    const checked = validate.mock.calls.map(([request]) => request.team?.slug);
    expect(checked.sort()).toEqual(["team-a", "team-b", "team-c", "team-d"]);
    // The submitted jobs are the validated ones, given the fire's key (schedule, fire time, team).
    for (const job of jobs) {
      expect(job.idempotencyKey).toMatch(new RegExp(`^schedule:${schedule.id}:.+:${job.team!.slug}$`));
      expect(job.name).toBe(`judge-round ${job.team!.slug}`);
    }
  });
});
