#!/usr/bin/env node
// Generates the TypeScript types, codecs and grpc-js service definitions in src/gen/
// from proto/ with ts-proto. `--check` regenerates into a temporary directory and
// fails when the committed src/gen/ differs (CI uses it).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync, mkdirSync, cpSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const protoDir = join(root, "proto");
const genDir = join(root, "src/gen");
const check = process.argv.includes("--check");

const tsProtoOptions = [
  "outputServices=grpc-js",
  "esModuleInterop=true",
  "env=node",
  "importSuffix=.js",
  "useOptionals=messages",
  "oneof=unions-value",
  "useExactTypes=false",
  "unrecognizedEnum=false",
  "forceLong=number",
  "outputPartialMethods=true",
].join(",");

function protoFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return protoFiles(path);
    return name.endsWith(".proto") ? [relative(protoDir, path)] : [];
  });
}

function generate(outDir) {
  mkdirSync(outDir, { recursive: true });
  execFileSync(
    process.execPath,
    [
      join(root, "node_modules/protoc/protoc.cjs"),
      `--plugin=protoc-gen-ts_proto=${join(root, "node_modules/.bin/protoc-gen-ts_proto")}`,
      `--ts_proto_out=${outDir}`,
      `--ts_proto_opt=${tsProtoOptions}`,
      `--proto_path=${protoDir}`,
      ...protoFiles(protoDir),
    ],
    { stdio: "inherit" },
  );
}

function listFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path).map((p) => join(name, p)) : [name];
  });
}

if (check) {
  const tmp = mkdtempSync(join(tmpdir(), "jobscheduler-gen-"));
  try {
    generate(tmp);
    const fresh = listFiles(tmp).sort();
    const committed = listFiles(genDir).sort();
    const stale = fresh.filter((f) => !committed.includes(f) || readFileSync(join(tmp, f), "utf8") !== readFileSync(join(genDir, f), "utf8"));
    const extra = committed.filter((f) => !fresh.includes(f));
    if (stale.length || extra.length) {
      console.error(`src/gen is out of date with proto/ (run \`npm run gen\`): ${[...stale, ...extra].join(", ")}`);
      process.exit(1);
    }
    console.log(`src/gen is up to date (${fresh.length} files)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  const tmp = mkdtempSync(join(tmpdir(), "jobscheduler-gen-"));
  generate(tmp);
  rmSync(genDir, { recursive: true, force: true });
  cpSync(tmp, genDir, { recursive: true });
  rmSync(tmp, { recursive: true, force: true });
  console.log(`generated ${listFiles(genDir).length} files in src/gen`);
}
