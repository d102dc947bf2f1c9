// http_check against real local targets: fast, slow, 500, refused, hanging (times out), bad TLS
// (a self-signed certificate generated for the test), trusted TLS, and an unresolvable host.
// The built collector program runs as the runtimes run it; the evaluator turns its result
// into the Hub's status.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createTcpServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { criteriaSettingsSchema, evaluate } from "../src/hub/evaluator.js";
import { DEFAULT_SETTINGS, egressPolicy } from "../src/shared/egress/policy.js";
import { DEFAULT_ENDPOINTS, httpCheckHandler, reachesReset } from "../src/jobs/http-check.js";
import { ms } from "./support/requests.js";
import { runCollector } from "./support/run-collector.js";
import { LOOPBACK_ALLOWLIST } from "./support/service.js";

const servers: Server[] = [];
const tcpServers: { close(): Promise<void> }[] = [];
let certDir: string;
let cert: string;
let key: string;

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return String((server.address() as AddressInfo).port);
}

const seen: { url: string; method: string; userAgent: string }[] = [];

function app(handler: (path: string, res: import("node:http").ServerResponse) => void) {
  return (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => {
    seen.push({ url: req.url ?? "", method: req.method ?? "", userAgent: String(req.headers["user-agent"]) });
    handler(req.url ?? "", res);
  };
}

const json = (res: import("node:http").ServerResponse, status = 200) => res.writeHead(status, { "content-type": "application/json" }).end('{"items":[]}');

/**
 * A host that accepts connections and never says a word (no TLS handshake, no HTTP answer): the
 * hanging app. It records each connection's opening and closing in order, so a test can tell
 * whether a check's requests were all in flight at once.
 */
async function silentHost(): Promise<{ port: string; events: string[] }> {
  const events: string[] = [];
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    events.push("open");
    // Read (and drop) what the client sends, so its closing the connection is seen.
    socket.resume();
    socket.on("error", () => undefined);
    socket.on("close", () => {
      sockets.delete(socket);
      events.push("close");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  tcpServers.push({
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  });
  return { port: String((server.address() as AddressInfo).port), events };
}

let fast: string;
let slow: string;
let failing: string;
let hanging: string;
let partial: string;
let refused: string;
let badTls: string;
let goodTls: string;

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), "http-check-certs-"));
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(certDir, "key.pem"), "-out", join(certDir, "cert.pem"),
    "-days", "30", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ], { stdio: "ignore" });
  cert = readFileSync(join(certDir, "cert.pem"), "utf8");
  key = readFileSync(join(certDir, "key.pem"), "utf8");

  fast = await listen(createHttpServer(app((_p, res) => json(res))));
  slow = await listen(createHttpServer(app((_p, res) => setTimeout(() => json(res), 700))));
  failing = await listen(createHttpServer(app((_p, res) => json(res, 500))));
  hanging = await listen(createHttpServer(app(() => undefined)));
  // The critical endpoints work, the others do not.
  partial = await listen(createHttpServer(app((path, res) => (path.startsWith("/api/events") || path.startsWith("/api/seats") ? json(res) : json(res, 404)))));
  const closed = createHttpServer();
  refused = await listen(closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  badTls = await listen(createHttpsServer({ cert, key }, app((_p, res) => json(res))));
  goodTls = await listen(createHttpsServer({ cert, key }, app((_p, res) => json(res))));
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  for (const server of tcpServers) await server.close();
  rmSync(certDir, { recursive: true, force: true });
});

// The targets are on loopback, which the egress policy refuses unless listed (as the tests' service does).
const handler = httpCheckHandler({ userAgent: "HackLoad-Monitor/1.0", egress: egressPolicy({ ...DEFAULT_SETTINGS, allowlist: LOOPBACK_ALLOWLIST }) });

interface CheckOptions {
  /** The per-request timeout (HTTP_TIMEOUT). */
  timeoutMs?: number;
  /** The job's timeout (the collector's deadline is derived from it). */
  jobTimeoutMs?: number;
  /** The test kills the collector after this long. */
  killAfterMs?: number;
  extraEnv?: Record<string, string>;
  endpoints?: unknown[];
}

