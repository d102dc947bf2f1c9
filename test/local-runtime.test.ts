import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { getPriority } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobPlacement, JobRecord } from "../src/jobs/job.js";
import { findProcessesWithMarker, isAlive, runMarker } from "../src/runtime/local/orphans.js";
import { LocalRuntime, localMemoryLimits } from "../src/runtime/local/local-runtime.js";
import type { RunEnd, RuntimeListener } from "../src/runtime/runtime.js";
import { makeJob } from "./support/job-fixtures.js";
import { cleanup, ROOT, tempDir, waitFor } from "./support/service.js";

const collectorsDir = join(ROOT, "test/support/collectors");
let runsDir: string;

class RecordingListener implements RuntimeListener {
  /** Every report, in the order received: "running <id>", "finished <id>". */
  readonly calls: string[] = [];
  readonly running = async (job: JobRecord, _placement: JobPlacement) => {
    this.calls.push(`running ${job.id}`);
  };
  readonly ends = new Map<string, RunEnd>();
  readonly finished = async (job: JobRecord, end: RunEnd) => {
    this.calls.push(`finished ${job.id}`);
    this.ends.set(job.id, end);
  };
  waitForEnd(jobId: string): Promise<RunEnd> {
    return waitFor(async () => this.ends.get(jobId), 20_000);
  }
}

function runtime(overrides: Partial<ConstructorParameters<typeof LocalRuntime>[0]> = {}) {
  const listener = new RecordingListener();
  const rt = new LocalRuntime({
    collectorsDir,
    runsDir,
    killGraceMs: 300,
    outputTailBytes: 1024,
    passEnv: ["PATH"],
    runNice: 10,
    logger: pino({ level: "silent" }),
    ...overrides,
  });
  rt.setListener(listener);
  return { rt, listener };
}

