#!/usr/bin/env node
// The README's first check, through server reflection only (no .proto files), as a
// user would do it with grpcurl: schedule a 2 s timer, watch it from its first
// transition to the end, and fail unless it went QUEUED → STARTING → RUNNING → SUCCEEDED.
//   node scripts/smoke.mjs [host:port]        (default localhost:50054)
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const address = process.argv[2] ?? process.env.JOBSCHEDULER_ADDRESS ?? "localhost:50054";
const grpcCall = fileURLToPath(new URL("./grpc-call.mjs", import.meta.url));

function call(method, body) {
  const output = execFileSync(process.execPath, [grpcCall, "-d", JSON.stringify(body), address, `jobscheduler.v1.JobScheduler/${method}`], {
    encoding: "utf8",
    timeout: 60_000,
  });
  // One JSON document per message; split on document boundaries.
  return output.split(/\n(?=\{)/).filter((s) => s.trim()).map((s) => JSON.parse(s));
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
  console.error(`smoke test FAILED: expected ${expected.join(" → ")} and a completed result`);
  process.exit(1);
}
console.log("smoke test passed");
