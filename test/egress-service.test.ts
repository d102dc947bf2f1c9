// The egress policy where it acts: ScheduleJob and CreateSchedule over a real gRPC socket, the
// http_check program (its own target and redirects) and the completion-callback worker, each
// judging before it connects. Every refused target here is either an address nothing listens on
// that is never connected to (169.254.169.254, 10.0.0.1: decided before any connection), or a
// loopback server the policy refuses by port, which counts connections: it must see none.
import { request as httpRequest, createServer, type Server } from "node:http";
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from "node:net";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { status, type ServiceError } from "@grpc/grpc-js";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeMetadataValue } from "../src/api/errors.js";
import { CallbackDelivery, DEFAULT_CALLBACK_DELIVERY } from "../src/dispatch/callback-delivery.js";
import { callbackOutboxItem } from "../src/dispatch/callback-outbox.js";
import { CreateScheduleRequest, ListJobsRequest, ScheduleJobRequest } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { checkUrl, pinnedLookup } from "../src/shared/egress/check.js";
import { egressPolicy, type EgressPolicy } from "../src/shared/egress/policy.js";
import { httpCheckHandler } from "../src/jobs/http-check.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { ms } from "./support/requests.js";
import { runCollector } from "./support/run-collector.js";
import { call, cleanup, startService, tempDir, type TestService } from "./support/service.js";
import { StubResolver } from "./support/stub-resolver.js";

const FAKE_K6 = fileURLToPath(new URL("./support/fake-k6/k6", import.meta.url));

/** The app: answers, or redirects to wherever the test asks. */
let app: Server;
let appPort: number;
const appRequests: string[] = [];
/** A loopback listener the policy refuses (by port): it counts every connection it gets. */
let refused: TcpServer;
let refusedPort: number;
let refusedConnections = 0;

