// Admission over a real socket: per-key and per-team quotas (submissions per second, jobs
// queued at once, k6 VU-minutes per hour) answer RESOURCE_EXHAUSTED naming the limit, with a
// google.rpc.RetryInfo in grpc-status-details-bin; inline k6 scripts only for operators and keys
// allowed them. Time is a ManualClock: the token bucket and the hour move when the test says.
import { join } from "node:path";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, describe, expect, it } from "vitest";
import { JobSchedulerClient, Role, ScheduleJobRequest } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { apiKeyInterceptor } from "./support/auth.js";
import { ManualClock } from "./support/manual-clock.js";
import { timerJob } from "./support/requests.js";
import { call, cleanup, ROOT, startService, tempDir, type TestService } from "./support/service.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach(cleanup));

const START = Date.parse("2030-01-01T00:00:00Z");
const DAY_MS = 86_400_000;

/** A stand-in k6 (k6 jobs are refused without a binary; none of these ever runs: dispatching is paused). */
const FAKE_K6 = join(ROOT, "test/support/fake-k6/k6");

async function serve(extra: Record<string, string>): Promise<{ service: TestService; clock: ManualClock }> {
  const clock = new ManualClock(START);
  const dataDir = tempDir();
  dirs.push(dataDir);
  const service = await startService({ K6_BINARY: FAKE_K6, ...extra }, dataDir, { clock });
  await call(service.client, service.client.pauseDispatching, { reason: "quotas" });
  return { service, clock };
}

function client(service: TestService, key: string): JobSchedulerClient {
  return new JobSchedulerClient(`127.0.0.1:${service.app.grpcPort}`, credentials.createInsecure(), { interceptors: [apiKeyInterceptor(key)] });
}

async function key(service: TestService, role: Role, team = "", allowInlineScripts = false): Promise<string> {
  const admin = service.client;
  return (await call(admin, admin.createApiKey, { name: `quota-${Math.random()}`, role, team, allowInlineScripts, expireTime: undefined })).secret;
}

/** The id part of a key. */
const idOf = (secret: string) => secret.split("_")[1];

const later = (clock: ManualClock, overrides: Partial<ScheduleJobRequest> = {}) =>
  timerJob(1000, { name: "quota", runAt: new Date(clock.now() + DAY_MS), ...overrides });

const k6Job = (clock: ManualClock, vus: number, seconds: number, overrides: Partial<ScheduleJobRequest> = {}) =>
  ScheduleJobRequest.fromPartial({
    name: "load",
    runAt: new Date(clock.now() + DAY_MS),
    spec: { $case: "k6", value: { scriptSource: { $case: "scenario", value: "http-get-smoke" }, targetUrl: "http://127.0.0.1:9", vus, duration: { seconds, nanos: 0 } } },
    ...overrides,
  });

interface Refusal {
  code: status;
  details: string;
  reason?: string;
  field?: string;
  retryDelayMs?: number;
  retryInfoType?: string;
}

/** google.rpc.Status → the RetryInfo delay, read field by field. */
function retryInfo(bytes: Buffer): { type: string; delayMs: number } | undefined {
  const status = new BinaryReader(bytes);
  while (status.pos < status.len) {
    const [field, wireType] = status.tag();
    if (field !== 3) {
      status.skip(wireType);
      continue;
    }
    const any = new BinaryReader(status.bytes());
    let type = "";
    let value: Uint8Array = new Uint8Array();
    while (any.pos < any.len) {
      const [f] = any.tag();
      if (f === 1) type = any.string();
      else value = any.bytes();
    }
    if (type !== "type.googleapis.com/google.rpc.RetryInfo") continue;
    const info = new BinaryReader(value);
    info.tag();
    const duration = new BinaryReader(info.bytes());
    let seconds = 0;
    let nanos = 0;
    while (duration.pos < duration.len) {
      const [f] = duration.tag();
      if (f === 1) seconds = Number(duration.int64());
      else nanos = duration.int32();
    }
    return { type, delayMs: seconds * 1000 + nanos / 1e6 };
  }
  return undefined;
}