async function check(baseUrl: string, options: CheckOptions = {}) {
  const params = handler.paramsSchema.parse({ baseUrl, endpoints: options.endpoints ?? [], requestTimeout: ms(options.timeoutMs ?? 1000) });
  const workload = handler.buildWorkload({ params, timeoutMs: options.jobTimeoutMs ?? 20_000 } as never);
  const run = await runCollector("http-check", { ...workload.env, ...options.extraEnv }, options.killAfterMs);
  expect(run.exitCode, run.output).toBe(0);
  const parsed = handler.parseResult(run.rawResult!);
  expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
  const result = (parsed as { result: Record<string, unknown> }).result;
  const report = evaluate({ criteriaType: "DEPLOYED_SOLUTION", jobType: "http_check", state: "SUCCEEDED", reason: "", result, params: {} })!;
  return { run, result, report, endpoints: result.endpoints as Record<string, unknown>[] };
}

describe("http_check against local targets", () => {
  it("a fast app: every endpoint works, PASSED with the full scale, User-Agent HackLoad-Monitor/1.0, never /api/reset", async () => {
    const { result, report, endpoints, run } = await check(`http://127.0.0.1:${fast}`);
    expect(endpoints.map((e) => e.path)).toEqual(DEFAULT_ENDPOINTS.map((e) => e.path));
    expect(endpoints.every((e) => e.ok && e.status === 200 && e.error === null)).toBe(true);
    expect(result.tls).toBeNull();
    expect(report.status).toBe("PASSED");
    expect(report.score).toBe(100);
    expect(report.metrics).toMatchObject({ workingEndpoints: 4, totalEndpoints: 4, successRate: 100, criticalSuccessRate: 100, isAccessible: true, statusCode: 200 });
    expect((report.metrics.endpointResults as unknown[]).length).toBe(4);
    expect(report.metrics.confirmationUrl).toBe(`http://127.0.0.1:${fast}/`);
    const mine = seen.filter((s) => s.url.startsWith("/api/"));
    expect(mine.every((s) => s.userAgent === "HackLoad-Monitor/1.0" && s.method === "GET")).toBe(true);
    expect(seen.some((s) => s.url.includes("reset"))).toBe(false);
    expect(Buffer.byteLength(run.rawResult!)).toBeLessThanOrEqual(4096);
  });

  it("a slow app within the timeout: working, latency measured and reported as responseTime", async () => {
    const { endpoints, report } = await check(`http://127.0.0.1:${slow}`, { timeoutMs: 3000 });
    expect(endpoints.every((e) => e.ok && (e.latencyMs as number) >= 650)).toBe(true);
    expect(report.status).toBe("PASSED");
    expect(report.metrics.responseTime as number).toBeGreaterThanOrEqual(650);
  });

  it("an app answering 500: STATUS errors, FAILED, score 0", async () => {
    const { endpoints, report } = await check(`http://127.0.0.1:${failing}`);
    expect(endpoints.every((e) => e.status === 500 && e.error === "STATUS" && !e.ok)).toBe(true);
    expect(report.status).toBe("FAILED");
    expect(report.score).toBe(0);
    expect(report.metrics).toMatchObject({ isAccessible: true, statusCode: 500, workingEndpoints: 0 });
  });

  it("refused connections are told apart: REFUSED, FAILED, not accessible", async () => {
    const { endpoints, report, run } = await check(`http://127.0.0.1:${refused}`);
    expect(endpoints.every((e) => e.error === "REFUSED" && e.status === null)).toBe(true);
    expect(run.elapsedMs).toBeLessThan(5000);
    expect(report.status).toBe("FAILED");
    expect(report.metrics).toMatchObject({ isAccessible: false, statusCode: 0 });
  });

  it("a hanging app: TIMEOUT on every endpoint, FAILED", async () => {
    const { endpoints, report } = await check(`http://127.0.0.1:${hanging}`, { timeoutMs: 800 });
    expect(endpoints.every((e) => e.error === "TIMEOUT" && (e.latencyMs as number) >= 750)).toBe(true);
    expect(report.status).toBe("FAILED");
  });

  // More endpoints than the old limit of 8 requests at a time.
  const manyEndpoints = Array.from({ length: 12 }, (_, i) => ({ path: `/api/p${i}`, critical: i < 2 }));

  it("a hanging app costs one request timeout: every endpoint is requested at once, all before the first times out", async () => {
    const host = await silentHost();
    const { endpoints, report, run } = await check(`http://127.0.0.1:${host.port}`, { timeoutMs: 800, endpoints: manyEndpoints });
    expect(endpoints).toHaveLength(12);
    expect(run.output).not.toMatch(/Warning/);
    expect(endpoints.every((e) => e.error === "TIMEOUT" && e.status === null && !e.ok)).toBe(true);
    expect(host.events.filter((e) => e === "open")).toHaveLength(12);
    expect(host.events.slice(0, 12).every((e) => e === "open")).toBe(true);
    expect(report.status).toBe("FAILED");
  });

  it("a hanging https app costs one request timeout too: the TLS handshake runs beside the endpoints, not before them", async () => {
    const host = await silentHost();
    const { result, endpoints, report } = await check(`https://127.0.0.1:${host.port}`, { timeoutMs: 800, endpoints: manyEndpoints });
    expect(result.tls).toEqual({ valid: false, error: "TIMEOUT" });
    expect(endpoints.every((e) => e.error === "TIMEOUT" && e.status === null && !e.ok)).toBe(true);
    // The handshake check and the 12 endpoints: 13 connections, all open before the first is given up.
    expect(host.events.filter((e) => e === "open")).toHaveLength(13);
    expect(host.events.slice(0, 13).every((e) => e === "open")).toBe(true);
    expect(report.status).toBe("FAILED");
    expect(report.metrics).toMatchObject({ tlsValid: false, tlsError: "TIMEOUT", isAccessible: false, workingEndpoints: 0 });
  });

  it("stops at the status line: an answer whose body never ends does not hold the check until the request timeout", async () => {
    const open = new Set<import("node:http").ServerResponse>();
    const port = await listen(createHttpServer(app((_p, res) => {
      res.writeHead(200, { "content-type": "application/json" }).write('{"items":[');
      open.add(res);
    })));
    // A 60 s request timeout that the test does not wait for: the check must end on the answers' status.
    const { endpoints, report } = await check(`http://127.0.0.1:${port}`, { timeoutMs: 60_000, jobTimeoutMs: 120_000, killAfterMs: 15_000 });
    expect(endpoints.every((e) => e.ok && e.status === 200 && e.error === null)).toBe(true);
    expect(report.status).toBe("PASSED");
    expect(open.size).toBe(4);
  });

  it("the verdict is what it always was: one endpoint hangs, one answers 500, one resets, one never ends its body", async () => {
    const port = await listen(createHttpServer(app((path, res) => {
      if (path.startsWith("/api/events")) return json(res);
      if (path.startsWith("/api/seats")) return; // hangs
      if (path === "/api/bookings") return json(res, 500);
      if (path.startsWith("/api/analytics")) return void res.writeHead(200).write("{");
      if (path === "/api/gone") return json(res, 404);
      res.socket?.destroy();
    })));
    const { endpoints, result } = await check(`http://127.0.0.1:${port}`, {
      timeoutMs: 800,
      endpoints: [
        ...DEFAULT_ENDPOINTS,
        { method: "GET", path: "/api/gone", expectedStatus: 404, critical: false },
        { method: "GET", path: "/api/broken", critical: false },
      ],
    });
    expect(endpoints.map(({ path, status, ok, error, message }) => ({ path, status, ok, error, message }))).toEqual([
      { path: "/api/events?page=1&pageSize=20", status: 200, ok: true, error: null, message: undefined },
      { path: "/api/seats?event_id=1&page=1&pageSize=20", status: null, ok: false, error: "TIMEOUT", message: "no complete answer within 800 ms" },
      { path: "/api/bookings", status: 500, ok: false, error: "STATUS", message: "expected 2xx, got 500" },
      { path: "/api/analytics?id=1", status: 200, ok: true, error: null, message: undefined },
      { path: "/api/gone", status: 404, ok: true, error: null, message: undefined },
      { path: "/api/broken", status: null, ok: false, error: "RESET", message: "ECONNRESET" },
    ]);
    expect((endpoints[1].latencyMs as number) >= 750 && endpoints[5].latencyMs === null).toBe(true);
    // Latency out of the score, so the figure does not depend on this machine's load.
    const settings = criteriaSettingsSchema.parse({ DEPLOYED_SOLUTION: { fastMs: 5000, slowMs: 10_000 } });
    const report = evaluate({ criteriaType: "DEPLOYED_SOLUTION", jobType: "http_check", state: "SUCCEEDED", reason: "", result, params: {} }, settings)!;
    expect(report.status).toBe("FAILED");
    expect(report.score).toBe(50);
    expect(report.metrics).toMatchObject({
      workingEndpoints: 3, totalEndpoints: 6, successRate: 50, criticalSuccessRate: 50, statusCode: 200, isAccessible: true, isDeployed: true,
    });
  });

  it("passes when the critical endpoints work (>= 75 %), with a score from coverage", async () => {
    const { report } = await check(`http://127.0.0.1:${partial}`);
    expect(report.status).toBe("PASSED");
    expect(report.metrics).toMatchObject({ workingEndpoints: 2, totalEndpoints: 4, successRate: 50, criticalSuccessRate: 100 });
    expect(report.score).toBe(50);
    const critical = (report.metrics.endpointResults as { critical: boolean }[]).filter((e) => e.critical);
    expect(critical).toHaveLength(2);
  });

  it("a self-signed certificate: TLS invalid with the reason, endpoints answer but do not count, FAILED", async () => {
    const { result, endpoints, report } = await check(`https://127.0.0.1:${badTls}`);
    expect(result.tls).toMatchObject({ valid: false, error: "DEPTH_ZERO_SELF_SIGNED_CERT" });
    expect((result.tls as { daysToExpiry: number }).daysToExpiry).toBeGreaterThanOrEqual(28);
    expect(endpoints.every((e) => e.status === 200 && e.error === "TLS" && !e.ok)).toBe(true);
    expect(report.status).toBe("FAILED");
    expect(report.metrics).toMatchObject({ tlsValid: false, tlsError: "DEPTH_ZERO_SELF_SIGNED_CERT" });
  });

  it("a trusted certificate: TLS valid with days to expiry, PASSED", async () => {
    const caFile = join(certDir, "cert.pem");
    const { result, report } = await check(`https://127.0.0.1:${goodTls}`, { extraEnv: { NODE_EXTRA_CA_CERTS: caFile } });
    expect(result.tls).toMatchObject({ valid: true });
    expect((result.tls as { daysToExpiry: number }).daysToExpiry).toBeGreaterThanOrEqual(28);
    expect(report.status).toBe("PASSED");
    expect(report.metrics.tlsDaysToExpiry).toBeGreaterThanOrEqual(28);
  });

  it("a host that does not resolve: DNS failure, nothing requested, NO_DATA", async () => {
    const { result, endpoints, report } = await check("http://no-such-team-app.invalid");
    expect(result.dns).toMatchObject({ ok: false });
    expect(endpoints.every((e) => e.error === "DNS")).toBe(true);
    expect(report.status).toBe("NO_DATA");
    expect(report.score).toBe(0);
  });
});

