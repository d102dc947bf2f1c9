import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closedPort, runCli } from "./support/cli.js";
import { baseEnv, cleanup, ROOT, spawnService, tempDir, type ChildService } from "./support/service.js";

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
  it("`npm run smoke -- host:port` schedules a 2 s timer and watches it QUEUED → STARTING → RUNNING → SUCCEEDED", async () => {
    const { status, stdout, stderr } = await runCli("npm", ["run", "smoke", "--", `127.0.0.1:${service.grpcPort}`], { cwd: ROOT });
    expect({ status, stderr }).toEqual({ status: 0, stderr: "" });
    expect(stdout).toContain("transitions: QUEUED → STARTING → RUNNING → SUCCEEDED");
    expect(stdout).toMatch(/result: \{"timerName":"smoke-test","durationMs":2000,"elapsedMs":\d+,"completed":true\}/);
    expect(stdout).toContain("smoke test passed");
  });

  it("says in one line that nothing answers, instead of a stack trace (exit 1)", async () => {
    const port = await closedPort();
    const run = await runCli(process.execPath, [join(ROOT, "scripts/smoke.mjs"), `127.0.0.1:${port}`]);
    expect(run).toEqual({ status: 1, stdout: "", stderr: `smoke: nothing answers at 127.0.0.1:${port} (connection refused)\n` });
  });

  it("lists the services through reflection, the health service included, and calls it", async () => {
    const grpcCall = (...args: string[]) => runCli(process.execPath, [join(ROOT, "scripts/grpc-call.mjs"), "-plaintext", `127.0.0.1:${service.grpcPort}`, ...args]);
    expect((await grpcCall("list")).stdout).toBe("grpc.health.v1.Health\njobscheduler.v1.JobScheduler\n");
    expect(JSON.parse((await grpcCall("grpc.health.v1.Health/Check")).stdout)).toEqual({ status: "SERVING" });
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