function refusal(promise: Promise<unknown>): Promise<Refusal | null> {
  return promise.then(
    () => null,
    (error: ServiceError) => {
      const details = error.metadata.get("grpc-status-details-bin")[0];
      const info = Buffer.isBuffer(details) ? retryInfo(details) : undefined;
      return {
        code: error.code,
        details: error.details,
        reason: error.metadata.get("error-reason")[0] as string | undefined,
        field: error.metadata.get("error-field")[0] as string | undefined,
        retryDelayMs: info?.delayMs,
        retryInfoType: info?.type,
      };
    },
  );
}

describe("quotas", () => {
  it("submissions per second per key: a token bucket, refused with RetryInfo, refilled as time passes", async () => {
    const { service, clock } = await serve({ QUOTA_PER_KEY: '{"submissionsPerSecond": 0.5, "burst": 2}' });
    try {
      const hub = client(service, await key(service, Role.ROLE_SUBMITTER));
      await call(hub, hub.scheduleJob, later(clock));
      await call(hub, hub.scheduleJob, later(clock));
      const refused = await refusal(call(hub, hub.scheduleJob, later(clock)));
      expect(refused).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: "QUOTA_SUBMISSION_RATE", retryInfoType: "type.googleapis.com/google.rpc.RetryInfo", retryDelayMs: 2000 });
      expect(refused!.details).toMatch(/^submission rate limit of key [0-9a-z]+ reached: 0\.5 per second \(burst 2\)$/);
      // Another key has a bucket of its own.
      const other = client(service, await key(service, Role.ROLE_SUBMITTER));
      await call(other, other.scheduleJob, later(clock));
      await clock.advance(2000);
      await call(hub, hub.scheduleJob, later(clock));
      expect(await refusal(call(hub, hub.scheduleJob, later(clock)))).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
      hub.close();
      other.close();
    } finally {
      await service.stop();
    }
  });

  it("jobs queued at once per key, exact under concurrent submissions; a slot frees when a job leaves the queue", async () => {
    const { service, clock } = await serve({ QUOTA_PER_KEY: '{"maxQueuedJobs": 3}' });
    try {
      const hub = client(service, await key(service, Role.ROLE_SUBMITTER));
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => refusal(call(hub, hub.scheduleJob, later(clock)))));
      expect(outcomes.filter((o) => o === null)).toHaveLength(3);
      const refused = outcomes.find((o) => o !== null)!;
      expect(refused).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: "QUOTA_QUEUED_JOBS", retryInfoType: "type.googleapis.com/google.rpc.RetryInfo" });
      expect(refused.details).toMatch(/^queued jobs limit of key [0-9a-z]+ reached: at most 3 queued at once$/);
      const listed = await call(hub, hub.listJobs, { type: "", states: [], labelSelector: "", pageSize: 10, pageToken: "", scheduleId: "", reason: "", teamSlug: "" });
      await call(hub, hub.cancelJob, { jobId: listed.jobs[0].id, reason: "make room" });
      await call(hub, hub.scheduleJob, later(clock));
      hub.close();
    } finally {
      await service.stop();
    }
  });

  it("per team: the team's keys share the team's limit", async () => {
    const { service, clock } = await serve({ QUOTA_PER_TEAM: '{"maxQueuedJobs": 1}' });
    try {
      const first = client(service, await key(service, Role.ROLE_SUBMITTER, "team-a"));
      const second = client(service, await key(service, Role.ROLE_SUBMITTER, "team-a"));
      const elsewhere = client(service, await key(service, Role.ROLE_SUBMITTER, "team-b"));
      const bound = (team: string) => later(clock, { team: { slug: team, hackathonId: "hack-1" } });
      await call(first, first.scheduleJob, bound("team-a"));
      const refused = await refusal(call(second, second.scheduleJob, bound("team-a")));
      expect(refused).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: "QUOTA_QUEUED_JOBS", details: "queued jobs limit of team team-a reached: at most 1 queued at once" });
      await call(elsewhere, elsewhere.scheduleJob, bound("team-b"));
      // Unscoped keys are held to per-key quotas only (none here).
      await call(service.client, service.client.scheduleJob, bound("team-a"));
      for (const c of [first, second, elsewhere]) c.close();
    } finally {
      await service.stop();
    }
  });

  it("k6 VU-minutes per hour: refused past the budget, with RetryInfo saying when the hour's first job ages out", async () => {
    const { service, clock } = await serve({ QUOTA_PER_KEY: '{"k6VuMinutesPerHour": 10}' });
    try {
      const secret = await key(service, Role.ROLE_SUBMITTER);
      const hub = client(service, secret);
      await call(hub, hub.scheduleJob, k6Job(clock, 5, 60));
      await clock.advance(10 * 60_000);
      await call(hub, hub.scheduleJob, k6Job(clock, 5, 60));
      const refused = await refusal(call(hub, hub.scheduleJob, k6Job(clock, 2, 60)));
      expect(refused).toMatchObject({
        code: status.RESOURCE_EXHAUSTED, reason: "QUOTA_K6_VU_MINUTES",
        details: `k6 load budget of key ${idOf(secret)} reached: 10 VU-minutes per hour; 10 used, this job needs 2`,
        retryDelayMs: 50 * 60_000,
      });
      // Timers are not k6 load.
      await call(hub, hub.scheduleJob, later(clock));
      await clock.advance(50 * 60_000);
      await call(hub, hub.scheduleJob, k6Job(clock, 2, 60));
      hub.close();
    } finally {
      await service.stop();
    }
  });
});