beforeAll(async () => {
  refused = createTcpServer((socket) => {
    refusedConnections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => refused.listen(0, "127.0.0.1", resolve));
  refusedPort = (refused.address() as AddressInfo).port;
  app = createServer((req, res) => {
    appRequests.push(`${req.method} ${req.headers.host} ${req.url}`);
    const redirect = (location: string, code = 302) => res.writeHead(code, { location }).end();
    switch (req.url) {
      case "/api/to-refused-port": return redirect(`http://127.0.0.1:${refusedPort}/stolen`);
      case "/api/to-metadata": return redirect("http://169.254.169.254/latest/meta-data/", 301);
      case "/api/to-localhost": return redirect(`http://localhost:${refusedPort}/`);
      case "/api/to-mapped": return redirect(`http://[::ffff:127.0.0.1]:${refusedPort}/`, 307);
      case "/api/same-host": return redirect("/api/final", 307);
      default: return res.writeHead(200, { "content-type": "application/json" }).end("{}");
    }
  });
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  appPort = (app.address() as AddressInfo).port;
});

afterAll(async () => {
  app.closeAllConnections();
  await new Promise<void>((resolve) => app.close(() => resolve()));
  await new Promise<void>((resolve) => refused.close(() => resolve()));
});

/** Public hosts, and the app's loopback port only: the refused listener's port is not listed. */
const appOnly = (): EgressPolicy => egressPolicy({ allowlist: `*,127.0.0.1:${appPort}`, serviceCidrs: [], podCidrs: [], apiServers: [] });

function expectDenied(error: unknown, field: string, message: RegExp) {
  const e = error as ServiceError;
  expect(e.code, e.details).toBe(status.PERMISSION_DENIED);
  expect(e.details).toMatch(message);
  expect(e.details.startsWith(`${field}: `)).toBe(true);
  expect(e.metadata.get("error-field").map((v) => decodeMetadataValue(String(v)))).toEqual([field]);
  expect(e.metadata.get("error-reason")).toEqual(["TARGET_NOT_ALLOWED"]);
}

describe("ScheduleJob and CreateSchedule refuse targets outside TARGET_ALLOWLIST (over gRPC)", () => {
  let service: TestService;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = tempDir();
    service = await startService({ TARGET_ALLOWLIST: "*", K6_BINARY: FAKE_K6 }, dataDir);
  });
  afterAll(async () => {
    await service.stop();
    cleanup(dataDir);
  });

  const schedule = (request: Partial<ScheduleJobRequest>) => call(service.client, service.client.scheduleJob, ScheduleJobRequest.fromPartial(request));

  it.each([
    ["k6.target_url", { $case: "k6", value: { scriptSource: { $case: "scenario", value: "http-get-smoke" }, targetUrl: "http://10.0.0.1:8080" } },
      /^k6\.target_url: host 10\.0\.0\.1 is not allowed by TARGET_ALLOWLIST \(10\.0\.0\.0\/8 is private \(RFC 1918\); list it to allow\)$/],
    ["http_check.base_url", { $case: "httpCheck", value: { baseUrl: "http://169.254.169.254/latest/" } },
      /^http_check\.base_url: host 169\.254\.169\.254 is not allowed by TARGET_ALLOWLIST \(169\.254\.0\.0\/16 is link-local \(cloud metadata\)/],
    ["http_check.base_url", { $case: "httpCheck", value: { baseUrl: "http://0x7f.1:8080/" } }, /host 127\.0\.0\.1 is not allowed .*loopback/],
    ["http_check.base_url", { $case: "httpCheck", value: { baseUrl: "http://localhost:8080/" } }, /host localhost resolves to 127\.0\.0\.1, which TARGET_ALLOWLIST does not allow/],
    ["timer.completion_callback_url", { $case: "timer", value: { duration: ms(1000), timerName: "t", completionCallbackUrl: "http://[::ffff:127.0.0.1]:9/done" } },
      /host \[::ffff:7f00:1\] is not allowed .*loopback/],
  ] as const)("%s: %s", async (field, spec, message) => {
    const error = await schedule({ name: "refused", spec: spec as ScheduleJobRequest["spec"] }).then(() => null, (e: unknown) => e);
    expectDenied(error, field, message);
  });

  it("creates no job for a refused target, and admits a public one", async () => {
    const listed = await call(service.client, service.client.listJobs, ListJobsRequest.fromPartial({ pageSize: 100 }));
    expect(listed.jobs).toEqual([]);
    // Never run (due tomorrow): the test connects to nothing outside loopback.
    const accepted = await schedule({ name: "public", runAt: new Date(Date.now() + 86_400_000), spec: { $case: "httpCheck", value: { baseUrl: "http://203.0.113.5/", endpoints: [], requestTimeout: ms(1000) } } });
    expect(accepted.created).toBe(true);
  });

  it("CreateSchedule judges a plain schedule's template, naming the field under spec.job_template", async () => {
    const error = await call(service.client, service.client.createSchedule, CreateScheduleRequest.fromPartial({
      spec: { name: "probe-internal", cron: "*/5 * * * *", jobTemplate: ScheduleJobRequest.fromPartial({ spec: { $case: "httpCheck", value: { baseUrl: "http://10.9.8.7/" } } }) },
    })).then(() => null, (e: unknown) => e);
    expectDenied(error, "spec.job_template.http_check.base_url", /host 10\.9\.8\.7 is not allowed/);
  });
});

