// Runs one of the built collector programs (dist/collectors/<name>.js) the way the local
// runtime does: a child process told everything through its environment, writing its result
// to JOB_RESULT_FILE.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COLLECTORS_DIR } from "./service.js";

export interface CollectorRun {
  exitCode: number | null;
  result: Record<string, unknown> | null;
  rawResult: string | null;
  output: string;
  elapsedMs: number;
}

export async function runCollector(name: string, env: Record<string, string>, timeoutMs = 30_000): Promise<CollectorRun> {
  const dir = mkdtempSync(join(tmpdir(), `collector-${name}-`));
  const resultFile = join(dir, "result.json");
  const started = performance.now();
  try {
    const child = spawn(process.execPath, [join(COLLECTORS_DIR, `${name}.js`)], {
      env: { PATH: process.env.PATH ?? "", ...env, JOB_RESULT_FILE: resultFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const exitCode = await new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    clearTimeout(timer);
    let rawResult: string | null = null;
    try {
      rawResult = readFileSync(resultFile, "utf8");
    } catch {
      // no result written
    }
    return { exitCode, rawResult, result: rawResult ? JSON.parse(rawResult) : null, output, elapsedMs: performance.now() - started };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
