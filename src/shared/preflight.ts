// The pre-flight check: one GET to the target's base URL before a load test starts. Any HTTP
// answer (whatever its status) means the target is reachable; a DNS failure, refused or reset
// connection, TLS failure or timeout means it is not, and the run fails fast as
// TARGET_UNREACHABLE instead of burning the whole test.

export interface PreflightOutcome {
  ok: boolean;
  url: string;
  status?: number;
  error?: string;
  durationMs: number;
}

export const PREFLIGHT_TIMEOUT_MS = 10_000;
export const TARGET_UNREACHABLE = "TARGET_UNREACHABLE";

function describe(error: unknown): string {
  const err = error as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return "no answer (timed out)";
  const cause = err?.cause;
  if (cause?.code) return `${cause.code}${cause.message && !cause.message.includes(cause.code) ? `: ${cause.message}` : cause.message ? ` (${cause.message})` : ""}`;
  return cause?.message ?? err?.message ?? String(error);
}

export async function preflight(url: string, timeoutMs = PREFLIGHT_TIMEOUT_MS, userAgent = "HackLoad-LoadTest/1.0"): Promise<PreflightOutcome> {
  const started = Date.now();
  try {
    const response = await fetch(url, { method: "GET", redirect: "manual", headers: { "User-Agent": userAgent }, signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel().catch(() => {});
    return { ok: true, url, status: response.status, durationMs: Date.now() - started };
  } catch (error) {
    return { ok: false, url, error: describe(error), durationMs: Date.now() - started };
  }
}

export function unreachableMessage(outcome: PreflightOutcome): string {
  return `the target ${outcome.url} is unreachable (${outcome.error ?? "no answer"}); the load test was not started`;
}
