// A program that says itself when it is running (Workload.reportsRunning): it writes READY_FILE,
// waits for GO_FILE, then writes a line of chatter and `running` to JOB_STATUS_FD and ends.
// With EXIT_FIRST it ends at once, never saying so.
import { existsSync, writeFileSync, writeSync } from "node:fs";

const { GO_FILE, READY_FILE, EXIT_FIRST, JOB_STATUS_FD } = process.env;
if (EXIT_FIRST) process.exit(0);
writeFileSync(READY_FILE, String(JOB_STATUS_FD));
const timer = setInterval(() => {
  if (!existsSync(GO_FILE)) return;
  clearInterval(timer);
  writeSync(Number(JOB_STATUS_FD), "warming up\nrun");
  writeSync(Number(JOB_STATUS_FD), "ning\n");
  writeFileSync(process.env.JOB_RESULT_FILE, "{}");
}, 20);
