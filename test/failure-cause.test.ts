import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failureCause } from "../src/dispatch/failure-cause.js";
import { JobState } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { ms, timerJob } from "./support/requests.js";
import { call, cleanup, startService, tempDir, waitFor, type TestService } from "./support/service.js";

/** What a real node process prints when it dies of an uncaught ENOENT. */
function nodeCrashOutput(): string {
  const crash = spawnSync(process.execPath, ["-e", "require('node:fs').readFileSync('data/runs/x-1/result.json')"], { encoding: "utf8" });
  return crash.stdout + crash.stderr;
}

describe("the cause of a failed run, picked from its output tail", () => {
  it("is the error line of a node crash, not the trailing 'Node.js v20' line", () => {
    const output = nodeCrashOutput();
    expect(output.trim().split("\n").at(-1)).toMatch(/^Node\.js v\d/);
    expect(failureCause(output)).toBe("Error: ENOENT: no such file or directory, open 'data/runs/x-1/result.json'");
  });

  it("prefers error lines of other programs (k6's level=error, a Go panic) and else the last meaningful line", () => {
    expect(failureCause('running\nlevel=error msg="script not found" source=stacktrace\nbye\n')).toBe('level=error msg="script not found" source=stacktrace');
    expect(failureCause("starting\npanic: runtime error: index out of range\n\ngoroutine 1 [running]:\n")).toBe("panic: runtime error: index out of range");
    expect(failureCause("step 1\nstep 2 gave up\n")).toBe("step 2 gave up");
    expect(failureCause("")).toBe("");
    expect(failureCause(`Error: ${"x".repeat(1000)}`)).toHaveLength(301);
  });
});

describe("a collector that dies before writing its result", () => {
  let service: TestService;
  let dataDir: string;
  let collectorsDir: string;

  beforeAll(async () => {
    dataDir = tempDir();
    collectorsDir = tempDir("jobscheduler-collectors-");
    writeFileSync(join(collectorsDir, "timer.js"), "import { readFileSync } from 'node:fs';\nreadFileSync(process.env.JOB_RESULT_FILE + '.missing');\n");
    service = await startService({ COLLECTORS_DIR: collectorsDir }, dataDir);
  });
  afterAll(async () => {
    await service?.stop();
    cleanup(dataDir);
    cleanup(collectorsDir);
  });

  it("fails with the error line as its message and keeps the whole tail in output_tail", async () => {
    const { job } = await call(service.client, service.client.scheduleJob, timerJob(10));
    const failed = await waitFor(async () => {
      const current = await call(service.client, service.client.getJobStatus, { jobId: job!.id });
      return current!.state === JobState.JOB_STATE_FAILED ? current : undefined;
    });
    expect(failed!.message).toMatch(/^exited with code 1: Error: ENOENT: no such file or directory, open '.*\.missing'$/);
    expect(failed!.outputTail).toContain("Node.js v");
  });

  it("is an application verdict: never retried, whatever the retry policy allows", async () => {
    const retryPolicy = { maxAttempts: 3, initialBackoff: ms(10), backoffMultiplier: 1, maxBackoff: ms(10), jitter: 0, retryOnTimeout: true };
    const { job } = await call(service.client, service.client.scheduleJob, timerJob(10, { retryPolicy }));
    const failed = await waitFor(async () => {
      const current = await call(service.client, service.client.getJobStatus, { jobId: job!.id });
      return current.state === JobState.JOB_STATE_FAILED ? current : undefined;
    });
    expect(failed).toMatchObject({ reason: "EXIT_CODE", attempt: 1, maxAttempts: 3 });
    expect(failed!.attempts).toEqual([]);
  });
});