describe("inline k6 scripts", () => {
  it("only for operators and keys allowed them; the rest get PERMISSION_DENIED naming k6.script", async () => {
    const { service, clock } = await serve({});
    try {
      const script = (overrides: Partial<ScheduleJobRequest> = {}) => ScheduleJobRequest.fromPartial({
        name: "inline",
        runAt: new Date(clock.now() + DAY_MS),
        spec: { $case: "k6", value: { scriptSource: { $case: "script", value: "export default function () {}" }, vus: 1, duration: { seconds: 5, nanos: 0 } } },
        ...overrides,
      });
      const submitter = client(service, await key(service, Role.ROLE_SUBMITTER));
      expect(await refusal(call(submitter, submitter.scheduleJob, script()))).toMatchObject({
        code: status.PERMISSION_DENIED, reason: "INLINE_SCRIPT_NOT_ALLOWED", field: "k6.script",
        details: "k6.script: inline k6 scripts need the operator role or a key allowed them; use a built-in scenario (k6.scenario)",
      });
      // Built-in scenarios are fine.
      await call(submitter, submitter.scheduleJob, k6Job(clock, 1, 5));
      const allowed = client(service, await key(service, Role.ROLE_SUBMITTER, "", true));
      const created = await call(allowed, allowed.scheduleJob, script());
      const operator = client(service, await key(service, Role.ROLE_OPERATOR));
      await call(operator, operator.scheduleJob, script());
      // Retrying someone's inline-script job is running an inline script.
      await call(allowed, allowed.cancelJob, { jobId: created.job!.id, reason: "" });
      expect(await refusal(call(submitter, submitter.retryJob, { jobId: created.job!.id, idempotencyKey: "" }))).toMatchObject({ code: status.PERMISSION_DENIED, field: "k6.script" });
      await call(operator, operator.retryJob, { jobId: created.job!.id, idempotencyKey: "" });
      for (const c of [submitter, allowed, operator]) c.close();
    } finally {
      await service.stop();
    }
  });
});