function readIfPresent(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

beforeAll(() => {
  runsDir = tempDir("jobscheduler-runs-");
});
afterAll(() => cleanup(runsDir));

describe("the local runtime", () => {
  it("gives a run only its workload's environment, never the service's own", async () => {
    process.env.HUB_API_KEY = "sk_secret_of_the_service";
    process.env.DATABASE_URL = "postgres://user:password@db/prod";
    const { rt, listener } = runtime();
    const job = makeJob({ type: "timer" });
    await rt.launch(job, {
      collector: "env-dump",
      env: { TARGET: "http://example" },
      secretEnv: { RUN_TOKEN: { value: "token-for-this-run", secretKeyRef: { name: "run-secrets", key: "RUN_TOKEN" } } },
    });
    const end = await listener.waitForEnd(job.id);
    expect(end.kind).toBe("exited");
    const { env, argv } = JSON.parse(end.output.rawResult!);
    expect(env.TARGET).toBe("http://example");
    // Locally there is no Secret to read: the run gets the value itself.
    expect(env.RUN_TOKEN).toBe("token-for-this-run");
    expect(env.JOB_ID).toBe(job.id);
    expect(env.JOB_ATTEMPT).toBe("1");
    expect(env.PATH).toBe(process.env.PATH);
    expect(env.HUB_API_KEY).toBeUndefined();
    expect(env.DATABASE_URL).toBeUndefined();
    expect(Object.values(env)).not.toContain("sk_secret_of_the_service");
    expect(argv).toEqual([runMarker(job.id, 1)]);
  });

  it("runs below the service's CPU priority, its session's scheduling group included", async () => {
    const { rt, listener } = runtime({ runNice: 7 });
    const job = makeJob({ timeoutMs: 30_000 });
    const placement = await rt.launch(job, { collector: "ignore-term", env: {} });
    expect(getPriority(placement.pid!)).toBe(7);
    // Autogroup scheduling is a kernel option: where it is on, the run's group must be niced too.
    const autogroupOn = readIfPresent("/proc/sys/kernel/sched_autogroup_enabled")?.trim() === "1";
    const autogroup = readIfPresent(`/proc/${placement.pid}/autogroup`);
    if (autogroupOn) expect(autogroup).toMatch(/nice 7\s*$/);
    else console.info(`autogroup not checked: this kernel schedules without autogroups (sched_autogroup_enabled: ${readIfPresent("/proc/sys/kernel/sched_autogroup_enabled")?.trim() ?? "absent"})`);
    await rt.cancel(job);
    expect((await listener.waitForEnd(job.id)).kind).toBe("cancelled");
  });

  it("reports a non-zero exit with its code and the output tail", async () => {
    const { rt, listener } = runtime();
    const job = makeJob();
    await rt.launch(job, { collector: "exit-code", env: { EXIT_WITH: "7" } });
    const end = await listener.waitForEnd(job.id);
    expect(end).toMatchObject({ kind: "exited", exitCode: 7 });
    expect(end.output.outputTail).toContain("failing on purpose with 7");
  });

  it("caps memory from the job's limit and reports running out of it as OOM_KILLED", async () => {
    const { rt, listener } = runtime();
    const job = makeJob({ resources: { cpuRequest: "100m", cpuLimit: "100m", memoryRequest: "32Mi", memoryLimit: "48Mi" } });
    await rt.launch(job, { collector: "memory-hog", env: {} });
    const end = await listener.waitForEnd(job.id);
    expect(end).toMatchObject({ kind: "failed", reason: "OOM_KILLED" });
    if (end.kind === "failed") expect(end.message).toContain("48Mi");
  });

  it.runIf(existsSync("/proc/self/statm"))("counts the resident memory of the run's children and outside the V8 heap, as a container limit does", async () => {
    const { rt, listener } = runtime();
    const job = makeJob({ resources: { cpuRequest: "100m", cpuLimit: "100m", memoryRequest: "64Mi", memoryLimit: "160Mi" } });
    await rt.launch(job, { collector: "native-memory-child", env: {} });
    const end = await listener.waitForEnd(job.id);
    expect(end).toMatchObject({ kind: "failed", reason: "OOM_KILLED" });
    if (end.kind !== "failed") return;
    expect(end.message).toMatch(/killed after using \d+ MiB, over its memory limit of 160Mi/);
    const used = Number(/using (\d+) MiB/.exec(end.message)![1]);
    expect(used).toBeGreaterThan(160);
    // Caught within a few checks, long before the child would have held gigabytes.
    expect(used).toBeLessThan(1024);
    // The grandchild holding the memory went with the run.
    expect(findProcessesWithMarker(runMarker(job.id, 1))).toEqual([]);
    expect(end.output.outputTail).toContain("holding");
  });

  it("gives a run with separate runner programs (k6) the job's limit for its program and the runners' for each runner", () => {
    const job = makeJob({ resources: { cpuRequest: "1", cpuLimit: "1", memoryRequest: "1Gi", memoryLimit: "256Mi" } });
    const MiB = 1024 * 1024;
    expect(localMemoryLimits(job, { collector: "timer", env: {} })).toEqual({ ownBytes: 256 * MiB });
    const program = { image: "grafana/k6:1.2.0", command: ["k6"], parallelism: 3, startTimeoutMs: 60_000 };
    expect(localMemoryLimits(job, { collector: "k6", env: {}, program })).toEqual({ ownBytes: 256 * MiB, groupBytes: 256 * MiB });
    expect(localMemoryLimits(job, { collector: "k6", env: {}, program: { ...program, resources: { cpu: "1", memory: "1Gi" } } })).toEqual({ ownBytes: 256 * MiB, groupBytes: 1024 * MiB });
  });

  it.runIf(existsSync("/proc/self/statm"))("kills the run when one runner's process group passes the runners' limit, whatever the total allows", async () => {
    const { rt, listener } = runtime();
    const dir = tempDir("runner-group-");
    const job = makeJob({ resources: { cpuRequest: "100m", cpuLimit: "100m", memoryRequest: "1Gi", memoryLimit: "1Gi" } });
    const program = { image: "unused", command: ["unused"], parallelism: 4, startTimeoutMs: 60_000, resources: { cpu: "1", memory: "96Mi" } };
    await rt.launch(job, { collector: "runner-group", env: { RUNNER: "memory", PID_FILE: join(dir, "runner.pid") }, program });
    const end = await listener.waitForEnd(job.id);
    expect(end).toMatchObject({ kind: "failed", reason: "OOM_KILLED" });
    if (end.kind !== "failed") return;
    expect(end.message).toMatch(/^killed after one of its runners \(process group \d+\) used \d+ MiB, over the runners' memory limit of 96Mi$/);
    // Caught within a few checks: far below the 1Gi + 4 x 96Mi the whole run could have held.
    expect(Number(/used (\d+) MiB/.exec(end.message)![1])).toBeLessThan(1024);
    const runner = Number(readFileSync(join(dir, "runner.pid"), "utf8"));
    await waitFor(async () => !isAlive(runner), 5000);
    cleanup(dir);
  });

  it("enforces the timeout with SIGTERM, then SIGKILL after the grace period", async () => {
    // The timeout runs from the launch: it must leave the program time to start and install its
    // handler even on a loaded machine (node's start alone took over 500 ms in CI), or the first
    // SIGTERM kills it and there is nothing to escalate.
    const { rt, listener } = runtime({ killGraceMs: 400 });
    const job = makeJob({ timeoutMs: 2500 });
    const started = Date.now();
    await rt.launch(job, { collector: "ignore-term", env: {} });
    const end = await listener.waitForEnd(job.id);
    const elapsed = Date.now() - started;
    expect(end.kind).toBe("timed-out");
    expect(end.output.outputTail).toContain("started");
    expect(end.output.outputTail).toContain("ignoring SIGTERM");
    expect(elapsed).toBeGreaterThanOrEqual(2500 + 400 - 50);
    expect(findProcessesWithMarker(runMarker(job.id, 1))).toEqual([]);
  });

  it("stops the whole process group on cancel, grandchildren included", async () => {
    const { rt, listener } = runtime();
    const job = makeJob();
    await rt.launch(job, { collector: "spawner", env: {} });
    const pidFile = join(runsDir, `grandchild-${job.id}.pid`);
    const grandchild = await waitFor(async () => {
      try {
        return Number(readFileSync(pidFile, "utf8"));
      } catch {
        return undefined;
      }
    });
    expect(isAlive(grandchild)).toBe(true);
    expect(await rt.cancel(job)).toBe(true);
    const end = await listener.waitForEnd(job.id);
    expect(end.kind).toBe("cancelled");
    await waitFor(async () => !isAlive(grandchild), 5000);
    expect(await rt.cancel(job)).toBe(false);
  });

  it("stops a program's own process groups through the program only (one SIGTERM each), then SIGKILLs them too after the grace period", async () => {
    const { rt, listener } = runtime({ killGraceMs: 500 });
    const dir = tempDir("runner-group-");
    const [pidFile, signalsFile] = [join(dir, "runner.pid"), join(dir, "signals")];
    writeFileSync(signalsFile, "");
    const job = makeJob();
    await rt.launch(job, { collector: "runner-group", env: { RUNNER: "signals", PID_FILE: pidFile, SIGNALS_FILE: signalsFile } });
    const runner = await waitFor(async () => (existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : undefined));
    expect(await rt.cancel(job)).toBe(true);
    expect((await listener.waitForEnd(job.id)).kind).toBe("cancelled");
    await waitFor(async () => !isAlive(runner), 5000);
    expect(readFileSync(signalsFile, "utf8")).toBe("SIGTERM\n");
    cleanup(dir);
  });

  it("reports a program that reports its own start as running only once it says so (JOB_STATUS_FD)", async () => {
    const { rt, listener } = runtime();
    const dir = tempDir("reports-running-");
    const [ready, go] = [join(dir, "ready"), join(dir, "go")];
    const job = makeJob();
    await rt.launch(job, { collector: "reports-running", env: { READY_FILE: ready, GO_FILE: go }, reportsRunning: true });
    expect(await waitFor(async () => (existsSync(ready) ? readFileSync(ready, "utf8") : undefined))).toBe("3");
    // Waiting for GO_FILE, it cannot have said anything yet.
    expect(listener.calls).toEqual([]);
    writeFileSync(go, "");
    expect(await listener.waitForEnd(job.id)).toMatchObject({ kind: "exited", exitCode: 0 });
    expect(listener.calls).toEqual([`running ${job.id}`, `finished ${job.id}`]);

    // One that ends without saying so never was running.
    const silent = makeJob();
    await rt.launch(silent, { collector: "reports-running", env: { EXIT_FIRST: "1" }, reportsRunning: true });
    expect(await listener.waitForEnd(silent.id)).toMatchObject({ kind: "exited", exitCode: 0 });
    expect(listener.calls.filter((call) => call.endsWith(silent.id))).toEqual([`finished ${silent.id}`]);
    cleanup(dir);
  });

  it("keeps only the last bytes of a chatty run's output", async () => {
    const { rt, listener } = runtime({ outputTailBytes: 1024 });
    const job = makeJob();
    await rt.launch(job, { collector: "chatty", env: {} });
    const end = await listener.waitForEnd(job.id);
    expect(Buffer.byteLength(end.output.outputTail)).toBeLessThanOrEqual(1024);
    expect(end.output.outputTail.trimEnd().endsWith("last line")).toBe(true);
    expect(end.output.outputTail).toContain("line 4999");
  });

  /** A previous instance of the service that launched `job` and died before recording its end (its listener never answers). */
  async function launchedByPreviousInstance(job: JobRecord, env: Record<string, string>): Promise<number> {
    const previous = new LocalRuntime({
      collectorsDir, runsDir, killGraceMs: 300, outputTailBytes: 1024, passEnv: ["PATH"], runNice: 10, logger: pino({ level: "silent" }),
    });
    previous.setListener({ running: async () => {}, finished: () => new Promise(() => {}) });
    const placement = await previous.launch(job, { collector: "wait-go", env });
    return placement.pid!;
  }

  function goEnv(dir: string, extra: Record<string, string> = {}): Record<string, string> {
    return { STARTS_FILE: join(dir, "starts"), GO_FILE: join(dir, "go"), ...extra };
  }

  it("on recovery adopts a live run of a previous instance and reports its real exit once it ends, without starting it again", async () => {
    const dir = tempDir();
    const job = makeJob({ state: "STARTING" });
    const pid = await launchedByPreviousInstance(job, goEnv(dir, { EXIT_WITH: "3" }));
    await waitFor(async () => existsSync(join(dir, "starts")));

    const { rt, listener } = runtime();
    const decisions = await rt.recover([job]);
    expect(decisions.get(job.id)).toEqual({ action: "adopted" });
    expect(rt.activeRuns()).toBe(1);
    // A STARTING job whose program is alive is running.
    await waitFor(async () => listener.calls.includes(`running ${job.id}`));
    expect(listener.ends.has(job.id)).toBe(false);
    expect(isAlive(pid)).toBe(true);

    writeFileSync(join(dir, "go"), "");
    const end = await listener.waitForEnd(job.id);
    expect(end).toMatchObject({ kind: "exited", exitCode: 3, output: { rawResult: '{"done":true}' } });
    expect(readFileSync(join(dir, "starts"), "utf8")).toBe(`${job.id}/1\n`);
    await waitFor(async () => !existsSync(join(runsDir, `${job.id}-1`)));
    expect(rt.activeRuns()).toBe(0);
    cleanup(dir);
  });

  it("on recovery reports a run that ended while no service watched it with its real outcome, and removes its directory", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "go"), "");
    const job = makeJob({ state: "RUNNING", placement: { runtime: "local", location: "pid 1 on old-host", pid: 1 } });
    const pid = await launchedByPreviousInstance(job, goEnv(dir));
    // Ended: its exit recorded and its program gone (it writes the file a moment before it exits).
    await waitFor(async () => existsSync(join(runsDir, `${job.id}-1`, "exit-code")) && !isAlive(pid));

    const { rt, listener } = runtime();
    expect(await rt.recover([job])).toEqual(new Map([[job.id, { action: "adopted" }]]));
    // Reported before recover resolves, so before dispatching starts.
    expect(listener.ends.get(job.id)).toMatchObject({ kind: "exited", exitCode: 0, output: { rawResult: '{"done":true}' } });
    await waitFor(async () => !existsSync(join(runsDir, `${job.id}-1`)));
    expect(readFileSync(join(dir, "starts"), "utf8")).toBe(`${job.id}/1\n`);
    cleanup(dir);
  });

  it("on recovery reports interrupted a run that died without recording an exit, killing its runners in groups of their own", async () => {
    const { rt, listener } = runtime();
    const job = makeJob({ state: "RUNNING", placement: { runtime: "local", location: "pid 1 on old-host", pid: 1 } });
    const runDir = join(runsDir, `${job.id}-1`);
    mkdirSync(runDir);
    writeFileSync(join(runDir, "result.json"), '{"partial":true}');
    // A runner its program started in a group of its own (it inherited the run's environment); the program is gone.
    const runner = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {
      detached: true, stdio: "ignore", env: { PATH: process.env.PATH, JOB_ID: job.id, JOB_ATTEMPT: String(job.attempt) },
    });
    await waitFor(async () => readIfPresent(`/proc/${runner.pid}/environ`)?.includes(`JOB_ID=${job.id}`));
    expect(await rt.recover([job])).toEqual(new Map([[job.id, { action: "adopted" }]]));
    const end = listener.ends.get(job.id);
    expect(end).toMatchObject({ kind: "interrupted", output: { rawResult: '{"partial":true}' } });
    expect((end as { message: string }).message).toBe(
      "the service stopped while the job was running (pid 1 on old-host) and the run ended without recording an exit; its leftover processes were killed",
    );
    await waitFor(async () => runner.exitCode !== null || runner.signalCode !== null, 5000);
    expect(runner.signalCode).toBe("SIGKILL");
    await waitFor(async () => !existsSync(runDir));
  });

  it("on recovery leaves a job whose run was never launched to the caller, and removes the directories of runs no job is in flight for", async () => {
    const { rt, listener } = runtime();
    const job = makeJob({ state: "STARTING" });
    const stale = join(runsDir, "recorded-before-the-crash-1");
    mkdirSync(stale);
    writeFileSync(join(stale, "result.json"), "{}");
    expect(await rt.recover([job])).toEqual(new Map([[job.id, { action: "lost", message: "the service stopped before the run was launched" }]]));
    expect(listener.calls).toEqual([]);
    expect(existsSync(stale)).toBe(false);
  });

  it("refuses to launch a collector that does not exist", async () => {
    const { rt } = runtime();
    await expect(rt.launch(makeJob(), { collector: "missing", env: {} })).rejects.toThrow(/missing\.js does not exist/);
  });
});
