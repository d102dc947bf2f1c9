// Input bounds through a real gRPC server (issue #12, §3 UpdateDispatchLimits and §5): values
// that were accepted but wrong, the one string rule on every string field of every request (its
// maxima read from README.md's table, which must cover every string field of the proto), Duration
// checks, the run_at horizon, params_schema in proto3 JSON, CancelJob's reason and the update
// mask of UpdateDispatchLimits. Requests are written in proto3 JSON, as grpcurl users write them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { status, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CancelJobRequest, CreateScheduleRequest, DeleteScheduleRequest, GetJobStatusRequest, GetScheduleRequest, JobState,
  ListJobsRequest, ListOutboxRequest, ListSchedulesRequest, PauseDispatchingRequest, PauseScheduleRequest, ResendOutboxRequest, CreateApiKeyRequest, ListApiKeysRequest, RevokeApiKeyRequest, ListAuditEventsRequest,
  ResumeScheduleRequest, RetryJobRequest, ScheduleJobRequest, TriggerScheduleRequest, UpdateDispatchLimitsRequest,
  UpdateScheduleRequest, WatchJobRequest, type DispatchLimits, type Job, type JobSchedulerClient,
} from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { call, cleanup, collect, ROOT, startService, waitFor, type TestService } from "./support/service.js";

const FAKE_K6 = fileURLToPath(new URL("./support/fake-k6/k6", import.meta.url));
const UNKNOWN_ID = "01234567-89ab-7def-8123-456789abcdef";
const MiB = 1 << 20;

let service: TestService;
let scheduleId: string;
const client = (): JobSchedulerClient => service.client;

beforeAll(async () => {
  service = await startService({ K6_BINARY: FAKE_K6, MAX_RUNNING_JOBS: "8" });
  const schedule = await call(client(), client().createSchedule, CreateScheduleRequest.fromJSON({ spec: baseSpec("bounds-existing") }));
  scheduleId = schedule.id;
});

afterAll(async () => {
  await service?.stop();
  if (service) cleanup(service.dataDir);
});

async function rejected(promise: Promise<unknown>): Promise<ServiceError> {
  return promise.then(
    (value) => {
      throw new Error(`expected an error, got ${JSON.stringify(value).slice(0, 300)}`);
    },
    (error: ServiceError) => error,
  );
}

async function expectInvalid(promise: Promise<unknown>, message: string | RegExp): Promise<void> {
  const error = await rejected(promise);
  expect(`${status[error.code]}: ${error.details}`).toMatch(typeof message === "string" ? `INVALID_ARGUMENT: ${message}` : message);
  expect(status[error.code]).toBe("INVALID_ARGUMENT");
}

const schedule = (json: Record<string, unknown>) => call(client(), client().scheduleJob, ScheduleJobRequest.fromJSON(json));
const timerJson = (timer: Record<string, unknown> = {}, rest: Record<string, unknown> = {}) => ({
  name: "bounds", timer: { duration: { seconds: 1 }, timer_name: "t", ...timer }, ...rest,
});

// ---- §3: UpdateDispatchLimits validated at the API with the store's bounds ----

const LIMITS = { max_running: 8, max_running_per_type: { timer: 4, k6: 2 }, max_running_per_key: 1, max_running_per_key_overrides: { "key-a": 3 } };
const updateLimits = (json: Record<string, unknown>) => call(client(), client().updateDispatchLimits, UpdateDispatchLimitsRequest.fromJSON(json));

describe("UpdateDispatchLimits bounds", () => {
  it("answers a limit over 1,000,000 and an empty map key with INVALID_ARGUMENT naming the field (the store's bounds, checked at the API)", async () => {
    await expectInvalid(updateLimits({ limits: { ...LIMITS, max_running: 1_000_001 } }), "limits.max_running: must be a whole number from 1 to 1000000");
    await expectInvalid(updateLimits({ limits: { ...LIMITS, max_running_per_type: { "": 2 } } }), 'limits.max_running_per_type[""]: must not be empty');
    await expectInvalid(updateLimits({ limits: { ...LIMITS, max_running_per_key_overrides: { k: 2_000_000 } } }), 'limits.max_running_per_key_overrides["k"]: must be a whole number from 1 to 1000000');
  });
});

