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
//   Egress (JOB_EGRESS_POLICY, docs/security.md): the addresses the host resolves to are judged
//   before anything connects, and every connection goes to a judged address (a pinned lookup, so a
//   second resolution cannot differ); an address the policy refuses is BLOCKED, nothing sent. A
//   redirect (3xx with Location, up to 5, unless the endpoint expects that 3xx) is followed only
//   to a target the policy allows, judged before connecting; a refused one is BLOCKED.
// Exit 0 whenever a result was written: a dead app is a measurement, not a failure of the job.
import http from "node:http";
import { isIP, type LookupFunction } from "node:net";
import { checkUrl, pinnedLookup } from "../shared/egress/check.js";
import { EGRESS_POLICY_ENV, policyFromEnv } from "../shared/egress/env.js";
import { systemResolver } from "../shared/egress/resolver.js";
import { RESULT_LIMIT_BYTES, requireEnv, writeResult } from "./io.js";

interface Endpoint {
  method: string;
  path: string;
  expectedStatus: number;
  critical: boolean;
}

type ErrorKind = "DNS" | "REFUSED" | "TIMEOUT" | "RESET" | "TLS" | "UNREACHABLE" | "STATUS" | "ERROR" | "BLOCKED";

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
const policy = policyFromEnv(process.env[EGRESS_POLICY_ENV]);
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// Loaded only when needed: a run starts faster without them (a round starts hundreds of runs).
let https = isHttps ? (await import("node:https")).default : null;
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

interface DnsResult {
  ok: boolean;
  address?: string;
  error?: string;
  /** Why the egress policy refused the host's address (nothing was requested). */
  blocked?: string;
}

/** The connection's lookup: the judged addresses of the base host (Node skips it for an IP literal). */
let baseLookup: LookupFunction | undefined;

/** Resolves the host and judges its addresses; the name itself was admitted with the job. */
async function resolveHost(): Promise<DnsResult> {
  const checked = await checkUrl(policy, systemResolver(budget()), baseUrl.toString(), { nameAdmitted: true });
  if (!checked.ok) return { ok: true, blocked: checked.message };
  if (checked.resolveError) return { ok: false, error: checked.resolveError };
  if (!isIP(hostname)) baseLookup = pinnedLookup(checked.target.host, checked.addresses);
  return { ok: true, address: checked.addresses[0] };
}

function checkTls(shared: Budget): Promise<TlsResult> {
  return new Promise((resolve) => {
    const socket = tls!.connect({
      host: hostname,
      port,
      lookup: baseLookup,
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

function isRedirect(status: number, location: string | undefined, endpoint: Endpoint): location is string {
  const expectsRedirect = endpoint.expectedStatus >= 300 && endpoint.expectedStatus < 400;
  return REDIRECTS.has(status) && typeof location === "string" && location !== "" && !expectsRedirect;
}

/** Where a redirect may go, judged before connecting: the lookup to connect with, or why not. */
async function redirectTarget(next: URL): Promise<{ lookup: LookupFunction | undefined } | { error: ErrorKind; message: string }> {
  if (next.protocol !== "http:" && next.protocol !== "https:") return { error: "BLOCKED", message: `redirect to a ${next.protocol} URL` };
  if (next.protocol === "https:") https ??= (await import("node:https")).default;
  // The job's own host (http -> https included): its name was admitted with the job, so only the
  // addresses are judged (for this port); on the same port they already were.
  const sameHost = next.hostname === baseUrl.hostname;
  const samePort = Number(next.port || (next.protocol === "https:" ? 443 : 80)) === port;
  if (sameHost && samePort && baseLookup) return { lookup: baseLookup };
  const checked = await checkUrl(policy, systemResolver(budget()), next.toString(), sameHost ? { nameAdmitted: true } : {});
  if (!checked.ok) return { error: "BLOCKED", message: `redirect to ${next.host} refused: ${checked.message}` };
  if (checked.resolveError) return { error: "DNS", message: `redirect to ${next.host}: ${checked.resolveError}` };
  return { lookup: isIP(checked.target.host) ? undefined : pinnedLookup(checked.target.host, checked.addresses) };
}

function request(endpoint: Endpoint, shared: Budget): Promise<Answer> {
  return new Promise((resolve) => {
    const began = performance.now();
    let settled = false;
    let current: http.ClientRequest | null = null;
    const stopListening = shared.onEnd(() => {
      const error = timeoutError(`no complete answer within ${shared.ms} ms`);
      if (current) current.destroy(error);
      else fail(error);
    });
    send(requestUrl(endpoint.path), endpoint.method, baseLookup, 0);

    function send(url: URL, method: string, lookup: LookupFunction | undefined, hops: number) {
      const options = {
        method,
        headers: { "user-agent": userAgent, accept: "application/json", "cache-control": "no-cache" },
        // TLS validity is judged by the handshake check; the endpoints are measured either way.
        rejectUnauthorized: false,
        agent: false as const,
        lookup,
      };
      // The status decides, whatever the body would be: the answer is complete at its headers.
      const req = (url.protocol === "https:" ? https! : http).request(url, options, (res) => {
        const status = res.statusCode ?? 0;
        if (hops < MAX_REDIRECTS && isRedirect(status, res.headers.location, endpoint)) {
          let next: URL;
          try {
            next = new URL(res.headers.location, url);
          } catch {
            settle({ status: null, latencyMs: null, error: "ERROR", message: `redirect to an invalid Location (HTTP ${status})` });
            return;
          }
          current = null;
          req.destroy();
          void follow(next, status === 303 ? "GET" : method, hops + 1);
          return;
        }
        settle({ status, latencyMs: Math.round(performance.now() - began) });
      });
      current = req;
      req.on("error", (error: NodeJS.ErrnoException) => {
        if (current === req) fail(error);
      });
      req.end();
    }

    async function follow(next: URL, method: string, hops: number) {
      const verdict = await redirectTarget(next);
      if (settled) return;
      if ("error" in verdict) settle({ status: null, latencyMs: null, error: verdict.error, message: verdict.message.slice(0, 200) });
      else send(next, method, verdict.lookup, hops);
    }

    function fail(error: NodeJS.ErrnoException) {
      const kind = error.code === "EGRESS_REFUSED" ? "BLOCKED" : classify(error);
      const message = kind === "TIMEOUT" ? error.message : (error.code ?? error.message ?? "no answer");
      settle({ status: null, latencyMs: kind === "TIMEOUT" ? Math.round(performance.now() - began) : null, error: kind, message: message.slice(0, 80) });
    }

    function settle(answer: Answer) {
      if (settled) return;
      settled = true;
      stopListening();
      current?.destroy();
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
if (!dns.ok || dns.blocked) {
  const error = dns.blocked ? ("BLOCKED" as const) : ("DNS" as const);
  const message = (dns.blocked ?? dns.error ?? "").slice(0, 200);
  results = endpoints.map((e) => ({ method: e.method, path: e.path, critical: e.critical, status: null, ok: false, latencyMs: null, error, message }));
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
