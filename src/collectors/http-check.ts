// The http_check program: probes one deployed app and writes one result (<= 4 KiB).
//   1. DNS: the host is resolved first; a name that does not resolve is reported as such
//      (the Hub counts it as no data), and nothing is requested.
//   2. Then, all at once under one budget (the request timeout, or less when the run's deadline
//      is nearer): for https one handshake that reads the certificate (trusted or not, days to
//      expiry), and every endpoint. A hanging app therefore costs one request timeout, however
//      many endpoints it has and whatever its scheme.
//   3. Each endpoint: status and latency (to the response headers), and on failure what failed:
//      DNS, REFUSED, TIMEOUT (the budget ran out), RESET, TLS, UNREACHABLE, STATUS, ERROR. The
//      status decides, so a request ends at its headers: a body that trickles or never ends
//      changes nothing and is not waited for.
// Env: HTTP_CHECK_BASE_URL, HTTP_CHECK_ENDPOINTS (JSON), HTTP_CHECK_TIMEOUT_MS,
// HTTP_CHECK_DEADLINE_MS (all requests end by then), HTTP_CHECK_USER_AGENT.
// Exit 0 whenever a result was written: a dead app is a measurement, not a failure of the job.
import http from "node:http";
import { isIP } from "node:net";
import { RESULT_LIMIT_BYTES, requireEnv, writeResult } from "./io.js";

interface Endpoint {
  method: string;
  path: string;
  expectedStatus: number;
  critical: boolean;
}

type ErrorKind = "DNS" | "REFUSED" | "TIMEOUT" | "RESET" | "TLS" | "UNREACHABLE" | "STATUS" | "ERROR";

interface EndpointResult {
  method: string;
  path: string;
  critical: boolean;
  status: number | null;
  ok: boolean;
  latencyMs: number | null;
  error: ErrorKind | null;
  message?: string;
}

interface TlsResult {
  valid: boolean;
  error?: string;
  daysToExpiry?: number | null;
  validTo?: string;
  issuer?: string;
}

const startedAt = Date.now();
const baseUrl = new URL(requireEnv("HTTP_CHECK_BASE_URL"));
const endpoints = JSON.parse(requireEnv("HTTP_CHECK_ENDPOINTS")) as Endpoint[];
const timeoutMs = Number(process.env.HTTP_CHECK_TIMEOUT_MS || 10_000);
const deadlineAt = startedAt + Number(process.env.HTTP_CHECK_DEADLINE_MS || 25_000);
const userAgent = process.env.HTTP_CHECK_USER_AGENT || "HackLoad-Monitor/1.0";
const isHttps = baseUrl.protocol === "https:";
const hostname = baseUrl.hostname.replace(/^\[(.*)\]$/, "$1");
const port = Number(baseUrl.port || (isHttps ? 443 : 80));
// Loaded only when needed: a run starts faster without them (a round starts hundreds of runs).
const https = isHttps ? (await import("node:https")).default : null;
const tls = isHttps ? (await import("node:tls")).default : null;

const TLS_CODES = /^(CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET|VERIFY)_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH|ERR_TLS_CERT_ALTNAME_INVALID)/;

function classify(error: NodeJS.ErrnoException): ErrorKind {
  const code = error.code ?? "";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ENODATA" || code === "EAI_FAIL") return "DNS";
  if (code === "ECONNREFUSED") return "REFUSED";
  if (code === "ETIMEDOUT" || code === "TIMEOUT") return "TIMEOUT";
  if (code === "ECONNRESET" || code === "EPIPE" || error.message === "socket hang up") return "RESET";
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "EHOSTDOWN" || code === "ENETDOWN") return "UNREACHABLE";
  if (TLS_CODES.test(code) || /SSL|TLS|certificate/i.test(error.message)) return "TLS";
  return "ERROR";
}

function timeoutError(message: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(message);
  error.code = "TIMEOUT";
  return error;
}

