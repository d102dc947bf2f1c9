import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { configSchema } from "../src/config.js";
import { ROOT } from "./support/service.js";

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
});
