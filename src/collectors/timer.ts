// The timer job: waits TIMER_DURATION_MS, then writes its result. Exit codes: 0 done,
// 143 stopped. Its completion callback is not posted here but by the service, through the
// outbox, once the job's end is stored (src/dispatch/callback-delivery.ts): a run the service
// must interrupt or re-adopt after a crash can never post it twice.
import { reportRunning, requireEnv, sleep, stopRequested, writeResult } from "./io.js";

const durationMs = Number(requireEnv("TIMER_DURATION_MS"));
const timerName = requireEnv("TIMER_NAME");

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

writeResult({ timerName, durationMs, elapsedMs, completed: true });
console.log(`timer ${timerName}: done`);
