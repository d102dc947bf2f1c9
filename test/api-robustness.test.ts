// Requests that used to crash the service or get INTERNAL: each must get the right status, with a
// message naming the field, and leave the process serving. Sent as bytes (test/support/raw-client)
// encoded from proto3 JSON as grpcurl does (test/support/proto-json), or built by hand where no
// encoder would produce them.
import { fileURLToPath } from "node:url";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { Server, ServerCredentials, status, type ServiceDefinition } from "@grpc/grpc-js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Metrics } from "../src/observability/metrics.js";
import { RpcInstrumentation } from "../src/api/rpc.js";
import { decodeMetadataValue } from "../src/api/errors.js";
import { decodeToJson, encodeJson } from "./support/proto-json.js";
import { RawClient, type RawAnswer } from "./support/raw-client.js";
import { baseEnv, cleanup, spawnService, startService, tempDir, type ChildService, type TestService } from "./support/service.js";

const FAKE_K6 = fileURLToPath(new URL("./support/fake-k6/k6", import.meta.url));
const TIMER = { duration: "1s", timer_name: "x" };

function expectStatus(answer: RawAnswer, code: status, details: string | RegExp): void {
  expect({ code: status[answer.code], details: answer.details }).toMatchObject({ code: status[code] });
  expect(answer.details).toMatch(details);
}

/** The error-field trailer as the service meant it (percent-decoded). */
function errorField(answer: RawAnswer): string | undefined {
  const raw = answer.trailers.get("error-field")[0];
  return typeof raw === "string" ? decodeMetadataValue(raw) : undefined;
}

describe("map keys that reach an error's field name (a separate process, which must survive them)", () => {
  let child: ChildService;
  let raw: RawClient;
  const dataDir = tempDir();

  beforeAll(async () => {
    child = await spawnService(baseEnv(dataDir, { K6_BINARY: FAKE_K6 }));
    raw = new RawClient(`127.0.0.1:${child.grpcPort}`);
  });

  afterAll(async () => {
    raw?.close();
    child?.client.close();
    if (child && child.process.exitCode === null) {
      child.process.kill("SIGTERM");
      await child.exited;
    }
    cleanup(dataDir);
  });

  const cases: { name: string; rpc: string; json: object; field: string }[] = [
    { name: "a non-ASCII label key", rpc: "ScheduleJob", json: { labels: { ключ: "v" }, timer: TIMER }, field: 'labels["ключ"]' },
    { name: "a DEL in a label key", rpc: "ScheduleJob", json: { labels: { "a\x7fb": "v" }, timer: TIMER }, field: 'labels["a\x7fb"]' },
    {
      name: "a label key of a schedule's job template",
      rpc: "CreateSchedule",
      json: { spec: { name: "s", cron: "@hourly", job_template: { labels: { ключ: "v" }, timer: TIMER } } },
      field: 'spec.job_template.labels["ключ"]',
    },
    { name: "a k6.env key", rpc: "ScheduleJob", json: { k6: { scenario: "http-get-smoke", target_url: "http://127.0.0.1:9", env: { "é": "1" } } }, field: 'k6.env["é"]' },
    {
      name: "a k6.thresholds key",
      rpc: "ScheduleJob",
      json: { k6: { scenario: "http-get-smoke", target_url: "http://127.0.0.1:9", thresholds: { "é": { expressions: ["rate<0.1"] } } } },
      field: 'k6.thresholds["é"]',
    },
    {
      name: "an UpdateDispatchLimits map key",
      rpc: "UpdateDispatchLimits",
      json: { limits: { max_running: 4, max_running_per_key: 1, max_running_per_type: { "é": 0 } } },
      field: 'limits.max_running_per_type["é"]',
    },
  ];

  for (const c of cases) {
    it(`answers ${c.name} with INVALID_ARGUMENT, the field percent-encoded in error-field`, async () => {
      const answer = await raw.call(c.rpc, encodeJson(`${c.rpc}Request`, c.json as never), { deadlineMs: 5000 });
      expectStatus(answer, status.INVALID_ARGUMENT, c.field);
      const trailer = answer.trailers.get("error-field")[0] as string;
      expect(trailer).toMatch(/^[\x20-\x7e]*$/);
      expect(errorField(answer)).toBe(c.field);
      expect(child.process.exitCode).toBeNull();
    });
  }

  it("is still serving after all of them", async () => {
    const answer = await raw.call("GetDispatchingStatus", new Uint8Array(), { deadlineMs: 5000 });
    expect(status[answer.code]).toBe("OK");
    expect(child.process.exitCode).toBeNull();
  });
});