/** The time a step started now may take: the request timeout, or less when the run's deadline is nearer. */
function budget(): number {
  return Math.max(1, Math.min(timeoutMs, deadlineAt - Date.now()));
}

/** The one budget the handshake check and every endpoint share: one timer, one deadline. */
interface Budget {
  ms: number;
  /** Calls `onTimeout` when the budget runs out; returns the function that stops waiting for it. */
  onEnd(onTimeout: () => void): () => void;
  /** Releases the timer once everything has settled. */
  end(): void;
}

function startBudget(): Budget {
  const ms = budget();
  const waiting = new Set<() => void>();
  const timer = setTimeout(() => [...waiting].forEach((onTimeout) => onTimeout()), ms);
  return {
    ms,
    onEnd(onTimeout) {
      waiting.add(onTimeout);
      return () => waiting.delete(onTimeout);
    },
    end: () => clearTimeout(timer),
  };
}

async function resolveHost(): Promise<{ ok: boolean; address?: string; error?: string }> {
  if (isIP(hostname)) return { ok: true, address: hostname };
  const { lookup } = await import("node:dns/promises");
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = await Promise.race([
      lookup(hostname),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timeoutError("DNS lookup timed out")), budget());
      }),
    ]);
    return { ok: true, address: answer.address };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, error: code === "TIMEOUT" ? "DNS_TIMEOUT" : (code ?? (error as Error).message) };
  } finally {
    clearTimeout(timer);
  }
}

function checkTls(shared: Budget): Promise<TlsResult> {
  return new Promise((resolve) => {
    const socket = tls!.connect({
      host: hostname,
      port,
      servername: isIP(hostname) ? undefined : hostname,
      rejectUnauthorized: false,
      ALPNProtocols: ["http/1.1"],
    });
    const stopListening = shared.onEnd(() => finish({ valid: false, error: "TIMEOUT" }));
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      const validTo = cert?.valid_to ? new Date(cert.valid_to) : null;
      const daysToExpiry = validTo && Number.isFinite(validTo.getTime()) ? Math.floor((validTo.getTime() - Date.now()) / 86_400_000) : null;
      const issuer = cert?.issuer ? (cert.issuer.O || cert.issuer.CN) : undefined;
      finish({
        valid: socket.authorized,
        ...(socket.authorized ? {} : { error: String(socket.authorizationError ?? "UNTRUSTED") }),
        daysToExpiry,
        ...(validTo && Number.isFinite(validTo.getTime()) ? { validTo: validTo.toISOString() } : {}),
        ...(issuer ? { issuer: String(issuer).slice(0, 60) } : {}),
      });
    });
    socket.once("error", (error: NodeJS.ErrnoException) => finish({ valid: false, error: error.code ?? error.message.slice(0, 80) }));
    let settled = false;
    function finish(result: TlsResult) {
      if (settled) return;
      settled = true;
      stopListening();
      socket.destroy();
      resolve(result);
    }
  });
}

function statusOk(status: number, expected: number): boolean {
  return expected === 0 ? status >= 200 && status < 300 : status === expected;
}

function requestUrl(path: string): URL {
  const url = new URL(baseUrl.toString());
  const [pathname, query] = path.split("?", 2);
  url.pathname = `${baseUrl.pathname.replace(/\/+$/, "")}${pathname}`;
  url.search = query ? `?${query}` : "";
  return url;
}

/** What one request got: the status line (with the latency to it), or the failure. */
type Answer =
  | { status: number; latencyMs: number }
  | { status: null; latencyMs: number | null; error: ErrorKind; message: string };

