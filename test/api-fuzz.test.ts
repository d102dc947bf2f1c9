// A seeded, bounded fuzz of every RPC of the real service (a child process on a real port):
// valid requests, requests mutated in their proto3 JSON (field by field, with the descriptors'
// types) and requests mutated as bytes, sent by a raw client. Whatever the request, the answer
// is no INTERNAL or UNKNOWN, arrives before its deadline, its trailers are printable ASCII within
// 1 KiB, and the process survives; afterwards health is SERVING and the canary jobs scheduled
// before are unchanged.
//   API_FUZZ_SEED=<n>      repeats a run (the seed is printed)
//   API_FUZZ_REQUESTS=<n>  how many requests (default 10,000)
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Client, credentials, Metadata, status } from "@grpc/grpc-js";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CORPUS, type Pools } from "./support/api-corpus.js";
import { mutateBytes, mutateJson, rngFor } from "./support/fuzz.js";
import { decodeToJson, encodeJson, requestTypeOf } from "./support/proto-json.js";
import { RawClient, RPCS, type RawAnswer } from "./support/raw-client.js";
import { baseEnv, cleanup, spawnService, tempDir, type ChildService } from "./support/service.js";

const FAKE_K6 = fileURLToPath(new URL("./support/fake-k6/k6", import.meta.url));
const SEED = process.env.API_FUZZ_SEED ? Number(process.env.API_FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const REQUESTS = Number(process.env.API_FUZZ_REQUESTS ?? 10_000);
const CONCURRENCY = 8;
/** Every call must be answered within this (a stream included: the ones fuzzed watch finished jobs). */
const DEADLINE_MS = 20_000;
const MAX_RECEIVE = 4 * 1024 * 1024;
const NEVER = ["INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED", "UNAVAILABLE", "CANCELLED"];

/** The answers the harness reads. */
const RESPONSE_TYPES: Record<string, string> = { ScheduleJob: "ScheduleJobResponse", GetJobStatus: "Job", CancelJob: "Job", CreateSchedule: "Schedule", GetSchedule: "Schedule" };

type Kind = "valid" | "json" | "bytes";

/** Field 2 of a List*Response (its next_page_token), read without decoding the page. */
function nextPageToken(bytes: Buffer): string {
  const reader = new BinaryReader(bytes);
  let token = "";
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (field === 2 && wire === WireType.LengthDelimited) token = reader.string();
    else reader.skip(wire);
  }
  return token;
}

/** CPU seconds (user + system) a process has used, from /proc; "?" without it. */
function cpuSeconds(pid: number): string {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / 100).toFixed(1);
  } catch {
    return "?";
  }
}

interface Failure {
  index: number;
  rpc: string;
  kind: Kind;
  problem: string;
  request: string;
}