// ---- §5: accepted but wrong ----

describe("values that used to be accepted", () => {
  it("refuses NUL in a job type's string field (budget.money_spend)", async () => {
    await expectInvalid(
      schedule({ name: "b", budget: { money_spend: "100\u0000" } }),
      "budget.money_spend: must not contain control characters (U+0000 at index 3)",
    );
  });

  it("refuses a memory quantity that is not a finite size (1e400)", async () => {
    await expectInvalid(schedule(timerJson({}, { resources: { memory_limit: "1e400" } })), /^INVALID_ARGUMENT: resources\.memory_limit: "1e400" is not a resource quantity/);
  });

  it("refuses a 1 MiB cpu_request, saying the maximum", async () => {
    await expectInvalid(schedule(timerJson({}, { resources: { cpu_request: "1".repeat(MiB) } })), `resources.cpu_request: must be at most 64 characters (got ${MiB})`);
  });

  it("refuses Duration nanos outside ±999,999,999 or of another sign than seconds, in the API's and in job types' fields", async () => {
    await expectInvalid(schedule(timerJson({ duration: { seconds: 1, nanos: 1_500_000_000 } })), "timer.duration: nanos must be a whole number within ±999999999");
    await expectInvalid(schedule(timerJson({ duration: { seconds: 2, nanos: -1 } })), "timer.duration: seconds and nanos must have the same sign");
    await expectInvalid(
      schedule({ name: "h", http_check: { base_url: "http://127.0.0.1:9/", request_timeout: { seconds: 1, nanos: 1_000_000_000 } } }),
      "http_check.request_timeout: nanos must be a whole number within ±999999999",
    );
    await expectInvalid(
      schedule({ name: "k", k6: { scenario: "http-get-smoke", target_url: "http://127.0.0.1:9", duration: { seconds: 10, nanos: -5 } } }),
      "k6.duration: seconds and nanos must have the same sign",
    );
    await expectInvalid(schedule(timerJson({}, { timeout: { seconds: 5, nanos: -1 } })), "timeout: seconds and nanos must have the same sign");
  });

  it("refuses run_at beyond MAX_SCHEDULE_HORIZON (one year by default) and takes one within it", async () => {
    await expectInvalid(schedule(timerJson({}, { run_at: "9999-12-31T00:00:00Z" })), "run_at: must be at most 8760h from now (MAX_SCHEDULE_HORIZON)");
    const { job } = await schedule(timerJson({}, { run_at: new Date(Date.now() + 300 * 86_400_000).toISOString() }));
    expect(JobState[job!.state]).toBe("JOB_STATE_QUEUED");
    await call(client(), client().cancelJob, { jobId: job!.id, reason: "done" });
  });

  it("refuses a queue_timeout over a year, whose deadline no client could print as a Timestamp", async () => {
    await expectInvalid(schedule(timerJson({}, { queue_timeout: { seconds: 315_576_000_000, nanos: 0 } })), "queue_timeout: must be at most 8760h");
    const { job } = await schedule(timerJson({}, { queue_timeout: { seconds: 31_536_000, nanos: 0 }, run_at: new Date(Date.now() + 86_400_000).toISOString() }));
    expect(job!.queueDeadline!.getTime()).toBeLessThan(Date.UTC(10000, 0));
    await call(client(), client().cancelJob, { jobId: job!.id, reason: "done" });
  });

  it("refuses a 1 MiB timer_name with its maximum, not 'must be a string'", async () => {
    await expectInvalid(schedule(timerJson({ timer_name: "x".repeat(MiB) })), `timer.timer_name: must be at most 253 characters (got ${MiB})`);
  });
});

// ---- §5: one string rule on every string field of every request ----

