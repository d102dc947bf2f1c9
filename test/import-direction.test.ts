// Every import of src/ points down the layers of docs/architecture.md ("Layers and the import
// rule"). Imports are read with the TypeScript compiler's pre-processor (static, type-only,
// re-exports and import() alike) and each is checked against ALLOWED; a failure lists every
// offending import as `file:line -> target (rule)`.
//
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../src");

type Layer =
  | "app" | "config" | "api" | "auth" | "observability" | "hub" | "dispatch" | "jobs" | "store" | "runtime"
  | "leadership" | "collectors" | "shared" | "gen";

/** Top-level directories of src/ and the files directly in it, by layer. */
const LAYER_OF_TOP: Record<string, Layer> = {
  "app.ts": "app", "main.ts": "app",
  "config.ts": "config", "config-fields.ts": "config",
  "echo.ts": "shared", shared: "shared",
  api: "api", auth: "auth", observability: "observability", hub: "hub", dispatch: "dispatch", jobs: "jobs",
  store: "store", runtime: "runtime", leadership: "leadership", collectors: "collectors", gen: "gen",
};

const ALL: readonly Layer[] = Object.values(LAYER_OF_TOP);

/**
 * What each layer may import besides itself. `config` (the settings record) may be read by any
 * service layer; `shared` (code the service and the collector programs share) imports nothing
 * of either side; `gen` (the generated wire types and codecs) belongs to the API.
 */
const ALLOWED: Record<Layer, readonly Layer[]> = {
  app: ALL,
  config: ["dispatch", "hub", "jobs", "store", "runtime", "observability", "auth", "shared"],
  api: ["dispatch", "hub", "jobs", "leadership", "store", "runtime", "observability", "auth", "config", "shared", "gen"],
  auth: ["jobs", "store", "observability", "config", "shared"],
  observability: ["dispatch", "jobs", "store", "config", "shared"],
  hub: ["dispatch", "jobs", "store", "config", "shared"],
  dispatch: ["jobs", "leadership", "store", "runtime", "config", "shared"],
  leadership: ["store", "runtime", "config", "shared"],
  jobs: ["runtime", "config", "shared"],
  store: ["jobs", "config", "shared"],
  runtime: ["config", "shared"],
  collectors: ["shared"],
  shared: [],
  gen: [],
};

/** The store knows jobs by their records only (and the label rule of a record). */
const STORE_MAY_READ_OF_JOBS = new Set(["src/jobs/job.ts", "src/jobs/labels.ts"]);

/** Packages only some layers may import: the transport stays in the API. */
const PACKAGE_RULES: { prefix: string; layers: readonly Layer[] }[] = [{ prefix: "@grpc/", layers: ["api", "app", "gen"] }];

interface Violation {
  /** `src/a.ts -> src/b.ts` (or the package name). */
  edge: string;
  /** `src/a.ts:12 -> src/b.ts (rule)` */
  text: string;
}

function layerOf(file: string): Layer {
  const top = file.slice("src/".length).split("/")[0];
  const layer = LAYER_OF_TOP[top];
  if (!layer) throw new Error(`${file} belongs to no layer: add "${top}" to LAYER_OF_TOP (and docs/architecture.md)`);
  return layer;
}

/** The violations among the imports of `files` (paths like src/a/b.ts, with their text). */
function importViolations(files: ReadonlyMap<string, string>): Violation[] {
  const violations: Violation[] = [];
  for (const [file, text] of files) {
    const from = layerOf(file);
    for (const imported of ts.preProcessFile(text, true, true).importedFiles) {
      const line = text.slice(0, imported.pos).split("\n").length;
      const name = imported.fileName;
      if (!name.startsWith(".")) {
        const rule = PACKAGE_RULES.find((r) => name.startsWith(r.prefix));
        if (rule && !rule.layers.includes(from)) {
          violations.push({ edge: `${file} -> ${name}`, text: `${file}:${line} -> ${name} (only ${rule.layers.join(", ")} may import ${rule.prefix}*)` });
        }
        continue;
      }
      const target = posix.normalize(posix.join(posix.dirname(file), name)).replace(/\.js$/, ".ts");
      if (!target.startsWith("src/")) {
        violations.push({ edge: `${file} -> ${target}`, text: `${file}:${line} -> ${target} (outside src/)` });
        continue;
      }
      const to = layerOf(target);
      if (to === from) continue;
      const edge = `${file} -> ${target}`;
      if (!ALLOWED[from].includes(to)) {
        const allowed = ALLOWED[from].length ? ALLOWED[from].join(", ") : "nothing outside itself";
        violations.push({ edge, text: `${edge.replace(" -> ", `:${line} -> `)} (${from} may import ${allowed})` });
      } else if (from === "store" && to === "jobs" && !STORE_MAY_READ_OF_JOBS.has(target)) {
        violations.push({ edge, text: `${edge.replace(" -> ", `:${line} -> `)} (store may import of jobs only ${[...STORE_MAY_READ_OF_JOBS].join(", ")})` });
      }
    }
  }
  return violations;
}

function sourceFiles(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(path, out);
    else if (entry.name.endsWith(".ts")) out.set(relative(dirname(SRC), path).split("\\").join("/"), readFileSync(path, "utf8"));
  }
  return out;
}

describe("the import rule of docs/architecture.md", () => {
  it("holds for every import of src/", () => {
    expect(importViolations(sourceFiles(SRC)).map((v) => v.text)).toEqual([]);
  });

  it("names each forbidden import with its line and the rule it breaks", () => {
    const files = new Map([
      ["src/dispatch/schedules/x.ts", 'import { z } from "zod";\nimport type { A } from "../../api/errors.js";\nexport { B } from "../../jobs/job.js";\n'],
      ["src/jobs/y.ts", 'const m = await import("../hub/fanout.js");\nimport { status } from "@grpc/grpc-js";\n'],
      ["src/store/z.ts", 'import { validateJobRequest } from "../jobs/submission/submission.js";\nimport type { JobRecord } from "../jobs/job.js";\n'],
      ["src/shared/w.ts", 'import { echo } from "../echo.js";\nimport { x } from "../collectors/io.js";\n'],
    ]);
    expect(importViolations(files).map((v) => v.text)).toEqual([
      "src/dispatch/schedules/x.ts:2 -> src/api/errors.ts (dispatch may import jobs, leadership, store, runtime, config, shared)",
      "src/jobs/y.ts:1 -> src/hub/fanout.ts (jobs may import runtime, config, shared)",
      "src/jobs/y.ts:2 -> @grpc/grpc-js (only api, app, gen may import @grpc/*)",
      "src/store/z.ts:1 -> src/jobs/submission/submission.ts (store may import of jobs only src/jobs/job.ts, src/jobs/labels.ts)",
      "src/shared/w.ts:2 -> src/collectors/io.ts (shared may import nothing outside itself)",
    ]);
  });
});