describe("http_check parameters", () => {
  const parse = (spec: unknown) => handler.paramsSchema.safeParse(spec);

  it("defaults to the read-only Biletter endpoints, 10 s per request, concurrency key by target host", () => {
    const params = handler.paramsSchema.parse({ baseUrl: "https://team.example.kz:8443/" });
    expect(params.endpoints).toEqual(DEFAULT_ENDPOINTS);
    expect(params.requestTimeoutMs).toBe(10_000);
    expect(params.endpoints.some((e) => e.critical)).toBe(true);
    expect(handler.defaultConcurrencyKey!(params)).toBe("http_check:team.example.kz:8443");
  });

  it("allows only GET, HEAD and OPTIONS", () => {
    expect(parse({ baseUrl: "https://a.kz", endpoints: [{ method: "head", path: "/x" }] }).success).toBe(true);
    const post = parse({ baseUrl: "https://a.kz", endpoints: [{ method: "POST", path: "/api/bookings" }] });
    expect(post.success).toBe(false);
    expect(post.error!.issues[0].message).toMatch(/GET, HEAD or OPTIONS/);
  });

  it("never lets a check reach /api/reset, however it is spelled", () => {
    for (const [base, path] of [
      ["https://a.kz", "/api/reset"], ["https://a.kz", "/API/Reset/"], ["https://a.kz", "/api/%72eset?x=1"],
      ["https://a.kz/api", "/reset"], ["https://a.kz", "//api//reset"],
    ]) {
      expect(reachesReset(base, path)).toBe(true);
      const result = parse({ baseUrl: base, endpoints: [{ method: "GET", path }] });
      expect(result.success).toBe(false);
      expect(result.error!.issues[0].message).toMatch(/reset/);
    }
    expect(reachesReset("https://a.kz", "/api/resets")).toBe(false);
  });

  it("requires an absolute http(s) base URL and bounds the endpoint list", () => {
    expect(parse({}).error!.issues[0].message).toBe("is required");
    expect(parse({ baseUrl: "ftp://a.kz" }).success).toBe(false);
    const many = Array.from({ length: 21 }, (_, i) => ({ path: `/p${i}` }));
    expect(parse({ baseUrl: "https://a.kz", endpoints: many }).success).toBe(false);
  });
});
