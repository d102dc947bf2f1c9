// The pre-flight check: one GET to the target's base URL before a load test starts. Any HTTP
// answer (whatever its status) means the target is reachable; a DNS failure, refused or reset
// connection, TLS failure or timeout means it is not, and the run fails fast as
// TARGET_UNREACHABLE instead of burning the whole test. The target's addresses are judged by the
// egress policy first and the request connects to a judged one (it runs in the service on
// Kubernetes, where a rebinding name must not reach the cluster's inside).
import http from "node:http";
import https from "node:https";
import { checkUrl, pinnedLookup } from "./egress/check.js";
import { egressPolicy, type EgressPolicy } from "./egress/policy.js";
import { systemResolver } from "./egress/resolver.js";

export interface PreflightOutcome {
  ok: boolean;
  url: string;
  status?: number;
  error?: string;
  durationMs: number;
}

export const PREFLIGHT_TIMEOUT_MS = 10_000;
export const TARGET_UNREACHABLE = "TARGET_UNREACHABLE";

function describe(error: NodeJS.ErrnoException): string {
  if (error.code === "TIMEOUT") return "no answer (timed out)";
  if (error.code) return `${error.code}${error.message && !error.message.includes(error.code) ? `: ${error.message}` : error.message ? ` (${error.message})` : ""}`;
  return error.message;
}

export async function preflight(url: string, timeoutMs = PREFLIGHT_TIMEOUT_MS, userAgent = "HackLoad-LoadTest/1.0", egress: EgressPolicy = egressPolicy()): Promise<PreflightOutcome> {
  const started = Date.now();
  const checked = await checkUrl(egress, systemResolver(timeoutMs), url, { nameAdmitted: true });
  if (!checked.ok) return { ok: false, url, error: `BLOCKED: ${checked.message}`, durationMs: Date.now() - started };
  if (checked.resolveError) return { ok: false, url, error: checked.resolveError, durationMs: Date.now() - started };
  const lookup = checked.target.ip ? undefined : pinnedLookup(checked.target.host, checked.addresses);
  return new Promise((resolve) => {
    const client = url.startsWith("https:") ? https : http;
    const req = client.request(url, { method: "GET", headers: { "user-agent": userAgent }, agent: false, lookup }, (res) => {
      finish({ ok: true, url, status: res.statusCode ?? 0, durationMs: Date.now() - started });
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error("timed out"), { code: "TIMEOUT" })), Math.max(1, timeoutMs - (Date.now() - started)));
    req.on("error", (error: NodeJS.ErrnoException) => finish({ ok: false, url, error: describe(error), durationMs: Date.now() - started }));
    req.end();
    let settled = false;
    function finish(outcome: PreflightOutcome) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(outcome);
    }
  });
}

export function unreachableMessage(outcome: PreflightOutcome): string {
  return `the target ${outcome.url} is unreachable (${outcome.error ?? "no answer"}); the load test was not started`;
}