describe("the API under a seeded fuzz of every RPC", () => {
  let child: ChildService;
  let raw: RawClient;
  const dataDir = tempDir();
  const canaries = new Map<string, JsonValue>();
  let canarySchedule: { id: string; json: JsonValue };
  const pools: Pools = { jobIds: [], terminalJobIds: [], readOnlyJobIds: [], schedules: [], jobPageTokens: [], schedulePageTokens: [], keyIds: [] };

  async function ok(rpc: string, json: JsonObject): Promise<JsonObject> {
    const answer = await raw.call(rpc, encodeJson(requestTypeOf(rpc), json), { deadlineMs: DEADLINE_MS });
    if (answer.code !== status.OK) throw new Error(`${rpc} ${JSON.stringify(json)}: ${status[answer.code]} ${answer.details}`);
    const type = RESPONSE_TYPES[rpc];
    if (!type || !answer.messages.length) return {};
    try {
      return decodeToJson(type, answer.messages[0]) as JsonObject;
    } catch (error) {
      throw new Error(`${rpc} ${JSON.stringify(json)}: the answer is no proto3 JSON: ${(error as Error).message}`);
    }
  }

  /** A job as GetJobStatus shows it, without its queue status (its position moves as jobs arrive). */
  async function jobSnapshot(id: string): Promise<JsonValue> {
    const job = await ok("GetJobStatus", { job_id: id });
    delete job.queue;
    return job;
  }

  async function waitForState(id: string, state: string): Promise<void> {
    for (let i = 0; i < 600; i++) {
      if ((await ok("GetJobStatus", { job_id: id })).state === state) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`job ${id} never reached ${state}`);
  }

  beforeAll(async () => {
    child = await spawnService(baseEnv(dataDir, { K6_BINARY: FAKE_K6, MAX_RUNNING_JOBS: "1" }));
    raw = new RawClient(`127.0.0.1:${child.grpcPort}`);
    // Canaries: two finished jobs, a cancelled one, two waiting for tomorrow; and a schedule.
    const job = async (request: JsonObject) => ((await ok("ScheduleJob", request)).job as JsonObject).id as string;
    const done = [await job({ name: "canary-done-1", timer: { duration: "0.001s", timer_name: "c1" } }), await job({ name: "canary-done-2", labels: { team: "alpha" }, timer: { duration: "0.001s", timer_name: "c2" } })];
    for (const id of done) await waitForState(id, "JOB_STATE_SUCCEEDED");
    await ok("PauseDispatching", { reason: "api fuzz" });
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const waiting = [
      await job({ name: "canary-waiting-1", run_at: tomorrow, priority: 5, labels: { team: "alpha" }, timer: { duration: "1s", timer_name: "w1" } }),
      await job({ name: "canary-waiting-2", run_at: tomorrow, idempotency_key: "canary-2", http_check: { base_url: "http://127.0.0.1:9" } }),
    ];
    const cancelled = await job({ name: "canary-cancelled", run_at: tomorrow, timer: { duration: "1s", timer_name: "x" } });
    await ok("CancelJob", { job_id: cancelled, reason: "canary" });
    for (const id of [...done, ...waiting, cancelled]) canaries.set(id, await jobSnapshot(id));
    pools.readOnlyJobIds.push(...done, ...waiting, cancelled);
    pools.terminalJobIds.push(...done, cancelled);
    const schedule = await ok("CreateSchedule", { spec: { name: "canary-schedule", cron: "0 0 1 1 *", job_template: { timer: { duration: "1s", timer_name: "s" } } } });
    canarySchedule = { id: schedule.id as string, json: schedule };
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

  /** What a successful answer teaches: new ids and page tokens for later valid requests. */
  function learn(rpc: string, answer: RawAnswer): void {
    if (answer.code !== status.OK || !answer.messages.length) return;
    const read = (type: string) => {
      try {
        return decodeToJson(type, answer.messages[0]) as JsonObject;
      } catch (error) {
        throw new Error(`${rpc}: the answer is no proto3 JSON (${(error as Error).message}): ${Buffer.from(answer.messages[0]).toString("hex")}`);
      }
    };
    if (rpc === "ScheduleJob" || rpc === "RetryJob") {
      const job = rpc === "ScheduleJob" ? (read("ScheduleJobResponse").job as JsonObject) : read("Job");
      if (pools.jobIds.length < 2000) pools.jobIds.push(job.id as string);
    } else if (rpc === "CancelJob") {
      const job = read("Job");
      if (job.state === "JOB_STATE_CANCELLED") pools.terminalJobIds.push(job.id as string);
    } else if (rpc === "CreateSchedule") {
      const schedule = read("Schedule");
      pools.schedules.push({ id: schedule.id as string, name: (schedule.spec as JsonObject).name as string });
    } else if (rpc === "CreateApiKey") {
      pools.keyIds.push((read("CreateApiKeyResponse").key as JsonObject).id as string);
    } else if (rpc === "ListJobs" || rpc === "ListSchedules") {
      const token = nextPageToken(answer.messages[0]);
      if (token) (rpc === "ListJobs" ? pools.jobPageTokens : pools.schedulePageTokens).push(token);
    }
  }

  /** Undoes what would let fuzzed jobs run: dispatching resumed, limits raised. */
  async function keepJobsHeld(rpc: string, answer: RawAnswer): Promise<void> {
    if (answer.code !== status.OK) return;
    if (rpc === "ResumeDispatching") await ok("PauseDispatching", { reason: "api fuzz" });
    if (rpc === "UpdateDispatchLimits") await ok("UpdateDispatchLimits", { limits: { max_running: 1, max_running_per_key: 1 } });
  }

  function problemWith(answer: RawAnswer, sent: Uint8Array): string | null {
    const code = status[answer.code];
    if (NEVER.includes(code)) return `${code}: ${answer.details}`;
    if (code === "RESOURCE_EXHAUSTED" && sent.length <= MAX_RECEIVE) return `${code} for ${sent.length} bytes: ${answer.details}`;
    if (answer.details.length > 1100) return `a status message of ${answer.details.length} characters`;
    for (const [name, value] of Object.entries(answer.trailers.getMap())) {
      if (typeof value === "string" && !/^[\x20-\x7e]{0,1024}$/.test(value)) return `trailer ${name} is not printable ASCII within 1 KiB (${value.length})`;
    }
    return null;
  }

  it(`answers ${REQUESTS} valid and mutated requests without INTERNAL, UNKNOWN, a hang or a crash`, { timeout: 120_000 }, async () => {
    console.log(`api fuzz: seed ${SEED} (API_FUZZ_SEED=${SEED} repeats it), ${REQUESTS} requests over ${RPCS.length} RPCs`);
    const failures: Failure[] = [];
    const codes = new Map<string, Map<string, number>>();
    const started = Date.now();
    let next = 0;

    async function one(index: number): Promise<void> {
      const rng = rngFor(SEED, index);
      const rpc = RPCS[index % RPCS.length].name;
      const desc = requestTypeOf(rpc);
      const valid = CORPUS[rpc](rng, pools);
      const validBytes = encodeJson(desc, valid);
      let kind: Kind = rng.chance(0.25) ? "valid" : rng.chance(0.6) ? "json" : "bytes";
      let bytes = validBytes;
      if (kind === "json") {
        try {
          bytes = encodeJson(desc, mutateJson(rng, desc, valid));
        } catch {
          kind = "bytes"; // a mutation proto3 JSON cannot carry: damage the bytes instead
        }
      }
      if (kind === "bytes") bytes = mutateBytes(rng, validBytes);
      const answer = await raw.call(rpc, bytes, { deadlineMs: DEADLINE_MS });
      const byCode = codes.get(rpc) ?? new Map<string, number>();
      byCode.set(status[answer.code], (byCode.get(status[answer.code]) ?? 0) + 1);
      codes.set(rpc, byCode);
      const problem = problemWith(answer, bytes);
      if (problem) failures.push({ index, rpc, kind, problem, request: Buffer.from(bytes.subarray(0, 300)).toString("hex") });
      learn(rpc, answer);
      await keepJobsHeld(rpc, answer);
    }

    // grpc-js takes a stack trace at each call (and vitest maps it to the sources): a fifth of the
    // client's CPU, for traces nobody reads here.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        while (next < REQUESTS) await one(next++);
      }));
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`api fuzz: ${REQUESTS} requests in ${seconds} s (CPU: this process ${cpuSeconds(process.pid)} s, the service ${cpuSeconds(child.process.pid!)} s); answers by RPC: ${JSON.stringify(Object.fromEntries([...codes].map(([rpc, m]) => [rpc, Object.fromEntries(m)])))}`);
    if (failures.length) {
      // One example per RPC and kind of problem, with how often it came.
      const groups = new Map<string, { count: number; example: Failure }>();
      for (const f of failures) {
        const key = `${f.rpc} ${f.problem.replace(/\(request id [^)]*\)/, "").slice(0, 80)}`;
        const group = groups.get(key) ?? { count: 0, example: f };
        group.count++;
        groups.set(key, group);
      }
      console.log(`api fuzz (seed ${SEED}): ${failures.length} failures\n${[...groups.values()].map((g) => `${g.count}x ${JSON.stringify(g.example)}`).join("\n")}`);
    }
    expect(failures.slice(0, 10)).toEqual([]);
    expect(child.process.exitCode).toBeNull();
    // The corpus is worth something only if its requests get through: each RPC answered OK at least once.
    for (const { name } of RPCS) expect(codes.get(name)?.get("OK") ?? 0, name).toBeGreaterThan(0);
  });

  it("is SERVING afterwards", async () => {
    const health = new Client(`127.0.0.1:${child.grpcPort}`, credentials.createInsecure());
    const serving = await new Promise<Buffer>((resolve, reject) =>
      health.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), new Metadata(), { deadline: Date.now() + 5000 }, (e, r) => (e ? reject(e) : resolve(r!))),
    );
    health.close();
    expect([...serving]).toEqual([0x08, 0x01]); // status: SERVING
    expect(child.process.exitCode).toBeNull();
  });

  it("left the canary jobs and schedule as they were", async () => {
    for (const [id, before] of canaries) expect(await jobSnapshot(id), id).toEqual(before);
    expect(await ok("GetSchedule", { schedule_id: canarySchedule.id })).toEqual(canarySchedule.json);
  });
});
