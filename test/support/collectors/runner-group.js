// A program with a runner in a process group (and session) of its own, as the k6 coordinator
// starts each k6. RUNNER=signals: the runner records every signal it gets in SIGNALS_FILE and
// ignores it; this program forwards its own first SIGTERM to the runner's group, once, and then
// ignores stops, so only a SIGKILL ends either. RUNNER=memory: the runner holds ever more memory
// outside any V8 heap. The runner's pid goes to PID_FILE once it is ready.
import { spawn } from "node:child_process";

const runners = {
  signals: `
    const { appendFileSync, writeFileSync } = require("node:fs");
    for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => appendFileSync(process.env.SIGNALS_FILE, signal + "\\n"));
    writeFileSync(process.env.PID_FILE, String(process.pid));
    setInterval(() => {}, 1000);
  `,
  memory: `
    require("node:fs").writeFileSync(process.env.PID_FILE, String(process.pid));
    const held = [];
    setInterval(() => { held.push(Buffer.alloc(8 * 1024 * 1024, 1)); console.log("runner holding", held.length * 8, "MiB"); }, 20);
  `,
};
const runner = spawn(process.execPath, ["-e", runners[process.env.RUNNER]], { detached: true, stdio: ["ignore", "inherit", "inherit"] });
let forwarded = false;
process.on("SIGTERM", () => {
  if (forwarded) return;
  forwarded = true;
  process.kill(-runner.pid, "SIGTERM");
});
setInterval(() => {}, 1000);
