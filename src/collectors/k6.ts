// The k6 job's local program (the Kubernetes runtime runs k6 runner pods instead): runs the test
// with the k6 binary the service found (K6_BINARY or PATH), split over
// JOBSCHEDULER_K6_PARALLELISM runners, and writes what every runner left (RunnerResults) as its
// result; the service merges it. Exit codes: 0 done (the verdict is in the result), 99 some
// runner's thresholds failed, 143 stopped, else a runner's own error code. It tells the local
// runtime when the runners are started (JOB_STATUS_FD): the job is STARTING until then.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { coordinate } from "./k6/coordinator.js";
import { EGRESS_POLICY_ENV, policyFromEnv } from "../shared/egress/env.js";
import { COORDINATOR_ENV } from "../shared/k6/coordinator-env.js";
import { reportRunning, requireEnv, resultPath, stopRequested } from "./io.js";

const filesDir = requireEnv("JOB_FILES_DIR");
const binary = process.env[COORDINATOR_ENV.binary] || "k6";
const common = JSON.parse(requireEnv(COORDINATOR_ENV.args)) as string[];
const parallelism = Number(process.env[COORDINATOR_ENV.parallelism] || "1");
const startTimeoutMs = Number(process.env[COORDINATOR_ENV.startTimeoutMs] || "180000");
const workDir = join(process.env.TMPDIR || process.cwd(), "k6-runners");
mkdirSync(workDir, { recursive: true });

// The runners see the script's env, not this program's settings.
const env: NodeJS.ProcessEnv = { ...process.env };
for (const name of Object.values(COORDINATOR_ENV)) delete env[name];
delete env.JOB_FILES_DIR;
delete env.JOB_STATUS_FD;
delete env.NODE_OPTIONS;
delete env[EGRESS_POLICY_ENV];

const outcome = await coordinate(
  {
    binary,
    common,
    parallelism,
    startTimeoutMs,
    preflightUrl: process.env[COORDINATOR_ENV.preflightUrl] || undefined,
    egress: policyFromEnv(process.env[EGRESS_POLICY_ENV]),
    filesDir,
    workDir,
    env: { ...env, JOB_FILES_DIR: filesDir },
    log: (line) => console.log(line),
    onStarted: reportRunning,
  },
  stopRequested(),
);
writeFileSync(resultPath(), JSON.stringify(outcome.results));
process.exit(outcome.exitCode);
