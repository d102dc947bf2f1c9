// Starts a child that holds memory outside any V8 heap (Buffers), a little at a time, and waits.
import { spawn } from "node:child_process";

const child = spawn(process.execPath, ["-e", `
  const held = [];
  setInterval(() => { held.push(Buffer.alloc(8 * 1024 * 1024, 1)); console.log("holding", held.length * 8, "MiB"); }, 20);
`], { stdio: "inherit" });
child.on("exit", (code, signal) => process.exit(code ?? 1));