interface DescriptorField {
  name: string;
  label: string;
  type: string;
  typeName: string;
}
interface Descriptor {
  name: string;
  field: DescriptorField[];
  nestedType: Descriptor[];
  options: { mapEntry?: boolean } | null;
}

/** Every string field of every request message, from the proto: `timer.timer_name`, `labels{key}`, `k6.extra_args[]`. */
function protoStringFields(): { rpc: string; path: string }[] {
  const definition = loadSync("jobscheduler/v1/jobscheduler.proto", { includeDirs: [join(ROOT, "proto")], keepCase: true });
  const lookup = (name: string): Descriptor =>
    ((definition[`jobscheduler.v1.${name}`] ?? definition[name]) as unknown as { type: Descriptor }).type;
  const out: { rpc: string; path: string }[] = [];
  const walk = (rpc: string, type: Descriptor, prefix: string, seen: string[]) => {
    if (seen.includes(type.name)) return;
    for (const field of type.field) {
      const path = prefix + field.name;
      const entry = type.nestedType.find((nested) => nested.name === field.typeName && nested.options?.mapEntry);
      if (entry) {
        const [key, value] = entry.field;
        if (key.type === "TYPE_STRING") out.push({ rpc, path: `${path}{key}` });
        if (value.type === "TYPE_STRING") out.push({ rpc, path: `${path}{value}` });
        else if (value.type === "TYPE_MESSAGE") walk(rpc, lookup(value.typeName), `${path}{value}.`, [...seen, type.name]);
        continue;
      }
      const element = field.label === "LABEL_REPEATED" ? `${path}[]` : path;
      if (field.type === "TYPE_STRING") out.push({ rpc, path: element });
      else if (field.type === "TYPE_MESSAGE") walk(rpc, lookup(field.typeName), `${element}.`, [...seen, type.name]);
    }
  };
  const service = definition["jobscheduler.v1.JobScheduler"] as unknown as Record<string, { requestType: { type: Descriptor } }>;
  for (const [rpc, method] of Object.entries(service)) walk(rpc, method.requestType.type, "", []);
  return out;
}

interface LimitRow {
  rpcs: string[];
  fields: string[];
  max: number | null;
}

