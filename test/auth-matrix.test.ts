// Every RPC × every role × unscoped / team-scoped, over a real socket, against THE table
// (src/auth/permissions.ts). The RPCs are read from the generated descriptors (what reflection
// serves), so a new RPC without a rule, or without a request here, fails this test. Each call
// gets fresh targets bound to the caller's team ("team-a"), so an allowed call answers OK;
// a scoped key's call aimed at another team's target ("team-b") answers as for an id that
// does not exist (NOT_FOUND), or PERMISSION_DENIED naming the field for what it would create.
// The table of answers is printed (the closing note of issue #15 quotes it).
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROLES, RPC_RULES, type RpcName } from "../src/auth/permissions.js";
import type { Role as RoleName } from "../src/auth/principal.js";
import { FILE_DESCRIPTOR_PROTOS } from "../src/gen/descriptors.js";
import * as messages from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { JobSchedulerService, Role, type JobSchedulerClient } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { TEST_ADMIN_KEY as TEST_KEY } from "./support/auth.js";
import { call, cleanup, startService, tempDir, type TestService } from "./support/service.js";

const OWN = "team-a";
const OTHER = "team-b";
const DAY_MS = 86_400_000;
const ROLE_ENUM: Record<RoleName, Role> = { viewer: Role.ROLE_VIEWER, submitter: Role.ROLE_SUBMITTER, operator: Role.ROLE_OPERATOR, admin: Role.ROLE_ADMIN };

/** The RPCs of jobscheduler.v1.JobScheduler as the generated descriptors (and reflection) hold them, with their request types. */
function describedMethods(): { name: string; input: string }[] {
  for (const b64 of FILE_DESCRIPTOR_PROTOS) {
    const file = fromBinary(FileDescriptorProtoSchema, Buffer.from(b64, "base64"));
    const service = file.package === "jobscheduler.v1" ? file.service.find((s) => s.name === "JobScheduler") : undefined;
    if (service) return service.method.map((m) => ({ name: m.name, input: m.inputType.split(".").pop()! }));
  }
  throw new Error("jobscheduler.v1.JobScheduler is not in the generated descriptors");
}
const describedRpcs = () => describedMethods().map((m) => m.name);

/** The request message of `rpc` with every field the request leaves out at its default. */
function fullRequest(rpc: string, request: object): object {
  const input = describedMethods().find((m) => m.name === rpc)!.input;
  return (messages as unknown as Record<string, { fromPartial(value: object): object }>)[input].fromPartial(request);
}

let service: TestService;
let dataDir: string;
let raw: Client;
let admin: JobSchedulerClient;
const keys = new Map<string, string>();

interface Answer {
  code: status;
  details: string;
  response?: any;
}

const definition = (rpc: string) => JobSchedulerService[(rpc[0].toLowerCase() + rpc.slice(1)) as keyof typeof JobSchedulerService];

/** Calls `rpc` with `key` (none: no credential at all); never rejects. */
function invoke(rpc: string, request: object, key: string | null): Promise<Answer> {
  const method = definition(rpc);
  const metadata = new Metadata();
  if (key) metadata.set("authorization", `Bearer ${key}`);
  const serialize = (r: object) => Buffer.from(method.requestSerialize(fullRequest(rpc, r) as never));
  if (method.responseStream) {
    return new Promise((resolve) => {
      const stream = raw.makeServerStreamRequest(method.path, serialize, (b: Buffer) => method.responseDeserialize(b), request, metadata, { deadline: Date.now() + 10_000 });
      stream.on("data", () => undefined);
      stream.on("error", (error: ServiceError) => resolve({ code: error.code, details: error.details }));
      stream.on("end", () => resolve({ code: status.OK, details: "" }));
    });
  }
  return new Promise((resolve) => {
    raw.makeUnaryRequest(method.path, serialize, (b: Buffer) => method.responseDeserialize(b), request, metadata, { deadline: Date.now() + 10_000 }, (error, response) =>
      resolve(error ? { code: error.code, details: error.details } : { code: status.OK, details: "", response }),
    );
  });
}

async function must(rpc: string, request: object): Promise<any> {
  const answer = await invoke(rpc, request, TEST_KEY);
  if (answer.code !== status.OK) throw new Error(`set-up ${rpc}: ${status[answer.code]} ${answer.details}`);
  return answer.response;
}

