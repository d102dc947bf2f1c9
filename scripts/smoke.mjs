#!/usr/bin/env node
// The README's first check, through server reflection only (no .proto files), as a user would
// do it with grpcurl: schedule a 2 s timer, watch it from its first transition to the end, and
// fail unless it went QUEUED → STARTING → RUNNING → SUCCEEDED.
//   npm run smoke [-- host:port]        (default localhost:50054, or JOBSCHEDULER_ADDRESS)
// Any failure is one line on stderr and exit code 1 (e.g. "smoke: nothing answers at
// localhost:50054 (connection refused)").
// The API key: JOBSCHEDULER_API_KEY, else the admin key the service generated at its first
// start ($DATA_DIR/admin.key, default ./data/admin.key), as after `npm start` in this directory.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const address = process.argv[2] ?? process.env.JOBSCHEDULER_ADDRESS ?? "localhost:50054";
const env = { ...process.env };
if (!env.JOBSCHEDULER_API_KEY) {
  try {
    env.JOBSCHEDULER_API_KEY = readFileSync(join(env.DATA_DIR ?? "data", "admin.key"), "utf8").trim();
  } catch {
    // no key file: the call goes without one, and an UNAUTHENTICATED answer says what is missing
  }
}
const grpcCall = fileURLToPath(new URL("./grpc-call.mjs", import.meta.url));
const WATCH_SECONDS = 60;

function fail(line) {
  console.error(`smoke: ${line}`);
  process.exit(1);
}

/** Runs grpc-call.mjs as grpcurl would be run; gives the response messages, or ends the smoke test in one line. */
function call(method, body) {
  const args = ["-plaintext", "-max-time", String(WATCH_SECONDS), "-d", JSON.stringify(body), address, `jobscheduler.v1.JobScheduler/${method}`];
  const run = spawnSync(process.execPath, [grpcCall, ...args], { encoding: "utf8", env });
  // One JSON document per message; split on document boundaries.
  const messages = run.stdout.split(/\n(?=\{)/).filter((s) => s.trim()).map((s) => JSON.parse(s));
  if (run.status === 0) return messages;
  const stderr = run.stderr.trim();
  const unreachable = /^Failed to dial target host "[^"]*": (.*)$/m.exec(stderr);
  if (unreachable) fail(`nothing answers at ${address} (${unreachable[1]})`);
  const status = /Code: (\S+)\s+Message: (.*)/s.exec(stderr);
  const seen = messages.length ? ` after ${messages.map((m) => m.state?.replace("JOB_STATE_", "")).join(" → ")}` : "";
  if (status?.[1] === "Unauthenticated") {
    fail(`${method} answered Unauthenticated: set JOBSCHEDULER_API_KEY, or run this where the service keeps data/admin.key (or set DATA_DIR)`);
  }
  if (status) fail(`${method} answered ${status[1]}: ${status[2].replace(/\s+/g, " ")}${seen}`);
  fail(`${method} failed: ${stderr.replace(/\s+/g, " ") || `grpc-call.mjs exited with ${run.status ?? run.signal}`}`);
}

const [{ job }] = call("ScheduleJob", {
  name: "smoke",
  timer: { duration: "2s", timer_name: "smoke-test" },
});
console.log(`scheduled job ${job.id} (${job.state})`);

const events = call("WatchJob", { job_id: job.id, after_sequence: 0 });
const states = events.map((e) => e.state.replace("JOB_STATE_", ""));
console.log(`transitions: ${states.join(" → ")}`);
const last = events.at(-1).job;
console.log(`result: ${JSON.stringify(last.result)}`);

const expected = ["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"];
if (states.join() !== expected.join() || last.result?.completed !== true) {
  const why = last.message ? ` (${last.reason ?? last.state}: ${last.message})` : "";
  fail(`expected ${expected.join(" → ")} and a completed result, got ${states.join(" → ")}${why}`);
}
console.log("smoke test passed");
