// What authentication costs: GetJobStatus and ScheduleJob against the service with it on
// (an API key per call: cached lookup, one SHA-256, the authorization table, the audit log for
// ScheduleJob) and off (AUTH_ENABLED=false: an anonymous admin, still audited), in one run.
// Two services on stores filled alike, measured in back-to-back pairs of windows in both
// orders; the cost is 1 - median(on / off). Target: at most 5% of throughput.
//
// Knobs: those of bench/grpc-api.ts (BENCH_SECONDS, BENCH_WARMUP_SECONDS, BENCH_CONCURRENCY,
// BENCH_JOBS, BENCH_PAIRS, BENCH_CLIENT, BENCH_QUIET_WAIT, BENCH_LOG_LEVEL).
import { randomUUID } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import pino from "pino";
import { CredentialAuthenticator } from "../src/auth/authenticator.js";
import { CallGuard } from "../src/auth/guard.js";
import { KeyDirectory } from "../src/auth/key-directory.js";
import { loadKeysFile } from "../src/auth/keys-file.js";
import { systemClock } from "../src/dispatch/clock.js";
import type { DispatchingStatus } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import type { AuthStore } from "../src/store/auth-store.js";
import { TEST_ADMIN_KEY, TEST_KEYS_FILE } from "../test/support/auth.js";
import { cleanup, tempDir } from "../test/support/service.js";
import {
  getJobStatusTarget, measure, median, prepopulate, rpc, scheduleJobTarget, startService, stopService,
} from "./grpc-api.js";
import type { LoadOptions, LoadResult } from "./load.js";
import { envNumber, pinLoadGenerator, planPinning } from "./procs.js";
import { emptyReport, type BenchModule, type BenchReport } from "./report.js";

export const name = "auth";
export const description = "GetJobStatus and ScheduleJob with authentication on vs off (AUTH_ENABLED), same run";

const MAX_COST = 0.05;

/**
 * The guard's own CPU per call, in this process (CPU time, so other processes on the machine do
 * not move it): authenticate a key from metadata, authorize GetJobStatus for it, settle the call.
 */