function request(endpoint: Endpoint, shared: Budget): Promise<Answer> {
  return new Promise((resolve) => {
    const began = performance.now();
    let settled = false;
    const options = {
      method: endpoint.method,
      headers: { "user-agent": userAgent, accept: "application/json", "cache-control": "no-cache" },
      // TLS validity is judged by the handshake check; the endpoints are measured either way.
      rejectUnauthorized: false,
      agent: false as const,
    };
    // The status decides, whatever the body would be: the answer is complete at its headers.
    const req = (https ?? http).request(requestUrl(endpoint.path), options, (res) =>
      settle({ status: res.statusCode ?? 0, latencyMs: Math.round(performance.now() - began) }));
    const stopListening = shared.onEnd(() => req.destroy(timeoutError(`no complete answer within ${shared.ms} ms`)));
    req.on("error", (error: NodeJS.ErrnoException) => {
      const kind = classify(error);
      const message = kind === "TIMEOUT" ? error.message : (error.code ?? error.message ?? "no answer");
      settle({ status: null, latencyMs: kind === "TIMEOUT" ? Math.round(performance.now() - began) : null, error: kind, message: message.slice(0, 80) });
    });
    req.end();

    function settle(answer: Answer) {
      if (settled) return;
      settled = true;
      stopListening();
      req.destroy();
      resolve(answer);
    }
  });
}

function endpointResult(endpoint: Endpoint, answer: Answer, tlsValid: boolean): EndpointResult {
  const base = { method: endpoint.method, path: endpoint.path, critical: endpoint.critical };
  if (answer.status === null) return { ...base, status: null, ok: false, latencyMs: answer.latencyMs, error: answer.error, message: answer.message };
  const good = statusOk(answer.status, endpoint.expectedStatus);
  const ok = good && (!isHttps || tlsValid);
  return {
    ...base, status: answer.status, ok, latencyMs: answer.latencyMs,
    error: ok ? null : good ? "TLS" : "STATUS",
    ...(ok ? {} : { message: good ? "the certificate is not trusted" : `expected ${endpoint.expectedStatus || "2xx"}, got ${answer.status}` }),
  };
}

/** The handshake check (https) and every endpoint, all started now, all ended by one budget. */
async function probeAll(): Promise<{ tls: TlsResult | null; results: EndpointResult[] }> {
  const shared = startBudget();
  try {
    const [tlsResult, answers] = await Promise.all([
      isHttps ? checkTls(shared) : null,
      Promise.all(endpoints.map((endpoint) => request(endpoint, shared))),
    ]);
    const tlsValid = tlsResult?.valid ?? true;
    return { tls: tlsResult, results: endpoints.map((endpoint, i) => endpointResult(endpoint, answers[i], tlsValid)) };
  } finally {
    shared.end();
  }
}

/** The result document, trimmed to the termination-message limit if it must be. */
function fit(result: Record<string, unknown> & { endpoints: EndpointResult[] }): Record<string, unknown> {
  const size = () => Buffer.byteLength(JSON.stringify(result));
  if (size() <= RESULT_LIMIT_BYTES) return result;
  for (const e of result.endpoints) delete e.message;
  if (size() <= RESULT_LIMIT_BYTES) return result;
  for (const e of result.endpoints) e.path = e.path.split("?")[0].slice(0, 100);
  return result;
}

const dns = await resolveHost();
let tlsResult: TlsResult | null = null;
let results: EndpointResult[];
if (!dns.ok) {
  results = endpoints.map((e) => ({ method: e.method, path: e.path, critical: e.critical, status: null, ok: false, latencyMs: null, error: "DNS" as const, message: dns.error }));
} else {
  ({ tls: tlsResult, results } = await probeAll());
}
const working = results.filter((r) => r.ok).length;
writeResult(fit({
  baseUrl: baseUrl.toString(),
  dns,
  tls: tlsResult,
  endpoints: results,
  workingEndpoints: working,
  totalEndpoints: results.length,
  durationMs: Date.now() - startedAt,
}));
console.log(`http_check ${baseUrl.host}: ${working}/${results.length} endpoints working in ${Date.now() - startedAt} ms`);
process.exit(0);
