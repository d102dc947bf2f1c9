import { execFile, execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { createFileRegistry, fromBinary, fromJsonString, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../src/config.js";
import { runCli } from "./support/cli.js";
import { timerJob } from "./support/requests.js";
import type { JobSchedulerClient } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { baseEnv, call, cleanup, ROOT, spawnService, tempDir, testClient, type ChildService } from "./support/service.js";

const run = promisify(execFile);
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

describe("README.md", () => {
  it("documents every setting, as src/config.ts defines it (npm run docs:config)", async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, "scripts/config-docs.mjs"), "--check"]);
    expect(stdout).toContain("up to date");
    for (const name of Object.keys(configSchema.shape)) expect(readme).toContain(`| \`${name}\` |`);
  });

  it("keeps the two-command quick start: install and start, then test", () => {
    expect(readme).toContain("npm install && npm start");
    expect(readme).toMatch(/^npm test\b/m);
  });

  it("says how npm install builds better-sqlite3 offline, with a nodedir that holds this Node's headers", () => {
    const line = /^export npm_config_nodedir=(.+?)\s+#/m.exec(readme);
    expect(line, "an `export npm_config_nodedir=...` line").not.toBeNull();
    const nodedir = execFileSync("bash", ["-c", `printf %s ${line![1]}`], { encoding: "utf8", env: { PATH: process.env.PATH } });
    expect(existsSync(join(nodedir, "include/node/node_version.h")), `${nodedir}/include/node`).toBe(true);
  });

  it("shows `npm run smoke -- host:port` for a service elsewhere", () => {
    expect(readme).toMatch(/^npm run smoke -- host:port\b/m);
  });
});

// ---------------------------------------------------------------------------------------------
// The grpcurl examples, as a user copies them.

interface Command {
  /** The shell text as the README shows it (continuation lines and multi-line quotes included). */
  text: string;
  /** The arguments grpcurl would get, as bash splits them. */
  args: string[];
}

/** Every `grpcurl ...` command in the README's sh blocks, in order. */
function readmeCommands(): Command[] {
  const commands: string[] = [];
  for (const [, block] of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    let current: string[] | undefined;
    for (const line of block.split("\n")) {
      if (!current && /^grpcurl\s/.test(line)) current = [];
      if (!current) continue;
      current.push(line);
      const text = current.join("\n");
      const openQuote = (text.match(/'/g) ?? []).length % 2 === 1;
      if (!openQuote && !line.endsWith("\\")) {
        commands.push(text);
        current = undefined;
      }
    }
  }
  return commands.map((text) => {
    const split = execFileSync("bash", ["-c", `grpcurl() { printf '%s\\0' "$@"; }\n${text}`], { encoding: "utf8" });
    return { text, args: split.split("\0").slice(0, -1) };
  });
}

interface Invocation {
  data?: string;
  address: string;
  verb: "list" | "describe" | "invoke";
  symbol?: string;
}

/** grpcurl's reading of the arguments the README uses: flags first, then address, verb or method. */
function invocation(args: string[]): Invocation {
  let data: string | undefined;
  let i = 0;
  for (; i < args.length && args[i].startsWith("-"); i++) {
    if (args[i] === "-d") data = args[++i];
    else if (args[i] === "-H" || args[i] === "-max-time") i++;
    else expect(["-plaintext"], `flag ${args[i]}`).toContain(args[i]);
  }
  const [address, second, third] = args.slice(i);
  if (second === "list" || second === "describe") return { data, address, verb: second, symbol: third };
  return { data, address, verb: "invoke", symbol: second };
}

/** The schema as protoc compiles it, health service included: what reflection gives grpcurl. */
function protocRegistry(dir: string): FileRegistry {
  const out = join(dir, "set.binpb");
  execFileSync(process.execPath, [
    join(ROOT, "node_modules/protoc/protoc.cjs"),
    `--proto_path=${join(ROOT, "proto")}`,
    `--proto_path=${join(ROOT, "node_modules/grpc-health-check/proto")}`,
    "--include_imports",
    `--descriptor_set_out=${out}`,
    "jobscheduler/v1/jobscheduler.proto",
    "health/v1/health.proto",
  ]);
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(out)));
}

function findMethod(registry: FileRegistry, symbol: string) {
  const separator = symbol.includes("/") ? symbol.lastIndexOf("/") : symbol.lastIndexOf(".");
  return registry.getService(symbol.slice(0, separator))?.methods.find((m) => m.name === symbol.slice(separator + 1));
}