describe("the RPC layer's last-resort catch", () => {
  /** A rejection value that throws on anything done with it: `instanceof`, reading a property, logging it. */
  const poison = new Proxy({}, {
    get() { throw new Error("poisoned get"); },
    getPrototypeOf() { throw new Error("poisoned getPrototypeOf"); },
    has() { throw new Error("poisoned has"); },
    ownKeys() { throw new Error("poisoned ownKeys"); },
    getOwnPropertyDescriptor() { throw new Error("poisoned descriptor"); },
  });

  let server: Server;
  let raw: RawClient;
  const unhandled: unknown[] = [];
  const record = (reason: unknown) => unhandled.push(reason);

  beforeAll(async () => {
    process.on("unhandledRejection", record);
    process.on("uncaughtException", record);
    // Only the latency timer of Metrics is used by the RPC layer.
    const metrics = { rpcStarted: () => () => undefined } as unknown as Metrics;
    const rpc = new RpcInstrumentation(pino({ level: "silent" }), metrics);
    const identity = (b: Buffer) => b;
    const method = (name: string, responseStream: boolean) => ({
      path: `/jobscheduler.v1.JobScheduler/${name}`, requestStream: false, responseStream,
      requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
    });
    const definition: ServiceDefinition = {
      GetDispatchingStatus: method("GetDispatchingStatus", false),
      GetDispatchLimits: method("GetDispatchLimits", false),
      WatchJob: method("WatchJob", true),
    };
    server = new Server();
    server.addService(definition, {
      GetDispatchingStatus: rpc.unary("Poisoned", async () => Promise.reject(poison)),
      GetDispatchLimits: rpc.unary("Throws", (() => { throw poison; }) as never),
      WatchJob: rpc.serverStream("PoisonedStream", async () => Promise.reject(poison)),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    raw = new RawClient(`127.0.0.1:${port}`);
  });

  afterAll(async () => {
    raw?.close();
    server?.forceShutdown();
    process.off("unhandledRejection", record);
    process.off("uncaughtException", record);
  });

  for (const rpcName of ["GetDispatchingStatus", "GetDispatchLimits", "WatchJob"]) {
    it(`answers ${rpcName} whose handler throws inside its own error path, and nothing escapes`, async () => {
      const answer = await raw.call(rpcName, new Uint8Array(), { deadlineMs: 5000 });
      expectStatus(answer, status.INTERNAL, /internal error/);
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    });
  }
});

describe("valid requests that used to get INTERNAL", () => {
  let service: TestService;
  let raw: RawClient;
  let finishedJobId: string;

  beforeAll(async () => {
    service = await startService({ K6_BINARY: FAKE_K6 });
    raw = new RawClient(`127.0.0.1:${service.app.grpcPort}`);
    const answer = await raw.call("ScheduleJob", encodeJson("ScheduleJobRequest", { timer: { duration: "0.001s", timer_name: "x" } }));
    expect(status[answer.code]).toBe("OK");
    finishedJobId = (decodeToJson("ScheduleJobResponse", answer.messages[0]) as { job: { id: string } }).job.id;
  });

  afterAll(async () => {
    raw?.close();
    await service?.stop();
    if (service) cleanup(service.dataDir);
  });

  it("WatchJob after_sequence of 2^53 is OUT_OF_RANGE naming after_sequence", async () => {
    const answer = await raw.call("WatchJob", encodeJson("WatchJobRequest", { job_id: finishedJobId, after_sequence: "9007199254740992" }), { deadlineMs: 5000 });
    expectStatus(answer, status.OUT_OF_RANGE, /^after_sequence: /);
  });

  it("WatchJob after_sequence of 2^64-1 is OUT_OF_RANGE too", async () => {
    const answer = await raw.call("WatchJob", encodeJson("WatchJobRequest", { job_id: finishedJobId, after_sequence: "18446744073709551615" }), { deadlineMs: 5000 });
    expectStatus(answer, status.OUT_OF_RANGE, /^after_sequence: /);
  });

  /** A message field holding {seconds, nanos} as raw bytes (Duration and Timestamp alike). */
  function secondsField(field: number, seconds: bigint, nanos = 0): Uint8Array {
    const writer = new BinaryWriter().tag(field, WireType.LengthDelimited).fork().tag(1, WireType.Varint).int64(seconds);
    if (nanos) writer.tag(2, WireType.Varint).int32(nanos);
    return writer.join().finish();
  }

  const concat = (...parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p)));

  it("a Duration of 2^62 seconds in binary is INVALID_ARGUMENT naming the field", async () => {
    const body = encodeJson("ScheduleJobRequest", { timer: TIMER });
    const answer = await raw.call("ScheduleJob", concat(body, secondsField(5, 2n ** 62n)));
    expectStatus(answer, status.INVALID_ARGUMENT, /^timeout: /);
  });

  it("a Duration of -2^63 seconds in binary is INVALID_ARGUMENT naming the field", async () => {
    const body = encodeJson("ScheduleJobRequest", { timer: TIMER });
    const answer = await raw.call("ScheduleJob", concat(body, secondsField(10, -(2n ** 63n))));
    expectStatus(answer, status.INVALID_ARGUMENT, /^queue_timeout: /);
  });

  it("a Timestamp of 2^60 seconds in binary is INVALID_ARGUMENT naming the field", async () => {
    const body = encodeJson("ScheduleJobRequest", { timer: TIMER });
    const answer = await raw.call("ScheduleJob", concat(body, secondsField(9, 2n ** 60n)));
    expectStatus(answer, status.INVALID_ARGUMENT, /^run_at: /);
  });

  it("a Timestamp that is no instant (10^15 s) inside a job spec is INVALID_ARGUMENT naming the field", async () => {
    // git_activity.since: field 22 of ScheduleJobRequest, since is field 2 of GitActivityJob.
    const spec = new BinaryWriter().tag(22, WireType.LengthDelimited).fork()
      .tag(1, WireType.LengthDelimited).string("https://github.com/a/b")
      .raw(secondsField(2, 10n ** 15n)).join().finish();
    const answer = await raw.call("ScheduleJob", spec);
    expectStatus(answer, status.INVALID_ARGUMENT, /^git_activity\.since: /);
  });

  it("a ListJobs created_after of 2^55 seconds is INVALID_ARGUMENT naming created_after", async () => {
    const answer = await raw.call("ListJobs", secondsField(4, 2n ** 55n));
    expectStatus(answer, status.INVALID_ARGUMENT, /^created_after: /);
  });

  for (const value of [99, -1]) {
    it(`criteria_type ${value} is INVALID_ARGUMENT naming criteria_type`, async () => {
      const json = { criteria_type: value, team: { slug: "a", hackathon_id: "h" }, timer: TIMER };
      const answer = await raw.call("ScheduleJob", encodeJson("ScheduleJobRequest", json));
      expectStatus(answer, status.INVALID_ARGUMENT, /^criteria_type: /);
    });

    it(`a template's criteria_type ${value} is INVALID_ARGUMENT naming it`, async () => {
      const json = { spec: { name: `enum-${value}`, cron: "@hourly", job_template: { criteria_type: value, team: { slug: "a", hackathon_id: "h" }, timer: TIMER } } };
      const answer = await raw.call("CreateSchedule", encodeJson("CreateScheduleRequest", json));
      expectStatus(answer, status.INVALID_ARGUMENT, /^spec\.job_template\.criteria_type: /);
    });

    it(`ListJobs states [${value}] and ListOutbox states [${value}] are INVALID_ARGUMENT`, async () => {
      expectStatus(await raw.call("ListJobs", encodeJson("ListJobsRequest", { states: [value] })), status.INVALID_ARGUMENT, /^states\[0\]: /);
      expectStatus(await raw.call("ListOutbox", encodeJson("ListOutboxRequest", { states: [value] })), status.INVALID_ARGUMENT, /^states\[0\]: /);
      expectStatus(await raw.call("ListOutbox", encodeJson("ListOutboxRequest", { kinds: [value] })), status.INVALID_ARGUMENT, /^kinds\[0\]: /);
    });

    it(`overlap_policy and catchup_policy ${value} are INVALID_ARGUMENT`, async () => {
      for (const field of ["overlap_policy", "catchup_policy"]) {
        const json = { spec: { name: `policy-${value}`, cron: "@hourly", [field]: value, job_template: { timer: TIMER } } };
        expectStatus(await raw.call("CreateSchedule", encodeJson("CreateScheduleRequest", json)), status.INVALID_ARGUMENT, new RegExp(`^spec\\.${field}: `));
      }
    });
  }

  it("a label selector with 100,000 values in one set is INVALID_ARGUMENT naming label_selector", async () => {
    const selector = `a in (${Array.from({ length: 100_000 }, (_, i) => `v${i}`).join(",")})`;
    const answer = await raw.call("ListJobs", encodeJson("ListJobsRequest", { label_selector: selector }));
    expectStatus(answer, status.INVALID_ARGUMENT, /^label_selector: /);
  });

  it("a label selector of 262,144 terms is INVALID_ARGUMENT naming label_selector", async () => {
    const selector = Array.from({ length: 262_144 }, () => "a").join(",");
    const answer = await raw.call("ListJobs", encodeJson("ListJobsRequest", { label_selector: selector }));
    expectStatus(answer, status.INVALID_ARGUMENT, /^label_selector: /);
  });

  it("the largest selector allowed still runs (64 requirements, one listing 256 values)", async () => {
    const set = `(${Array.from({ length: 256 }, (_, i) => `v${i}`).join(",")})`;
    const terms = Array.from({ length: 64 }, (_, i) => (i === 0 ? `k0 notin ${set}` : `k${i}!=v`));
    const answer = await raw.call("ListJobs", encodeJson("ListJobsRequest", { label_selector: terms.join(",") }));
    expect({ code: status[answer.code], details: answer.details }).toMatchObject({ code: "OK" });
  });

  const malformed: [string, number[]][] = [
    ["a truncated length-delimited field", [0x0a, 0x05, 0x61]],
    ["a varint that never ends", [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    ["wire type 7", [0x0f, 0x00]],
    ["a tag of field 0", [0x00, 0x01]],
  ];
  for (const [name, bytes] of malformed) {
    it(`bytes that are not a message (${name}) are INVALID_ARGUMENT`, async () => {
      for (const rpc of ["ScheduleJob", "GetJobStatus", "WatchJob"]) {
        const answer = await raw.call(rpc, Uint8Array.from(bytes), { deadlineMs: 5000 });
        expectStatus(answer, status.INVALID_ARGUMENT, new RegExp(`^request: is not a valid protobuf message for ${rpc} `));
      }
    });
  }
});

describe("error messages and trailers echo bounded values", () => {
  let service: TestService;
  let raw: RawClient;

  beforeAll(async () => {
    service = await startService();
    raw = new RawClient(`127.0.0.1:${service.app.grpcPort}`);
  });

  afterAll(async () => {
    raw?.close();
    await service?.stop();
    if (service) cleanup(service.dataDir);
  });

  it("a 1 MiB label key gets a short message and an error-field trailer under 1 KiB", async () => {
    const key = "k".repeat(1 << 20);
    const answer = await raw.call("ScheduleJob", encodeJson("ScheduleJobRequest", { labels: { [key]: "v" }, timer: TIMER }));
    expectStatus(answer, status.INVALID_ARGUMENT, /^labels\["k{100}…\(1048576 bytes\)"\]: /);
    expect(answer.details.length).toBeLessThan(600);
    const trailer = answer.trailers.get("error-field")[0] as string;
    expect(Buffer.byteLength(trailer)).toBeLessThanOrEqual(1024);
    expect(errorField(answer)).toBe(`labels["${"k".repeat(100)}…(1048576 bytes)"]`);
  });

  it("a 1 MiB label selector term is echoed at most 100 characters long", async () => {
    const selector = `a in (${"x".repeat(4000)}`;
    const answer = await raw.call("ListJobs", encodeJson("ListJobsRequest", { label_selector: selector }));
    expectStatus(answer, status.INVALID_ARGUMENT, /^label_selector: /);
    expect(answer.details.length).toBeLessThan(400);
  });

  it("every trailer is printable ASCII within 1 KiB, also for a Cyrillic field of 1,000 characters", async () => {
    const key = "ж".repeat(1000);
    const answer = await raw.call("ScheduleJob", encodeJson("ScheduleJobRequest", { labels: { [key]: "v" }, timer: TIMER }));
    expectStatus(answer, status.INVALID_ARGUMENT, /^labels\["ж{100}…\(2000 bytes\)"\]/);
    for (const [name, value] of Object.entries(answer.trailers.getMap())) {
      expect(typeof value === "string" ? value : "", name).toMatch(/^[\x20-\x7e]{0,1024}$/);
    }
  });
});

describe("for_each_team without the Hub", () => {
  let service: TestService;
  let raw: RawClient;
  const template = { git_activity: { repo_url: "https://github.com/each/team" } };

  beforeAll(async () => {
    // HUB_HACKATHON_ID without HUB_API_URL: the default team rounds are declared, yet cannot list teams.
    service = await startService({ HUB_HACKATHON_ID: "hack-1" });
    raw = new RawClient(`127.0.0.1:${service.app.grpcPort}`);
  });

  afterAll(async () => {
    raw?.close();
    await service?.stop();
    if (service) cleanup(service.dataDir);
  });

  it("CreateSchedule is FAILED_PRECONDITION naming HUB_API_URL", async () => {
    const json = { spec: { name: "round", cron: "@hourly", for_each_team: { hackathon_id: "hack-1" }, job_template: template } };
    const answer = await raw.call("CreateSchedule", encodeJson("CreateScheduleRequest", json));
    expectStatus(answer, status.FAILED_PRECONDITION, /HUB_API_URL/);
  });

  it("UpdateSchedule that adds for_each_team is FAILED_PRECONDITION naming HUB_API_URL", async () => {
    const created = await raw.call("CreateSchedule", encodeJson("CreateScheduleRequest", { spec: { name: "plain", cron: "@hourly", job_template: template } }));
    expect(status[created.code]).toBe("OK");
    const id = (decodeToJson("Schedule", created.messages[0]) as { id: string }).id;
    const json = { schedule_id: id, spec: { name: "plain", cron: "@hourly", for_each_team: { hackathon_id: "hack-1" }, job_template: template } };
    const answer = await raw.call("UpdateSchedule", encodeJson("UpdateScheduleRequest", json));
    expectStatus(answer, status.FAILED_PRECONDITION, /HUB_API_URL/);
  });

  it("TriggerSchedule of a declared team round is FAILED_PRECONDITION naming HUB_API_URL", async () => {
    const list = await raw.call("ListSchedules", new Uint8Array());
    const schedules = (decodeToJson("ListSchedulesResponse", list.messages[0]) as { schedules: { id: string; spec: { forEachTeam?: object } }[] }).schedules;
    const round = schedules.find((s) => s.spec.forEachTeam);
    expect(round).toBeDefined();
    const answer = await raw.call("TriggerSchedule", encodeJson("TriggerScheduleRequest", { schedule_id: round!.id }));
    expectStatus(answer, status.FAILED_PRECONDITION, /HUB_API_URL/);
  });
});
