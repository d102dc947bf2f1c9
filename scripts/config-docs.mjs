#!/usr/bin/env node
// Renders the configuration table of README.md from the zod schema in src/config.ts
// (defaults from .default(); the meaning from the /** doc comment */ above each
// setting in src/config.ts or the setting group it spreads in), between the markers
// <!-- config:start --> and <!-- config:end -->. `--check` fails when README.md is stale.
// Reads the compiled schema: run `npm run build` first.
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const { configSchema } = await import(new URL("../dist/config.js", import.meta.url));
const START = "<!-- config:start -->";
const END = "<!-- config:end -->";

/** Doc comments of `NAME: ...` properties in the source, by name. */
function docComments() {
  const files = (dir) => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith(".ts") ? [join(dir, f)] : []));
  const found = {};
  for (const file of files(join(root, "src")).filter((f) => !f.includes("/gen/"))) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*\n\s*([A-Z][A-Z0-9_]+):/g)) {
      found[match[2]] = match[1].split("\n").map((l) => l.replace(/^\s*\*?\s?/, "").trim()).filter(Boolean).join(" ");
    }
  }
  return found;
}
const comments = docComments();

function unwrap(schema) {
  let current = schema;
  let defaultValue;
  for (;;) {
    const def = current._zod.def;
    if (def.type === "default") {
      defaultValue = typeof def.defaultValue === "function" ? def.defaultValue() : def.defaultValue;
      current = def.innerType;
    } else if (def.type === "optional" || def.type === "nullable") current = def.innerType;
    else if (def.type === "pipe") current = def.in;
    else return { defaultValue };
  }
}

const undocumented = Object.keys(configSchema.shape).filter((name) => !comments[name]);
if (undocumented.length) {
  console.error(`settings without a /** doc comment */ in src/: ${undocumented.join(", ")}`);
  process.exit(1);
}
const rows = Object.entries(configSchema.shape).map(([name, schema]) => {
  const { defaultValue } = unwrap(schema);
  const description = comments[name];
  const shown = defaultValue === undefined || defaultValue === "" ? "" : `\`${String(defaultValue).replace(new URL("..", import.meta.url).pathname, "")}\``;
  return `| \`${name}\` | ${shown} | ${description.replace(/\|/g, "\\|")} |`;
});
const table = ["| variable | default | meaning |", "|---|---|---|", ...rows].join("\n");

const readmePath = `${root}README.md`;
const readme = readFileSync(readmePath, "utf8");
const start = readme.indexOf(START);
const end = readme.indexOf(END);
if (start < 0 || end < start) throw new Error(`README.md lacks the ${START} ... ${END} markers`);
const updated = `${readme.slice(0, start + START.length)}\n${table}\n${readme.slice(end)}`;
if (process.argv.includes("--check")) {
  if (updated !== readme) {
    console.error("README.md's configuration table is out of date with src/config.ts (run `npm run docs:config`)");
    process.exit(1);
  }
  console.log("README.md's configuration table is up to date");
} else {
  writeFileSync(readmePath, updated);
  console.log(`README.md: ${rows.length} settings`);
}
