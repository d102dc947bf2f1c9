// Shared plumbing for collector programs: where the one result document goes, and
// how a program hears that it must stop. On Kubernetes the result path is the
// container's termination message file; the local runtime passes a file path.
import { renameSync, writeFileSync, writeSync } from "node:fs";

export const RESULT_LIMIT_BYTES = 4096;

export function resultPath(): string {
  return process.env.JOB_RESULT_FILE || "/dev/termination-log";
}

export function writeResult(result: Record<string, unknown>): void {
  const text = JSON.stringify(result);
  if (Buffer.byteLength(text) > RESULT_LIMIT_BYTES) {
    console.error(`result is ${Buffer.byteLength(text)} bytes, over the ${RESULT_LIMIT_BYTES}-byte termination message limit`);
  }
  const path = resultPath();
  // A file of our own (the local runtime's) is replaced whole, so whoever reads it after a crash
  // finds either no result or a complete one; the termination log cannot be renamed onto.
  if (!process.env.JOB_RESULT_FILE) return writeFileSync(path, text);
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    console.error(`${name} is not set`);
    process.exit(64);
  }
  return value;
}

/** Resolves when the program is asked to stop (SIGTERM/SIGINT), so it can write a partial result. */
export function stopRequested(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Tells the local runtime the program is up (its stop handlers installed, a split run's runners
 * started): the job is RUNNING from here. A no-op where nobody listens (Kubernetes; see
 * Workload.reportsRunning).
 */
export function reportRunning(): void {
  const statusFd = process.env.JOB_STATUS_FD;
  if (!statusFd) return;
  try {
    writeSync(Number(statusFd), "running\n");
  } catch (error) {
    console.error(`could not report the start on JOB_STATUS_FD ${statusFd}: ${(error as Error).message}`);
  }
}