export function guardCpuPerCall(calls: number): number {
  const unused = new Proxy({}, { get: () => () => Promise.reject(new Error("the guard read the store")) }) as AuthStore;
  const keys = new KeyDirectory(unused, loadKeysFile(TEST_KEYS_FILE, Date.now()), pino({ level: "silent" }));
  const guard = new CallGuard({
    authenticator: new CredentialAuthenticator(keys, systemClock),
    methods: ["GetJobStatus"],
    lookups: { getJob: async () => null, getSchedule: async () => null, getOutboxItem: async () => null, keyTeam: async () => undefined },
  });
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${TEST_ADMIN_KEY}`);
  const call = { metadata, getAuthContext: () => null, getPeer: () => "127.0.0.1:1" };
  const request = { jobId: randomUUID() };
  const once = () => {
    const principal = guard.authenticate(call);
    if (principal instanceof Promise) throw new Error("a declared key must answer from memory");
    guard.authorize("GetJobStatus", request, principal);
    guard.settle("GetJobStatus", { principal, requestId: "r" }, call, request, {}, null, "OK");
  };
  for (let i = 0; i < 20_000; i++) once();
  const before = process.cpuUsage();
  for (let i = 0; i < calls; i++) once();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

export async function run(): Promise<BenchReport> {
  const report = emptyReport();
  const clientKind = (process.env.BENCH_CLIENT ?? "http2") as "http2" | "grpc-js";
  const load: LoadOptions = {
    client: clientKind,
    concurrency: envNumber("BENCH_CONCURRENCY", 32),
    warmupMs: envNumber("BENCH_WARMUP_SECONDS", 2) * 1000,
    windowMs: envNumber("BENCH_SECONDS", 8) * 1000,
  };
  const jobCount = envNumber("BENCH_JOBS", 1000);
  const pairs = envNumber("BENCH_PAIRS", 3);
  const logLevel = process.env.BENCH_LOG_LEVEL ?? "warn";
  const runTag = `${process.pid}-${Date.now().toString(36)}`;
  const pinning = planPinning();
  const unpin = pinLoadGenerator(pinning);
  const dirs = { on: tempDir("jobscheduler-bench-auth-on-"), off: tempDir("jobscheduler-bench-auth-off-") };
  const services: Partial<Record<"on" | "off", Awaited<ReturnType<typeof startService>>>> = {};
  try {
    for (const mode of ["on", "off"] as const) {
      const service = await startService(dirs[mode], logLevel, mode === "off" ? { AUTH_ENABLED: "false" } : {});
      services[mode] = service;
      const paused = await rpc<DispatchingStatus>((cb) => service.client.pauseDispatching({ reason: "benchmark" }, cb));
      if (!paused.paused) throw new Error("PauseDispatching did not pause dispatching");
    }
    const ids = {
      on: await prepopulate(services.on!.client, jobCount, `${runTag}-on`),
      off: await prepopulate(services.off!.client, jobCount, `${runTag}-off`),
    };
    console.log(`  ${jobCount} timer jobs stored in each service, dispatching paused; ${load.concurrency} ${clientKind} clients; ${pinning.description}`);

    const results: Record<string, { on: LoadResult[]; off: LoadResult[] }> = { GetJobStatus: { on: [], off: [] }, ScheduleJob: { on: [], off: [] } };
    for (let pair = 1; pair <= pairs; pair++) {
      const order = pair % 2 === 1 ? (["on", "off"] as const) : (["off", "on"] as const);
      for (const method of ["GetJobStatus", "ScheduleJob"] as const) {
        for (const mode of order) {
          const service = services[mode]!;
          const target = method === "GetJobStatus"
            ? getJobStatusTarget(service.address, ids[mode])
            : scheduleJobTarget(service.address, `${runTag}-${mode}-${pair}-${randomUUID()}`);
          const result = await measure(`${method} auth ${mode} ${pair}/${pairs}`, target as never, { ...load, serverPid: service.server.pid });
          if (result.errors + result.errorsOutsideWindow > 0) report.errors.push(`${method} auth ${mode}: ${result.errors + result.errorsOutsideWindow} failed calls: ${result.errorSamples.join("; ")}`);
          results[method][mode].push(result);
        }
      }
    }

    for (const [method, { on, off }] of Object.entries(results)) {
      const ratios = on.map((r, i) => r.rps / off[i].rps);
      const cost = 1 - median(ratios);
      const usOn = median(on.map((r) => r.serverCpuUsPerCall ?? NaN));
      const usOff = median(off.map((r) => r.serverCpuUsPerCall ?? NaN));
      report.rows.push(
        { label: `${method}, auth off (median of ${off.length})`, figures: { "req/s": median(off.map((r) => r.rps)), "p50 ms": median(off.map((r) => r.p50Ms)), "p99 ms": median(off.map((r) => r.p99Ms)), "server us/call": usOff, "other CPU %": median(off.map((r) => r.otherCpuPct ?? 0)) } },
        { label: `${method}, auth on (median of ${on.length})`, figures: { "req/s": median(on.map((r) => r.rps)), "p50 ms": median(on.map((r) => r.p50Ms)), "p99 ms": median(on.map((r) => r.p99Ms)), "server us/call": usOn, "other CPU %": median(on.map((r) => r.otherCpuPct ?? 0)) } },
      );
      report.checks.push({
        label: `${method}: cost of authentication in throughput (1 - median on/off of ${ratios.length} back-to-back pairs: ${ratios.map((r) => `${(r * 100).toFixed(1)}%`).join(", ")})`,
        value: cost,
        target: `<= ${MAX_COST * 100}%`,
        met: cost <= MAX_COST,
      });
      report.notes.push(`${method} server CPU per call: ${usOn.toFixed(1)} us with auth, ${usOff.toFixed(1)} us without (+${(usOn - usOff).toFixed(1)} us)`);
    }
    const guardUs = guardCpuPerCall(200_000);
    const getOffUs = median(results.GetJobStatus.off.map((r) => r.serverCpuUsPerCall ?? NaN));
    report.notes.push(`the guard alone (authenticate + authorize + settle, in-process CPU time): ${guardUs.toFixed(2)} us per call = ${((guardUs / getOffUs) * 100).toFixed(1)}% of GetJobStatus's server CPU per call without auth (${getOffUs.toFixed(1)} us)`);
    report.notes.push(
      "auth on: API_KEYS_FILE with the test admin key, sent as authorization: Bearer on every call; auth off: AUTH_ENABLED=false, the same header sent and ignored; both audit ScheduleJob",
      `service: node dist/main.js, LOG_LEVEL=${logLevel}, SQLite, dispatching paused, ${jobCount} jobs stored in each before the windows; node ${process.version}`,
    );
  } finally {
    for (const mode of ["on", "off"] as const) {
      const service = services[mode];
      if (service) {
        service.client.close();
        await stopService(service.server, report, `auth ${mode}`);
      }
      cleanup(dirs[mode]);
    }
    unpin();
  }
  return report;
}

const module: BenchModule = { name, description, run };
export default module;
