// scripts/grpc-call.mjs takes grpcurl's common arguments and behaves as grpcurl does with them,
// against the real service (and a real TLS server for the TLS flags).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reflectionPackageDefinition } from "../src/api/reflection-descriptors.js";
import { closedPort, runCli } from "./support/cli.js";
import { timerJob } from "./support/requests.js";
import { call, cleanup, ROOT, startService, tempDir, type TestService } from "./support/service.js";

const GRPC_CALL = join(ROOT, "scripts/grpc-call.mjs");
const SERVICE = "jobscheduler.v1.JobScheduler";

let service: TestService;
let address: string;
let jobId: string;

const grpcCall = (args: string[], input?: string) => runCli(process.execPath, [GRPC_CALL, ...args], { input });

beforeAll(async () => {
  service = await startService();
  address = `127.0.0.1:${service.app.grpcPort}`;
  // A job that stays queued for a month: something to read and to watch without it ending.
  const later = timerJob(1000, { name: "grpc-call-test", runAt: new Date(Date.now() + 30 * 24 * 3600_000) });
  const { job } = await call(service.client, service.client.scheduleJob, later);
  jobId = job!.id;
});

afterAll(async () => {
  await service.stop();
});

describe("scripts/grpc-call.mjs, grpcurl's arguments", () => {
  it("list: the services, then a service's methods, sorted and fully qualified", async () => {
    const services = await grpcCall(["-plaintext", address, "list"]);
    expect(services).toMatchObject({ status: 0, stderr: "" });
    expect(services.stdout).toBe("grpc.health.v1.Health\njobscheduler.v1.JobScheduler\n");

    const methods = await grpcCall(["-plaintext", address, "list", SERVICE]);
    const lines = methods.stdout.trim().split("\n");
    expect(lines).toContain(`${SERVICE}.ScheduleJob`);
    expect(lines).toContain(`${SERVICE}.WatchJob`);
    expect(lines).toEqual([...lines].sort());
  });

  it("describe: a service, a method, a message and a field as proto source, with their comments", async () => {
    const serviceText = (await grpcCall(["-plaintext", address, "describe", SERVICE])).stdout;
    expect(serviceText).toMatch(/^jobscheduler\.v1\.JobScheduler is a service:\n\/\/ JobScheduler accepts typed jobs/);
    expect(serviceText).toContain("  rpc WatchJob ( .jobscheduler.v1.WatchJobRequest ) returns ( stream .jobscheduler.v1.JobEvent );\n");

    const method = await grpcCall(["-plaintext", address, "describe", `${SERVICE}.GetJobStatus`]);
    expect(method.stdout).toBe(
      `${SERVICE}.GetJobStatus is a method:\nrpc GetJobStatus ( .jobscheduler.v1.GetJobStatusRequest ) returns ( .jobscheduler.v1.Job );\n`,
    );

    const message = (await grpcCall(["-plaintext", address, "describe", "jobscheduler.v1.ScheduleJobRequest"])).stdout;
    expect(message).toContain("  map<string, string> labels = 3;\n");
    expect(message).toContain("  // Fails with QUEUE_TIMEOUT if not started within this time of becoming due.\n  .google.protobuf.Duration queue_timeout = 10;\n");
    expect(message).toContain("  oneof spec {\n    .jobscheduler.v1.TimerJob timer = 20;\n");

    const field = await grpcCall(["-plaintext", address, "describe", "jobscheduler.v1.RetryPolicy.jitter"]);
    expect(field.stdout).toBe("jobscheduler.v1.RetryPolicy.jitter is a field:\n// 0..1: each delay is spread by up to this fraction; default 0.2.\noptional double jitter = 5;\n");

    const unknown = await grpcCall(["-plaintext", address, "describe", "jobscheduler.v1.Nope"]);
    expect(unknown).toEqual({ status: 1, stdout: "", stderr: 'Failed to resolve symbol "jobscheduler.v1.Nope": Symbol not found: jobscheduler.v1.Nope\n' });
  });

  it("-d: strict proto3 JSON as grpcurl reads it (\"30m\" and unknown fields refused in one line, \"1800s\" accepted)", async () => {
    const method = `${SERVICE}/ScheduleJob`;
    const minutes = await grpcCall(["-plaintext", "-d", '{"queue_timeout": "30m", "timer": {"duration": "1s", "timer_name": "t"}}', address, method]);
    expect(minutes).toEqual({
      status: 1,
      stdout: "",
      stderr: `Error invoking method "${method}": error getting request data: cannot decode message google.protobuf.Duration from JSON: "30m"\n`,
    });
    const unknown = await grpcCall(["-plaintext", "-d", '{"nope": 1}', address, method]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe(`Error invoking method "${method}": error getting request data: cannot decode message jobscheduler.v1.ScheduleJobRequest from JSON: key "nope" is unknown\n`);

    const runAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 30 * 24 * 3600_000);
    const body = `{"queue_timeout": "1800s", "run_at": "${runAt.toISOString()}", "timer": {"duration": "1s", "timer_name": "t"}}`;
    const seconds = await grpcCall(["-plaintext", "-d", body, address, method]);
    expect(seconds.stderr).toBe("");
    const queueDeadline = new Date(runAt.getTime() + 1800_000).toISOString().replace(".000Z", "Z");
    expect(JSON.parse(seconds.stdout).job).toMatchObject({ state: "JOB_STATE_QUEUED", queueDeadline });
  });

  it("-d @ reads the request from stdin; responses are lowerCamelCase unless -keep-proto-names", async () => {
    const request = JSON.stringify({ job_id: jobId });
    const camel = await grpcCall(["-plaintext", "-d", "@", address, `${SERVICE}/GetJobStatus`], request);
    expect(camel.status).toBe(0);
    expect(JSON.parse(camel.stdout)).toMatchObject({ id: jobId, state: "JOB_STATE_QUEUED", runAt: expect.any(String) });
    expect(camel.stdout).toMatch(/^\{\n {2}"id": /);

    const proto = await grpcCall(["-plaintext", "-keep-proto-names", "-d", "@", address, `${SERVICE}.GetJobStatus`], request);
    expect(JSON.parse(proto.stdout)).toMatchObject({ id: jobId, run_at: expect.any(String) });
  });

  it("-H sends headers (repeatable, names lower-cased) and -v shows them and the response's headers and trailers", async () => {
    const run = await grpcCall([
      "-plaintext", "-v", "-H", "X-Request-Id: grpc-call-test", "-H", "x-extra:  kept ", "-d", JSON.stringify({ job_id: jobId }),
      address, `${SERVICE}/GetJobStatus`,
    ]);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("\nRequest metadata to send:\nx-extra: kept\nx-request-id: grpc-call-test\n");
    expect(run.stdout).toMatch(/\nResponse headers received:\n(?:.*\n)*x-request-id: grpc-call-test\n/);
    expect(run.stdout).toContain("\nResponse contents:\n{\n");
    expect(run.stdout).toContain("\nResponse trailers received:\n");
    expect(run.stdout).toMatch(/Sent 1 request and received 1 response\n$/);
  });

  it("a failed call: code and message on stderr as grpcurl prints them, exit code 64 + the status code", async () => {
    const run = await grpcCall(["-plaintext", "-d", JSON.stringify({ job_id: "01a2b3c4-0000-7000-8000-000000000000" }), address, `${SERVICE}/GetJobStatus`]);
    expect(run.status).toBe(64 + 5);
    expect(run.stdout).toBe("");
    expect(run.stderr).toMatch(/^ERROR:\n {2}Code: NotFound\n {2}Message: .+\n$/);
  });

  it("-max-time ends a call that outlives it with DeadlineExceeded (exit 68), after the messages that came", async () => {
    const run = await grpcCall(["-plaintext", "-max-time", "1", "-d", JSON.stringify({ job_id: jobId }), address, `${SERVICE}/WatchJob`]);
    expect(run.status).toBe(64 + 4);
    expect(JSON.parse(run.stdout)).toMatchObject({ state: "JOB_STATE_QUEUED" });
    expect(run.stderr).toMatch(/^ERROR:\n {2}Code: DeadlineExceeded\n/);
  });

  it("unknown services and methods are named, as grpcurl names them (exit 1)", async () => {
    const method = await grpcCall(["-plaintext", address, `${SERVICE}/Nope`]);
    expect(method).toEqual({ status: 1, stdout: "", stderr: `Error invoking method "${SERVICE}/Nope": service "${SERVICE}" does not include a method named "Nope"\n` });
    const serviceRun = await grpcCall(["-plaintext", address, "nope.Nope/Call"]);
    expect(serviceRun.stderr).toBe('Error invoking method "nope.Nope/Call": target server does not expose service "nope.Nope"\n');
  });

  it("connection failures are one line and exit 1: nothing listening, or TLS (the default) to a plaintext server", async () => {
    const port = await closedPort();
    expect(await grpcCall(["-plaintext", `127.0.0.1:${port}`, "list"])).toEqual({
      status: 1,
      stdout: "",
      stderr: `Failed to dial target host "127.0.0.1:${port}": connection refused\n`,
    });
    expect(await grpcCall([address, "list"])).toEqual({
      status: 1,
      stdout: "",
      stderr: `Failed to dial target host "${address}": TLS handshake failed: the server does not speak TLS (use -plaintext)\n`,
    });
  });

  it("usage errors exit 2 as grpcurl's do: unknown flags, flags after the address, missing arguments", async () => {
    const unknown = await grpcCall(["-plaintext", "-protoset", "x.pb", address, "list"]);
    expect(unknown).toEqual({ status: 2, stdout: "", stderr: "flag provided but not defined: -protoset\nTry 'grpc-call.mjs -help' for more details.\n" });
    // Go's flag parsing stops at the first argument that is not a flag, as grpcurl's does.
    const late = await grpcCall([address, `${SERVICE}/GetJobStatus`, "-plaintext"]);
    expect(late).toMatchObject({ status: 2, stderr: "Too many arguments.\nTry 'grpc-call.mjs -help' for more details.\n" });
    expect((await grpcCall(["-plaintext", address])).stderr).toMatch(/^Too few arguments\./);
    expect((await grpcCall(["-plaintext", "-max-time", "soon", address, "list"])).stderr).toMatch(/^invalid value "soon" for flag -max-time/);
    const help = await grpcCall(["-help"]);
    expect(help.status).toBe(0);
    for (const flag of ["-plaintext", "-d", "-H", "-max-time", "-insecure", "-cacert"]) expect(help.stderr).toContain(`  ${flag} `);
  });
});

describe("scripts/grpc-call.mjs over TLS", () => {
  let dir: string;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    dir = tempDir("grpc-call-tls-");
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    server = new Server();
    new HealthImplementation({ "": "SERVING" }).addToServer(server);
    new ReflectionService(reflectionPackageDefinition()).addToServer(server);
    const tls = ServerCredentials.createSsl(null, [{ private_key: readFileSync(join(dir, "key.pem")), cert_chain: readFileSync(join(dir, "cert.pem")) }]);
    port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", tls, (error, bound) => (error ? reject(error) : resolve(bound))));
  });

  afterAll(() => {
    server.forceShutdown();
    cleanup(dir);
  });

  it("verifies the server against -cacert, skips verification with -insecure, and refuses an unknown certificate", async () => {
    const check = ["-d", "{}", `127.0.0.1:${port}`, "grpc.health.v1.Health/Check"];
    const trusted = await grpcCall(["-cacert", join(dir, "cert.pem"), ...check]);
    expect(trusted).toMatchObject({ status: 0, stderr: "" });
    expect(JSON.parse(trusted.stdout)).toEqual({ status: "SERVING" });

    const insecure = await grpcCall(["-insecure", `localhost:${port}`, "list"]);
    expect(insecure).toMatchObject({ status: 0, stdout: "grpc.health.v1.Health\njobscheduler.v1.JobScheduler\n" });

    const untrusted = await grpcCall(check);
    expect(untrusted.status).toBe(1);
    expect(untrusted.stderr).toMatch(new RegExp(`^Failed to dial target host "127\\.0\\.0\\.1:${port}": .+\\n$`));
  });
});