describe("README.md's grpcurl examples", () => {
  const commands = readmeCommands();
  let dir: string;
  let service: ChildService;
  let client: JobSchedulerClient;

  beforeAll(async () => {
    dir = tempDir("jobscheduler-readme-");
    // No API_KEYS_FILE: as on a user's first start, the service writes data/admin.key, which the
    // README's commands read (they run in `dir`, as in the directory of `npm start`).
    service = await spawnService(baseEnv(join(dir, "data"), { API_KEYS_FILE: "" }));
    client = testClient(`127.0.0.1:${service.grpcPort}`, readFileSync(join(dir, "data/admin.key"), "utf8").trim());
  });

  afterAll(async () => {
    client?.close();
    service.client.close();
    service.process.kill("SIGTERM");
    await service.exited;
    cleanup(dir);
  });

  it("are found, the multi-line ones included", () => {
    expect(commands.length).toBeGreaterThanOrEqual(15);
    expect(commands.filter((c) => c.text.includes("\n")).length).toBeGreaterThanOrEqual(3);
    expect(commands.map((c) => c.args[0])).toEqual(commands.map(() => "-plaintext"));
  });

  it("send requests that are valid proto3 JSON for their method, read as grpcurl reads them", () => {
    const registry = protocRegistry(dir);
    const problems: string[] = [];
    for (const { args } of commands) {
      const { verb, symbol, data } = invocation(args);
      if (verb !== "invoke") {
        if (symbol && !registry.get(symbol)) problems.push(`${verb} ${symbol}: no such symbol`);
        continue;
      }
      const method = findMethod(registry, symbol!);
      if (!method) {
        problems.push(`${symbol}: no such method`);
        continue;
      }
      try {
        fromJsonString(method.input, data ?? "{}", { registry });
      } catch (error) {
        problems.push(`${symbol} ${data}: ${(error as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("run as written against a real service, with grpcurl's arguments given to scripts/grpc-call.mjs", async () => {
    // `grpcurl` on PATH is grpc-call.mjs, so the README's lines run in a real shell unchanged.
    const bin = join(dir, "bin");
    execFileSync("mkdir", ["-p", bin]);
    writeFileSync(join(bin, "grpcurl"), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, "scripts/grpc-call.mjs")}" "$@"\n`);
    chmodSync(join(bin, "grpcurl"), 0o755);
    // As a user's shell: the key comes from the README's -H, not from the tests' JOBSCHEDULER_API_KEY.
    const { JOBSCHEDULER_API_KEY: _testKey, ...userEnv } = process.env;
    const env = { ...userEnv, PATH: `${bin}:${process.env.PATH}` };

    // `<id>`: the job the README schedules; CancelJob and RetryJob act on a job that is still
    // waiting (scheduled here, due in a month), which the README's CancelJob then cancels.
    const waiting = await call(client, client.scheduleJob, timerJob(1000, { name: "waiting", runAt: new Date(Date.now() + 30 * 86_400_000) }));
    let scheduled: string | undefined;
    const idFor = (method: string) => (method === "CancelJob" || method === "RetryJob" ? waiting.job!.id : scheduled);

    for (const command of commands) {
      const { verb, symbol } = invocation(command.args);
      const method = symbol?.split(/[/.]/).at(-1) ?? "";
      let text = command.text.replaceAll("localhost:50054", `127.0.0.1:${service.grpcPort}`);
      if (text.includes("<id>")) text = text.replaceAll("<id>", idFor(method) ?? "<no job scheduled before this line>");
      const result = await runCli("bash", ["-c", text], { env, cwd: dir });
      expect({ command: command.text, status: result.status, stderr: result.stderr }).toEqual({ command: command.text, status: 0, stderr: "" });

      if (verb === "list") expect(result.stdout).toContain("jobscheduler.v1.JobScheduler\n");
      if (verb === "describe") expect(result.stdout).toMatch(/^jobscheduler\.v1\.JobScheduler is a service:\n/);
      if (method === "ScheduleJob" && !scheduled) scheduled = JSON.parse(result.stdout).job.id;
      if (method === "WatchJob") {
        // "then every transition until it ends": the README's job runs to success.
        const states = result.stdout.split(/\n(?=\{)/).map((doc) => JSON.parse(doc).state);
        expect(states).toEqual(["JOB_STATE_QUEUED", "JOB_STATE_STARTING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"]);
      }
      if (method === "CancelJob") expect(JSON.parse(result.stdout)).toMatchObject({ state: "JOB_STATE_CANCELLED" });
      if (method === "RetryJob") expect(JSON.parse(result.stdout)).toMatchObject({ retryOf: waiting.job!.id });
      if (method === "Check") expect(JSON.parse(result.stdout)).toEqual({ status: "SERVING" });
    }
    expect(scheduled).toBeDefined();
  }, 120_000);
});