describe("RetryJob judges the original's targets by the policy in force now", () => {
  it("a job admitted under a wider TARGET_ALLOWLIST is refused a retry once the list no longer allows its target", async () => {
    const dataDir = tempDir();
    const wide = await startService({ TARGET_ALLOWLIST: `*,127.0.0.1:${appPort}` }, dataDir);
    let jobId: string;
    try {
      // Never run (due tomorrow), cancelled: retryable.
      const { job } = await call(wide.client, wide.client.scheduleJob, ScheduleJobRequest.fromPartial({
        name: "internal", runAt: new Date(Date.now() + 86_400_000), spec: { $case: "httpCheck", value: { baseUrl: `http://127.0.0.1:${appPort}/` } },
      }));
      jobId = job!.id;
      await call(wide.client, wide.client.cancelJob, { jobId, reason: "to retry" });
    } finally {
      await wide.stop();
    }
    const narrow = await startService({ TARGET_ALLOWLIST: "*" }, dataDir);
    try {
      const error = await call(narrow.client, narrow.client.retryJob, { jobId, idempotencyKey: "retry-after-narrowing" }).then(() => null, (e: unknown) => e);
      expectDenied(error, "http_check.base_url", /host 127\.0\.0\.1 is not allowed .*loopback/);
      const listed = await call(narrow.client, narrow.client.listJobs, ListJobsRequest.fromPartial({ pageSize: 10 }));
      expect(listed.jobs.map((j) => j.id)).toEqual([jobId]);
    } finally {
      await narrow.stop();
      cleanup(dataDir);
    }
  });
});

describe("the http_check program judges before it connects", () => {
  async function check(baseUrl: string, paths: string[], policy: EgressPolicy) {
    const handler = httpCheckHandler({ egress: policy });
    const params = handler.paramsSchema.parse({ baseUrl, endpoints: paths.map((path) => ({ path })), requestTimeout: ms(2000) });
    const run = await runCollector("http-check", handler.buildWorkload({ params, timeoutMs: 20_000 } as never).env);
    expect(run.exitCode, run.output).toBe(0);
    return run.result as { dns: Record<string, unknown>; endpoints: { path: string; ok: boolean; status: number | null; error: string | null; message?: string }[] };
  }

  it("follows a redirect only to an allowed target; a refused one is BLOCKED and never connected", async () => {
    refusedConnections = 0;
    const result = await check(`http://127.0.0.1:${appPort}`, ["/api/same-host", "/api/to-refused-port", "/api/to-metadata", "/api/to-localhost", "/api/to-mapped"], appOnly());
    const byPath = Object.fromEntries(result.endpoints.map((e) => [e.path, e]));
    expect(byPath["/api/same-host"]).toMatchObject({ ok: true, status: 200, error: null });
    expect(byPath["/api/to-refused-port"]).toMatchObject({ ok: false, error: "BLOCKED", message: `redirect to 127.0.0.1:${refusedPort} refused: host 127.0.0.1 port ${refusedPort} is not allowed by TARGET_ALLOWLIST (127.0.0.0/8 is loopback; listed for other ports only)` });
    expect(byPath["/api/to-metadata"]).toMatchObject({ ok: false, error: "BLOCKED", message: expect.stringContaining("169.254.0.0/16 is link-local (cloud metadata)") });
    expect(byPath["/api/to-localhost"]).toMatchObject({ ok: false, error: "BLOCKED", message: expect.stringContaining("host localhost resolves to 127.0.0.1, which TARGET_ALLOWLIST does not allow") });
    expect(byPath["/api/to-mapped"]).toMatchObject({ ok: false, error: "BLOCKED", message: expect.stringContaining("[::ffff:7f00:1]") });
    expect(refusedConnections).toBe(0);
    expect(appRequests).toContain(`GET 127.0.0.1:${appPort} /api/final`);
  });

  it("re-checks its own target: an address the policy now refuses is BLOCKED, nothing requested", async () => {
    refusedConnections = 0;
    for (const base of [`http://127.0.0.1:${refusedPort}`, `http://localhost:${refusedPort}`]) {
      const result = await check(base, ["/api/events"], appOnly());
      expect(result.dns).toMatchObject({ ok: true, blocked: expect.stringMatching(/is not allowed by TARGET_ALLOWLIST|which TARGET_ALLOWLIST does not allow/) });
      expect(result.endpoints).toEqual([expect.objectContaining({ ok: false, error: "BLOCKED" })]);
    }
    expect(refusedConnections).toBe(0);
  });
});

