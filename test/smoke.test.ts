import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { baseEnv, cleanup, ROOT, spawnService, tempDir, type ChildService } from "./support/service.js";

const run = promisify(execFile);
let service: ChildService;
let dataDir: string;

beforeAll(async () => {
  dataDir = tempDir();
  service = await spawnService(baseEnv(dataDir));
});

afterAll(async () => {
  service.client.close();
  service.process.kill("SIGTERM");
  await service.exited;
  cleanup(dataDir);
});

describe("the README's smoke check (reflection only, as grpcurl would)", () => {
  it("schedules a 2 s timer and watches it QUEUED → STARTING → RUNNING → SUCCEEDED", async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, "scripts/smoke.mjs"), `127.0.0.1:${service.grpcPort}`]);
    expect(stdout).toContain("transitions: QUEUED → STARTING → RUNNING → SUCCEEDED");
    expect(stdout).toMatch(/result: \{"timerName":"smoke-test","durationMs":2000,"elapsedMs":\d+,"completed":true\}/);
    expect(stdout).toContain("smoke test passed");
  });

  it("lists the services through reflection, the health service included", async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, "scripts/grpc-call.mjs"), `127.0.0.1:${service.grpcPort}`, "grpc.health.v1.Health/Check"]);
    expect(JSON.parse(stdout)).toEqual({ status: "SERVING" });
  });

  it("answers /healthz, /readyz and /metrics over HTTP", async () => {
    expect(await (await fetch(`http://127.0.0.1:${service.httpPort}/healthz`)).text()).toBe("ok\n");
    const ready = await fetch(`http://127.0.0.1:${service.httpPort}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${service.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/jobscheduler_jobs\{type="timer",state="SUCCEEDED"\} 1/);
    expect(metrics).toMatch(/jobscheduler_grpc_server_handling_seconds_count\{method="ScheduleJob",code="OK"\} 1/);
    expect(metrics).toContain("jobscheduler_job_run_duration_seconds_bucket");
  });
});