let sequence = 0;
const unique = (prefix: string) => `${prefix}-${++sequence}`;

const timer = { duration: { seconds: 1, nanos: 0 }, timerName: "matrix", completionCallbackUrl: "" };
const jobRequest = (team: string) => ({
  name: unique("matrix"), idempotencyKey: "", labels: {}, priority: 0, concurrencyKey: "", criteriaType: 0,
  team: { slug: team, hackathonId: "hack-1" }, runAt: new Date(Date.now() + DAY_MS), spec: { $case: "timer", value: timer },
});
const scheduleSpec = (team: string) => ({
  name: unique("matrix-schedule"), cron: "0 0 1 1 *", timeZone: "", overlapPolicy: 0, catchupPolicy: 0,
  jobTemplate: { ...jobRequest(team), runAt: undefined, name: "" },
});

const newJob = async (team: string) => (await must("ScheduleJob", jobRequest(team))).job.id as string;
const cancelledJob = async (team: string) => {
  const id = await newJob(team);
  await must("CancelJob", { jobId: id, reason: "matrix" });
  return id;
};
const newSchedule = async (team: string) => (await must("CreateSchedule", { spec: scheduleSpec(team) })).id as string;
const newKey = async (team: string) => (await must("CreateApiKey", { name: unique("matrix-key"), role: Role.ROLE_VIEWER, team })).key.id as string;

/** A parked Hub report of `team`, written into the service's SQLite file as the outbox would hold it. */
function parkedItem(team: string): string {
  const id = crypto.randomUUID();
  const db = new Database(join(dataDir, "jobscheduler.db"));
  try {
    db.pragma("busy_timeout = 5000");
    db.prepare(
      `INSERT INTO outbox (id, source_key, team_slug, hackathon_id, criteria_type, status, score, metrics, job_id, state, created_at, next_attempt_at, updated_at)
       VALUES (?, ?, ?, 'hack-1', 'CODE_REPO', 'PASSED', 1, '{}', NULL, 'PARKED', ?, ?, ?)`,
    ).run(id, `matrix:${id}`, team, Date.now(), Date.now(), Date.now());
  } finally {
    db.close();
  }
  return id;
}

/** A request for `rpc` whose targets belong to `team` (fresh ones, so an allowed call succeeds). */
const REQUESTS: Record<RpcName, (team: string) => Promise<object>> = {
  ScheduleJob: async (team) => jobRequest(team),
  GetJobStatus: async (team) => ({ jobId: await newJob(team) }),
  ListJobs: async () => ({}),
  CancelJob: async (team) => ({ jobId: await newJob(team), reason: "matrix" }),
  WatchJob: async (team) => ({ jobId: await cancelledJob(team) }),
  ListJobTypes: async () => ({}),
  PauseDispatching: async () => ({ reason: "matrix" }),
  ResumeDispatching: async () => ({}),
  GetDispatchingStatus: async () => ({}),
  GetDispatchLimits: async () => ({}),
  UpdateDispatchLimits: async () => ({ limits: { maxRunning: 32, maxRunningPerType: {}, maxRunningPerKey: 1, maxRunningPerKeyOverrides: {} }, updateMask: ["maxRunning"] }),
  RetryJob: async (team) => ({ jobId: await cancelledJob(team), idempotencyKey: "" }),
  CreateSchedule: async (team) => ({ spec: scheduleSpec(team) }),
  GetSchedule: async (team) => ({ scheduleId: await newSchedule(team) }),
  ListSchedules: async () => ({}),
  UpdateSchedule: async (team) => {
    const id = await newSchedule(team);
    const { spec } = await must("GetSchedule", { scheduleId: id });
    return { scheduleId: id, spec: { ...spec, cron: "0 0 2 1 *" } };
  },
  PauseSchedule: async (team) => ({ scheduleId: await newSchedule(team), reason: "matrix" }),
  ResumeSchedule: async (team) => ({ scheduleId: await newSchedule(team) }),
  DeleteSchedule: async (team) => ({ scheduleId: await newSchedule(team) }),
  TriggerSchedule: async (team) => ({ scheduleId: await newSchedule(team) }),
  ListOutbox: async () => ({}),
  ResendOutbox: async (team) => ({ itemIds: [parkedItem(team)] }),
  CreateApiKey: async (team) => ({ name: unique("matrix-new-key"), role: Role.ROLE_VIEWER, team }),
  ListApiKeys: async () => ({}),
  RevokeApiKey: async (team) => ({ keyId: await newKey(team) }),
  ListAuditEvents: async () => ({}),
};