describe("a checked target is connected at the address that was judged", () => {
  it("the pinned lookup answers the judged addresses: a second resolution cannot send the connection elsewhere", async () => {
    // A rebinding name: allowed at the first answer, refused at every later one.
    const answers = [["127.0.0.1"], ["169.254.169.254"]];
    let lookups = 0;
    const rebinding = { lookup: async () => answers[Math.min(lookups++, 1)] };
    const checked = await checkUrl(appOnly(), rebinding, `http://rebind.test:${appPort}/api/final`);
    expect(checked).toMatchObject({ ok: true, addresses: ["127.0.0.1"] });
    const statusCode = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`http://rebind.test:${appPort}/api/final`, { lookup: pinnedLookup("rebind.test", checked.ok ? checked.addresses : []), agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    expect(statusCode).toBe(200);
    expect(lookups).toBe(1);
    expect(appRequests).toContain(`GET rebind.test:${appPort} /api/final`);
    // The later answer is refused when asked.
    expect(await checkUrl(appOnly(), rebinding, `http://rebind.test:${appPort}/`)).toMatchObject({ ok: false, message: expect.stringContaining("resolves to 169.254.169.254") });
  });

  it("the pinned lookup refuses any other name", async () => {
    const lookup = pinnedLookup("a.example", ["127.0.0.1"]);
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => lookup("b.example", {}, (err) => resolve(err as NodeJS.ErrnoException)));
    expect(error.code).toBe("EGRESS_REFUSED");
  });

  it("a stub resolver's private answer refuses a name before anything connects", async () => {
    const stub = new StubResolver({ "internal.example": ["127.0.0.1"] });
    expect(await checkUrl(appOnly(), stub, `http://internal.example:${refusedPort}/`)).toMatchObject({ ok: false, message: expect.stringContaining("resolves to 127.0.0.1") });
  });
});

describe("completion callbacks are judged again right before each POST", () => {
  it("a callback to a refused address is parked unsent; an allowed one is delivered", async () => {
    refusedConnections = 0;
    const dir = tempDir();
    const store = new SqliteStore(join(dir, "jobscheduler.db"));
    try {
      await store.migrate();
      await store.outbox.enqueue([
        callbackOutboxItem("job-refused", { url: `http://127.0.0.1:${refusedPort}/hook`, body: { jobId: "job-refused" } }, Date.now()),
        callbackOutboxItem("job-metadata", { url: "http://169.254.169.254/hook", body: { jobId: "job-metadata" } }, Date.now()),
        callbackOutboxItem("job-allowed", { url: `http://127.0.0.1:${appPort}/hook`, body: { jobId: "job-allowed" } }, Date.now()),
      ]);
      const delivery = new CallbackDelivery(store.outbox, DEFAULT_CALLBACK_DELIVERY, pino({ level: "silent" }), { policy: appOnly(), resolver: new StubResolver({}) });
      expect(await delivery.deliverOnce()).toBe(3);
      const rows = await store.outbox.list({ limit: 10, kinds: ["callback"] });
      const byJob = Object.fromEntries(rows.map((r) => [r.jobId, r]));
      expect(byJob["job-allowed"]).toMatchObject({ state: "DELIVERED" });
      expect(byJob["job-refused"]).toMatchObject({ state: "PARKED", lastError: `not sent: host 127.0.0.1 port ${refusedPort} is not allowed by TARGET_ALLOWLIST (127.0.0.0/8 is loopback; listed for other ports only)` });
      expect(byJob["job-metadata"]).toMatchObject({ state: "PARKED", lastError: expect.stringContaining("169.254.0.0/16 is link-local") });
      expect(refusedConnections).toBe(0);
      expect(appRequests).toContain(`POST 127.0.0.1:${appPort} /hook`);
    } finally {
      await store.close();
      cleanup(dir);
    }
  });
});
