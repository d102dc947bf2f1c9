// The timer job: waits TIMER_DURATION_MS, then writes its result and, when
// TIMER_CALLBACK_URL is set, POSTs the result there (as the seed's timer reports
// to its control plane). Exit codes: 0 done, 2 callback never accepted, 143 stopped.
import { reportRunning, requireEnv, sleep, stopRequested, writeResult } from "./io.js";

const durationMs = Number(requireEnv("TIMER_DURATION_MS"));
const timerName = requireEnv("TIMER_NAME");
const callbackUrl = process.env.TIMER_CALLBACK_URL;
const jobId = process.env.JOB_ID ?? "";
const CALLBACK_ATTEMPTS = 3;

const startedAt = Date.now();
console.log(`timer ${timerName}: waiting ${durationMs} ms`);

const stop = stopRequested();
reportRunning();
const outcome = await Promise.race([sleep(durationMs).then(() => "elapsed" as const), stop]);
const elapsedMs = Date.now() - startedAt;

if (outcome !== "elapsed") {
  console.log(`timer ${timerName}: stopped by ${outcome} after ${elapsedMs} ms`);
  writeResult({ timerName, durationMs, elapsedMs, completed: false });
  process.exit(143);
}

const result = { timerName, durationMs, elapsedMs, completed: true };
if (!callbackUrl) {
  writeResult(result);
  console.log(`timer ${timerName}: done`);
  process.exit(0);
}

const callback = await deliverCallback(callbackUrl, { jobId, ...result, finishedAt: new Date().toISOString() });
writeResult({ ...result, callback });
if (!callback.delivered) {
  console.error(`timer ${timerName}: completion callback to ${callbackUrl} failed: ${callback.error}`);
  process.exit(2);
}
console.log(`timer ${timerName}: done, callback answered ${callback.status}`);

interface CallbackOutcome {
  url: string;
  delivered: boolean;
  status?: number;
  attempts: number;
  error?: string;
}

async function deliverCallback(url: string, body: Record<string, unknown>): Promise<CallbackOutcome> {
  let lastError = "";
  let lastStatus: number | undefined;
  let attempts = 0;
  for (let attempt = 1; attempt <= CALLBACK_ATTEMPTS; attempt++) {
    attempts = attempt;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": "jobscheduler-timer/1" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      lastStatus = response.status;
      if (response.ok) return { url, delivered: true, status: response.status, attempts: attempt };
      lastError = `HTTP ${response.status}`;
      if (response.status < 500 && response.status !== 429) break;
    } catch (error) {
      lastError = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    }
    if (attempt < CALLBACK_ATTEMPTS) await sleep(250 * 2 ** attempt);
  }
  return { url, delivered: false, ...(lastStatus ? { status: lastStatus } : {}), attempts, error: lastError };
}