/** The same call aimed at another team: what a scoped key must get for it. */
const CROSS_TEAM: Partial<Record<RpcName, { request: (other: string) => Promise<object>; expect: status }>> = {
  ScheduleJob: { request: async (other) => jobRequest(other), expect: status.PERMISSION_DENIED },
  GetJobStatus: { request: REQUESTS.GetJobStatus, expect: status.NOT_FOUND },
  ListJobs: { request: async (other) => ({ teamSlug: other }), expect: status.PERMISSION_DENIED },
  CancelJob: { request: REQUESTS.CancelJob, expect: status.NOT_FOUND },
  WatchJob: { request: REQUESTS.WatchJob, expect: status.NOT_FOUND },
  RetryJob: { request: REQUESTS.RetryJob, expect: status.NOT_FOUND },
  CreateSchedule: { request: REQUESTS.CreateSchedule, expect: status.PERMISSION_DENIED },
  GetSchedule: { request: REQUESTS.GetSchedule, expect: status.NOT_FOUND },
  ListSchedules: { request: async (other) => ({ teamSlug: other }), expect: status.PERMISSION_DENIED },
  UpdateSchedule: { request: REQUESTS.UpdateSchedule, expect: status.NOT_FOUND },
  PauseSchedule: { request: REQUESTS.PauseSchedule, expect: status.NOT_FOUND },
  ResumeSchedule: { request: REQUESTS.ResumeSchedule, expect: status.NOT_FOUND },
  DeleteSchedule: { request: REQUESTS.DeleteSchedule, expect: status.NOT_FOUND },
  TriggerSchedule: { request: REQUESTS.TriggerSchedule, expect: status.NOT_FOUND },
  ListOutbox: { request: async (other) => ({ teamSlug: other }), expect: status.PERMISSION_DENIED },
  ResendOutbox: { request: REQUESTS.ResendOutbox, expect: status.NOT_FOUND },
  CreateApiKey: { request: REQUESTS.CreateApiKey, expect: status.PERMISSION_DENIED },
  ListApiKeys: { request: async (other) => ({ team: other }), expect: status.PERMISSION_DENIED },
  RevokeApiKey: { request: REQUESTS.RevokeApiKey, expect: status.NOT_FOUND },
  ListAuditEvents: { request: async (other) => ({ team: other }), expect: status.PERMISSION_DENIED },
};

const rank = (role: RoleName) => ROLES.indexOf(role);
const short = (code: status) => (code === status.OK ? "OK" : code === status.PERMISSION_DENIED ? "DENIED" : status[code]);

beforeAll(async () => {
  dataDir = tempDir();
  service = await startService({}, dataDir);
  admin = service.client;
  raw = new Client(`127.0.0.1:${service.app.grpcPort}`, credentials.createInsecure());
  // Nothing of the matrix may run: every job waits a day, and dispatching stays paused.
  await call(admin, admin.pauseDispatching, { reason: "matrix" });
  for (const role of ROLES) {
    for (const team of ["", OWN]) {
      const created = await call(admin, admin.createApiKey, { name: `matrix ${role} ${team || "unscoped"}`, role: ROLE_ENUM[role], team, allowInlineScripts: false, expireTime: undefined });
      keys.set(`${role}/${team}`, created.secret);
    }
  }
}, 60_000);

afterAll(async () => {
  raw?.close();
  await service?.stop();
  cleanup(dataDir);
});