/** README.md's table of maxima. */
function readmeLimits(): LimitRow[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("<!-- limits:start -->"), readme.indexOf("<!-- limits:end -->"));
  return table
    .split("\n")
    .filter((line) => line.startsWith("| ") && !line.startsWith("| RPC "))
    .map((line) => {
      const [rpcs, fields, max] = line.split("|").slice(1, 4).map((cell) => cell.trim());
      return {
        rpcs: rpcs.split(", "),
        fields: [...fields.matchAll(/`([^`]+)`/g)].map((m) => m[1]),
        max: /^\d+/.test(max) ? Number(/^\d+/.exec(max)![0]) : null,
      };
    });
}

const TEMPLATE_PREFIX = "spec.job_template.";

/** The README rows as (rpc, path, max), ScheduleJob's fields also under CreateSchedule/UpdateSchedule's spec.job_template. */
function documentedFields(): { rpc: string; path: string; max: number | null }[] {
  return readmeLimits().flatMap((row) =>
    row.rpcs.flatMap((rpc) =>
      row.fields.flatMap((path) => [
        { rpc, path, max: row.max },
        ...(rpc === "ScheduleJob" ? ["CreateSchedule", "UpdateSchedule"].map((r) => ({ rpc: r, path: TEMPLATE_PREFIX + path, max: row.max })) : []),
      ]),
    ),
  );
}

const SPEC_MEMBERS: Record<string, Record<string, unknown>> = {
  timer: { duration: { seconds: 1 }, timer_name: "t" },
  http_check: { base_url: "http://127.0.0.1:9/", endpoints: [{ method: "GET", path: "/health" }] },
  git_activity: { repo_url: "https://github.com/o/r" },
  budget: { money_spend: "100" },
  judge_score: { judge_score: "5" },
  k6: { scenario: "http-get-smoke", target_url: "http://127.0.0.1:9" },
};

/** A valid ScheduleJob request (proto3 JSON) with the spec member the field belongs to. */
function baseJob(path: string): Record<string, unknown> {
  const member = Object.keys(SPEC_MEMBERS).find((m) => path.startsWith(`${m}.`)) ?? "timer";
  return { name: "bounds", team: { slug: "team-a", hackathon_id: "h1" }, [member]: structuredClone(SPEC_MEMBERS[member]) };
}

function baseSpec(name: string): Record<string, unknown> {
  return { name, cron: "0 0 1 1 *", time_zone: "UTC", job_template: baseJob("") };
}

/** A valid request of each RPC (proto3 JSON), for a field at `path`. */
function baseRequest(rpc: string, path: string): Record<string, unknown> {
  const template = path.startsWith(TEMPLATE_PREFIX) ? path.slice(TEMPLATE_PREFIX.length) : null;
  const spec = () => ({ ...baseSpec(rpc === "UpdateSchedule" ? "bounds-existing" : "bounds-new"), ...(template !== null ? { job_template: baseJob(template) } : {}) });
  switch (rpc) {
    case "ScheduleJob": return baseJob(path);
    case "CancelJob": return { job_id: UNKNOWN_ID, reason: "r" };
    case "RetryJob": return { job_id: UNKNOWN_ID, idempotency_key: "k" };
    case "UpdateDispatchLimits": return { limits: structuredClone(LIMITS) };
    case "CreateSchedule": return { spec: spec() };
    case "UpdateSchedule": return { schedule_id: scheduleId, spec: spec() };
    case "PauseSchedule": return { schedule_id: scheduleId, reason: "r" };
    case "CreateApiKey": return { name: "bounds", role: "ROLE_VIEWER" };
    default: return {};
  }
}

/** Sample entries of maps, for a field that is the map's key or value. */
const MAP_SAMPLES: Record<string, [string, unknown]> = {
  labels: ["k", "v"],
  env: ["MY_VAR", "1"],
  thresholds: ["http_req_duration", { expressions: ["p(95)<500"] }],
  max_running_per_type: ["timer", 1],
  max_running_per_key_overrides: ["key-a", 1],
};
/** Objects a path passes through that need other fields to be valid. */
const PARENTS: Record<string, Record<string, unknown>> = {
  "spec.for_each_team": { hackathon_id: "h1" },
};

/**
 * Sets `value` at `path` in a proto3 JSON request and says how the service names the field:
 * `labels{key}` → labels {value: "v"}, named labels["<value>"]; `k6.extra_args[]` → [value], k6.extra_args[0].
 */
function withValue(request: Record<string, unknown>, path: string, value: string): { request: Record<string, unknown>; field: string; keyed: boolean } {
  const segments = path.split(".");
  let node = request;
  let field = "";
  let keyed = false;
  let walked = "";
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    const match = /^(\w+)(\{key\}|\{value\}|\[\])?$/.exec(segment)!;
    const [, name, kind] = match;
    walked += (walked ? "." : "") + name;
    field += (field ? "." : "") + name;
    if (kind === "{key}") {
      node[name] = { [value]: MAP_SAMPLES[name][1] };
      field += `[${JSON.stringify(value)}]`;
      keyed = true;
    } else if (kind === "{value}") {
      const key = MAP_SAMPLES[name][0];
      field += `[${JSON.stringify(key)}]`;
      const entry = last ? value : structuredClone(MAP_SAMPLES[name][1]) as Record<string, unknown>;
      node[name] = { [key]: entry };
      if (!last) node = entry as Record<string, unknown>;
    } else if (kind === "[]") {
      field += "[0]";
      const element = last ? value : { ...((node[name] as Record<string, unknown>[] | undefined)?.[0] ?? {}) };
      node[name] = [element];
      if (!last) node = element as Record<string, unknown>;
    } else if (last) {
      node[name] = value;
    } else {
      node[name] = { ...(PARENTS[walked] ?? {}), ...((node[name] as Record<string, unknown> | undefined) ?? {}) };
      node = node[name] as Record<string, unknown>;
    }
  });
  return { request, field, keyed };
}

const CODECS: Record<string, { fromJSON(json: unknown): unknown }> = {
  ScheduleJob: ScheduleJobRequest, GetJobStatus: GetJobStatusRequest, ListJobs: ListJobsRequest, CancelJob: CancelJobRequest,
  WatchJob: WatchJobRequest, PauseDispatching: PauseDispatchingRequest, UpdateDispatchLimits: UpdateDispatchLimitsRequest,
  RetryJob: RetryJobRequest, CreateSchedule: CreateScheduleRequest, GetSchedule: GetScheduleRequest, ListSchedules: ListSchedulesRequest,
  UpdateSchedule: UpdateScheduleRequest, PauseSchedule: PauseScheduleRequest, ResumeSchedule: ResumeScheduleRequest,
  DeleteSchedule: DeleteScheduleRequest, TriggerSchedule: TriggerScheduleRequest, ListOutbox: ListOutboxRequest, ResendOutbox: ResendOutboxRequest,
  CreateApiKey: CreateApiKeyRequest, ListApiKeys: ListApiKeysRequest, RevokeApiKey: RevokeApiKeyRequest, ListAuditEvents: ListAuditEventsRequest,
};

function send(rpc: string, json: Record<string, unknown>): Promise<unknown> {
  const request = CODECS[rpc].fromJSON(json);
  if (rpc === "WatchJob") return collect(client().watchJob(request as WatchJobRequest));
  const method = (client() as unknown as Record<string, unknown>)[rpc[0].toLowerCase() + rpc.slice(1)];
  return call(client(), method as never, request as never);
}

/** `field: message`, the map key in the field allowed to be shortened (long echoes are capped). */
function fieldMessage(field: string, keyed: boolean, message: string): RegExp {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  if (!keyed) return new RegExp(`^INVALID_ARGUMENT: ${escape(field)}: ${escape(message)}`);
  const open = field.lastIndexOf('["');
  const close = field.indexOf('"]', open);
  return new RegExp(`^INVALID_ARGUMENT: ${escape(field.slice(0, open + 2))}.*${escape(field.slice(close))}: ${escape(message)}`, "s");
}

describe("every string field of every request", () => {
  const documented = documentedFields();

  it("has its maximum documented in README.md (Input limits), no more and no fewer fields", () => {
    const key = (f: { rpc: string; path: string }) => `${f.rpc} ${f.path}`;
    expect(documented.map(key).sort()).toEqual(protoStringFields().map(key).sort());
  });

  const bounded = documented.filter((f) => f.max !== null).map((f) => [f.rpc, f.path, f.max!] as const);

  it.each(bounded)("%s %s: one character over %i is INVALID_ARGUMENT saying the maximum", async (rpc, path, max) => {
    const { request, field, keyed } = withValue(baseRequest(rpc, path), path, "a".repeat(max + 1));
    await expectInvalid(send(rpc, request), fieldMessage(field, keyed, `must be at most ${max} characters (got ${max + 1})`));
  });

  it.each(bounded)("%s %s: NUL is INVALID_ARGUMENT", async (rpc, path) => {
    const { request, field, keyed } = withValue(baseRequest(rpc, path), path, "a\u0000b");
    await expectInvalid(send(rpc, request), fieldMessage(field, keyed, "must not contain control characters"));
  });
});

// ---- §5: params_schema in the proto3 JSON form clients send ----

describe("ListJobTypes params_schema", () => {
  it("describes Duration fields as proto3 JSON strings such as \"2s\", not {seconds, nanos}", async () => {
    const { jobTypes } = await call(client(), client().listJobTypes, {});
    const schemaOf = (name: string) => jobTypes.find((t) => t.name === name)!.paramsSchema as Record<string, any>;
    const durations = [
      schemaOf("timer").properties.duration,
      schemaOf("http_check").properties.requestTimeout,
      schemaOf("git_activity").properties.activityWindow,
      schemaOf("k6").properties.duration,
      schemaOf("k6").properties.stages.items.properties.duration,
      schemaOf("k6").properties.thinkTime,
    ];
    for (const duration of durations) {
      expect(duration).toMatchObject({ type: "string" });
      const pattern = new RegExp(duration.pattern);
      for (const ok of ["2s", "0.5s", "90s", "1.000000001s"]) expect(pattern.test(ok)).toBe(true);
      for (const bad of ["2", "5m", "{}", "-1s"]) expect(pattern.test(bad)).toBe(false);
    }
    expect(JSON.stringify(jobTypes.map((t) => t.paramsSchema))).not.toContain('"nanos"');
    expect(schemaOf("timer").properties.duration.description).toContain("from 1ms to 24h");
  });
});

// ---- §5: CancelJob keeps the caller's reason ----

describe("CancelJob of a running job", () => {
  it("ends the job with the caller's reason as its message", async () => {
    const { job } = await schedule(timerJson({ duration: { seconds: 60 } }));
    await waitFor(async () => (await call(client(), client().getJobStatus, { jobId: job!.id })).state === JobState.JOB_STATE_RUNNING);
    const answered: Job = await call(client(), client().cancelJob, { jobId: job!.id, reason: "not needed any more" });
    expect({ state: JobState[answered.state], reason: answered.reason, message: answered.message }).toEqual({
      state: "JOB_STATE_CANCELLED", reason: "CANCELLED_BY_USER", message: "not needed any more",
    });
    const events = await collect(client().watchJob({ jobId: job!.id, afterSequence: 0 }));
    expect(events.at(-1)!.message).toBe("not needed any more");
  });
});

// ---- §5: UpdateDispatchLimits with an update mask ----

describe("UpdateDispatchLimits update_mask", () => {
  const expected = (change: Partial<DispatchLimits>): DispatchLimits => ({
    maxRunning: 8, maxRunningPerType: { timer: 4, k6: 2 }, maxRunningPerKey: 1, maxRunningPerKeyOverrides: { "key-a": 3 }, ...change,
  });

  it("changes only the limits the mask names", async () => {
    await updateLimits({ limits: LIMITS });
    expect(await updateLimits({ limits: { max_running: 20 }, update_mask: "max_running" })).toEqual(expected({ maxRunning: 20 }));
    expect(await call(client(), client().getDispatchLimits, {})).toEqual(expected({ maxRunning: 20 }));

    // camelCase paths (proto3 JSON as Go and Python clients send them), a map entry set, another removed
    expect(await updateLimits({ limits: { max_running_per_type: { k6: 5 } }, update_mask: "maxRunningPerType.k6,maxRunningPerType.timer" }))
      .toEqual(expected({ maxRunning: 20, maxRunningPerType: { k6: 5 } }));
    // a whole map and a scalar
    expect(await updateLimits({ limits: { max_running_per_key: 2, max_running_per_key_overrides: {} }, update_mask: "max_running_per_key,max_running_per_key_overrides" }))
      .toEqual(expected({ maxRunning: 20, maxRunningPerType: { k6: 5 }, maxRunningPerKey: 2, maxRunningPerKeyOverrides: {} }));

    await expectInvalid(updateLimits({ limits: {}, update_mask: "max_running" }), "limits.max_running: must be a whole number from 1 to 1000000");
    await expectInvalid(updateLimits({ limits: { max_running: 3 }, update_mask: "max_running,maximum" }), /^INVALID_ARGUMENT: update_mask\.paths\[1\]: "maximum" is not a limit/);
    // without a mask: every limit is replaced, as before
    await expectInvalid(updateLimits({ limits: { max_running: 20 } }), /^INVALID_ARGUMENT: limits\.max_running_per_key: /);
    expect(await updateLimits({ limits: LIMITS })).toEqual(expected({}));
  });
});
