// The README's quick start, word for word: a fresh copy of the repository, `npm start` in
// it with no settings but free ports, then `npm run smoke`. Nothing here may set a path
// (DATA_DIR, COLLECTORS_DIR, ...): the defaults are what a new user runs.
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, ROOT, tempDir } from "./support/service.js";

const run = promisify(execFile);
let copy: string;
let service: ChildProcess;
let output = "";
let grpcPort: number;

/** The repository as a clone has it (tracked and new files, nothing ignored), with the installed node_modules. */
function freshCopy(): string {
  const dir = tempDir("jobscheduler-fresh-");
  const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" })
    .split("\0")
    .filter((file) => file && existsSync(join(ROOT, file)));
  for (const file of files) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(dir, file));
  }
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

beforeAll(async () => {
  copy = freshCopy();
  // Only the ports are set (0: free ones), so a test never collides with a service already on :50054.
  service = spawn("npm", ["start"], {
    cwd: copy,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? copy, GRPC_PORT: "0", HTTP_PORT: "0", METRICS_PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  service.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  grpcPort = await new Promise<number>((resolve, reject) => {
    service.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /"msg":"jobscheduler ready"/.test(output) && /"grpcPort":(\d+)/.exec(output);
      if (ready) resolve(Number(ready[1]));
    });
    service.once("exit", (code) => reject(new Error(`npm start exited (${code}) before the service was ready:\n${output}`)));
  });
}, 180_000);

afterAll(async () => {
  if (service?.pid && service.exitCode === null) {
    const exited = new Promise((resolve) => service.once("exit", resolve));
    process.kill(-service.pid, "SIGTERM");
    await exited;
  }
  if (copy) cleanup(copy);
});

describe("the README's quick start on a fresh copy, defaults only", () => {
  it("npm start, then npm run smoke: the timer ends SUCCEEDED", async () => {
    const { stdout } = await run("npm", ["run", "smoke", "--", `127.0.0.1:${grpcPort}`], { cwd: copy, env: { PATH: process.env.PATH ?? "" } });
    expect(stdout).toContain("transitions: QUEUED → STARTING → RUNNING → SUCCEEDED");
    expect(stdout).toContain("smoke test passed");
    // The defaults put the store and the runs under ./data of the working directory.
    expect(existsSync(join(copy, "data/jobscheduler.db"))).toBe(true);
  }, 120_000);
});