describe("the RPC × role × scope matrix (src/auth/permissions.ts)", () => {
  it("has a rule for every RPC the descriptors define, and no rule for an RPC that does not exist", () => {
    const rpcs = describedRpcs();
    expect(rpcs.length).toBeGreaterThanOrEqual(25);
    expect(rpcs.filter((rpc) => !(rpc in RPC_RULES))).toEqual([]);
    expect(Object.keys(RPC_RULES).filter((rpc) => !rpcs.includes(rpc))).toEqual([]);
  });

  it("answers every RPC for every role, scoped and unscoped, as the table says", { timeout: 180_000 }, async () => {
    const rows: string[][] = [];
    const problems: string[] = [];
    for (const rpc of describedRpcs() as RpcName[]) {
      const rule = RPC_RULES[rpc];
      const makeRequest = REQUESTS[rpc];
      if (!makeRequest) throw new Error(`no request for ${rpc} in test/auth-matrix.test.ts`);
      const row: string[] = [rpc, rule.role, rule.scope];
      const check = async (label: string, key: string | null, request: object, expected: status) => {
        const answer = await invoke(rpc, request, key);
        row.push(short(answer.code));
        if (answer.code !== expected) problems.push(`${rpc} ${label}: expected ${status[expected]}, got ${status[answer.code]} (${answer.details})`);
        // Dispatching stays paused whoever resumed it.
        if (rpc === "ResumeDispatching" && answer.code === status.OK) await must("PauseDispatching", { reason: "matrix" });
      };
      await check("without a key", null, await makeRequest(OWN), status.UNAUTHENTICATED);
      for (const role of ROLES) {
        const allowed = rank(role) >= rank(rule.role);
        await check(`as ${role}`, keys.get(`${role}/`)!, await makeRequest(OWN), allowed ? status.OK : status.PERMISSION_DENIED);
        const scopedAllowed = allowed && rule.scope !== "every-team";
        await check(`as ${role} of ${OWN}`, keys.get(`${role}/${OWN}`)!, await makeRequest(OWN), scopedAllowed ? status.OK : status.PERMISSION_DENIED);
        const cross = CROSS_TEAM[rpc];
        if (cross && scopedAllowed) await check(`as ${role} of ${OWN}, at ${OTHER}'s`, keys.get(`${role}/${OWN}`)!, await cross.request(OTHER), cross.expect);
        else row.push("-");
      }
      rows.push(row);
    }
    const header = ["RPC", "least role", "team scope", "no key", ...ROLES.flatMap((r) => [r, `${r}@team`, `${r}@team→other`])];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
    console.log(["RPC × role × scope (OK = answered, DENIED = PERMISSION_DENIED, NOT_FOUND = another team's, as for no such id)",
      line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n"));
    expect(problems).toEqual([]);
  });

  it("lists only the scoped key's team: jobs, schedules, outbox items, keys", async () => {
    const ownJob = await newJob(OWN);
    const otherJob = await newJob(OTHER);
    const viewer = keys.get(`viewer/${OWN}`)!;
    const jobs = (await invoke("ListJobs", { pageSize: 1000 }, viewer)).response.jobs.map((j: any) => j.id);
    expect(jobs).toContain(ownJob);
    expect(jobs).not.toContain(otherJob);
    const all = (await invoke("ListJobs", { pageSize: 1000 }, keys.get("viewer/")!)).response.jobs.map((j: any) => j.id);
    expect(all).toEqual(expect.arrayContaining([ownJob, otherJob]));

    const ownSchedule = await newSchedule(OWN);
    const otherSchedule = await newSchedule(OTHER);
    const schedules = (await invoke("ListSchedules", { pageSize: 1000 }, viewer)).response.schedules.map((s: any) => s.id);
    expect(schedules).toContain(ownSchedule);
    expect(schedules).not.toContain(otherSchedule);

    const ownItem = parkedItem(OWN);
    const otherItem = parkedItem(OTHER);
    const items = (await invoke("ListOutbox", { pageSize: 1000 }, viewer)).response.items.map((i: any) => i.id);
    expect(items).toContain(ownItem);
    expect(items).not.toContain(otherItem);

    const ownKey = await newKey(OWN);
    const otherKey = await newKey(OTHER);
    const listed = (await invoke("ListApiKeys", { pageSize: 1000 }, keys.get(`admin/${OWN}`)!)).response.keys.map((k: any) => k.id);
    expect(listed).toContain(ownKey);
    expect(listed).not.toContain(otherKey);
  });

  it("answers another team's job exactly as a job that does not exist", async () => {
    const otherJob = await newJob(OTHER);
    const missing = "01900000-0000-7000-8000-000000000000";
    const viewer = keys.get(`viewer/${OWN}`)!;
    const hidden = await invoke("GetJobStatus", { jobId: otherJob }, viewer);
    const absent = await invoke("GetJobStatus", { jobId: missing }, viewer);
    expect(hidden.code).toBe(status.NOT_FOUND);
    expect(absent.code).toBe(status.NOT_FOUND);
    expect(hidden.details.replace(otherJob, "<id>")).toBe(absent.details.replace(missing, "<id>"));
  });
});
