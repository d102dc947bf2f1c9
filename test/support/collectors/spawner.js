import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
const grandchild = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
writeFileSync(`${process.env.HOME}/../grandchild-${process.env.JOB_ID}.pid`, String(grandchild.pid));
console.log("spawned", grandchild.pid);
setInterval(() => {}, 1000);
