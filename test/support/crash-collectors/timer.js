// The real timer (dist/collectors/timer.js), after recording its start: a line
// "<JOB_ID>/<JOB_ATTEMPT>" appended to CRASH_STARTS_FILE (passed through LOCAL_PASS_ENV), so the
// crash test sees every workload started, and whether one attempt ever started twice.
import { appendFileSync } from "node:fs";

appendFileSync(process.env.CRASH_STARTS_FILE, `${process.env.JOB_ID}/${process.env.JOB_ATTEMPT}\n`);
await import(new URL("../../../dist/collectors/timer.js", import.meta.url).href);
