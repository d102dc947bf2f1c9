// Finding the k6 executable for local runs: K6_BINARY (a path, or a name looked up in PATH),
// else `k6` in PATH.
import { accessSync, constants, statSync } from "node:fs";
import { delimiter, isAbsolute, join, resolve } from "node:path";

export type BinaryLookup = { ok: true; path: string } | { ok: false; message: string };

function executable(path: string): string | null {
  try {
    if (!statSync(path).isFile()) return "is not a file";
    accessSync(path, constants.X_OK);
    return null;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT" ? "does not exist" : "is not executable";
  }
}

function inPath(name: string, pathEnv: string | undefined): string | null {
  for (const dir of (pathEnv ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (executable(candidate) === null) return isAbsolute(candidate) ? candidate : resolve(candidate);
  }
  return null;
}

export function findK6Binary(configured: string | undefined, pathEnv: string | undefined): BinaryLookup {
  if (configured) {
    if (configured.includes("/")) {
      const problem = executable(configured);
      return problem === null
        ? { ok: true, path: resolve(configured) }
        : { ok: false, message: `k6 is not available on this server: K6_BINARY ${configured} ${problem}` };
    }
    const found = inPath(configured, pathEnv);
    return found ? { ok: true, path: found } : { ok: false, message: `k6 is not available on this server: K6_BINARY "${configured}" is not in PATH` };
  }
  const found = inPath("k6", pathEnv);
  return found
    ? { ok: true, path: found }
    : { ok: false, message: "k6 is not available on this server: no k6 binary in PATH and K6_BINARY is not set (install k6, set K6_BINARY, or run with RUNTIME=kubernetes)" };
}
