#!/usr/bin/env node
// Runs the vitest suite and ends with the one line CI reads: "N passed, N failed, N skipped".
// Extra arguments go to vitest (e.g. a file filter).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";

const report = ".vitest-results.json";
rmSync(report, { force: true });
const vitest = spawnSync(
  process.execPath,
  ["node_modules/vitest/vitest.mjs", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
);
if (!existsSync(report)) {
  console.log("0 passed, 1 failed, 0 skipped");
  console.error(`vitest produced no report (exit ${vitest.status ?? vitest.signal})`);
  process.exit(1);
}
const results = JSON.parse(readFileSync(report, "utf8"));
const failedSuites = results.testResults.filter((file) => file.status === "failed" && file.assertionResults.length === 0).length;
const failed = results.numFailedTests + failedSuites;
console.log(`${results.numPassedTests} passed, ${failed} failed, ${results.numPendingTests + results.numTodoTests} skipped`);
process.exit(vitest.status === 0 && failed === 0 ? 0 : 1);
