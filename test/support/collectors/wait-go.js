// A program that records its start (a line "<JOB_ID>/<JOB_ATTEMPT>" appended to STARTS_FILE),
// waits for GO_FILE, then writes {"done":true} as its result and exits with EXIT_WITH (0).
import { appendFileSync, existsSync, renameSync, writeFileSync } from "node:fs";

appendFileSync(process.env.STARTS_FILE, `${process.env.JOB_ID}/${process.env.JOB_ATTEMPT}\n`);
const timer = setInterval(() => {
  if (!existsSync(process.env.GO_FILE)) return;
  clearInterval(timer);
  writeFileSync(`${process.env.JOB_RESULT_FILE}.tmp`, JSON.stringify({ done: true }));
  renameSync(`${process.env.JOB_RESULT_FILE}.tmp`, process.env.JOB_RESULT_FILE);
  process.exit(Number(process.env.EXIT_WITH ?? 0));
}, 20);
