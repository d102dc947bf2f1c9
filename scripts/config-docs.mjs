#!/usr/bin/env node
// Renders the configuration table of README.md from the zod schema in src/config.ts
// (descriptions from .describe(), defaults from .default()), between the markers
// <!-- config:start --> and <!-- config:end -->. `--check` fails when README.md is stale.
// Reads the compiled schema: run `npm run build` first.
import { readFileSync, writeFileSync } from "node:fs";

const root = new URL("..", import.meta.url).pathname;
const { configSchema } = await import(new URL("../dist/config.js", import.meta.url));
const START = "<!-- config:start -->";
const END = "<!-- config:end -->";

function unwrap(schema) {
  let current = schema;
  let defaultValue;
  let description = schema.description;
  for (;;) {
    const def = current._zod.def;
    description ??= current.description;
    if (def.type === "default") {
      defaultValue = typeof def.defaultValue === "function" ? def.defaultValue() : def.defaultValue;
      current = def.innerType;
    } else if (def.type === "optional" || def.type === "nullable") current = def.innerType;
    else if (def.type === "pipe") current = def.in;
    else return { description, defaultValue };
  }
}

const rows = Object.entries(configSchema.shape).map(([name, schema]) => {
  const { description, defaultValue } = unwrap(schema);
  if (!description) throw new Error(`${name} has no .describe() in src/config.ts`);
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
