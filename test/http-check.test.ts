// http_check against real local targets: fast, slow, 500, refused, hanging (times out), bad TLS
// (a self-signed certificate generated for the test), trusted TLS, and an unresolvable host.
// The built collector program runs as the runtimes run it; the evaluator turns its result
// into the Hub's status.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evaluate } from "../src/hub/evaluator.js";
import { DEFAULT_ENDPOINTS, httpCheckHandler, reachesReset } from "../src/jobs/http-check.js";
import { runCollector } from "./support/run-collector.js";

const servers: Server[] = [];
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
  rmSync(certDir, { recursive: true, force: true });
});

const handler = httpCheckHandler({ userAgent: "HackLoad-Monitor/1.0" });

async function check(baseUrl: string, options: { timeoutMs?: number; extraEnv?: Record<string, string>; endpoints?: unknown[] } = {}) {
  const params = handler.paramsSchema.parse({ baseUrl, endpoints: options.endpoints ?? [], requestTimeout: { seconds: 0, nanos: (options.timeoutMs ?? 1000) * 1e6 } });
  const workload = handler.buildWorkload({ params, timeoutMs: 20_000 } as never);
  const run = await runCollector("http-check", { ...workload.env, ...options.extraEnv });
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

  it("a hanging app costs one request timeout (endpoints are probed in parallel): TIMEOUT, FAILED", async () => {
    const { endpoints, report, result } = await check(`http://127.0.0.1:${hanging}`, { timeoutMs: 800 });
    expect(endpoints.every((e) => e.error === "TIMEOUT" && (e.latencyMs as number) >= 750)).toBe(true);
    expect(result.durationMs as number).toBeLessThan(2500);
    expect(report.status).toBe("FAILED");
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
