// The set-up of bench/scale.ts, run as its own process (so its memory is measured apart from the
// service's): fills a store with SCALE_JOBS timer jobs. SQLite: through the store's own insert
// path (createJob: the job row, its first event, its labels and the job counts in one
// transaction; group commit makes a batch one transaction). PostgreSQL, where createJob is one
// transaction per job: the same rows written with the store's SQL, 500 jobs per statement.
//
// Distributions (job i of N, oldest first, created over the 10 days before now, ids in order):
// - state: 0.1% SUCCEEDED (i % 1000 == 0, "the rare state"), 0.1% FAILED (i % 1000 == 1), else QUEUED;
// - type: timer (60 s, so the runs of the benchmark's "50 runs active" phase stay active) for all:
//   the only type that runs without outside services;
// - priority: 10 for 1% (i % 100 == 2), 5 for 4% (i % 100 in 3..6), else 0;
// - labels: team=t<i % 500> (500 teams), suite=bench; tier=gold on 1% (i % 100 == 7);
// - run_at: created_at (due) except 1% delayed by a day (i % 100 == 8).
//
// Env: SCALE_JOBS, and SCALE_SQLITE_PATH or SCALE_PG_URL + SCALE_PG_SCHEMA. Prints one JSON line
// at the end: { seconds, peakRssMiB, queued: [ids of a sample of due queued jobs] }.
import { readFileSync } from "node:fs";
import pg from "pg";
import { ScheduleJobRequest } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { validateScheduleJob } from "../src/api/validation.js";
import type { JobRecord } from "../src/jobs/job.js";
import { JobRegistry } from "../src/jobs/registry.js";
import { newJobRecord } from "../src/jobs/submission/record.js";
import { timerHandler } from "../src/jobs/timer.js";
import { PostgresStore } from "../src/store/postgres/postgres-store.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { eventValues, insertDeltas, INSERT_EVENT_COLUMNS, JOB_COLUMNS, jobRowValues } from "../src/store/sql.js";
import { firstEvent } from "../src/store/transition.js";
import type { JobStore } from "../src/store/store.js";

const DAY_MS = 86_400_000;
const total = Number(process.env.SCALE_JOBS ?? 1_000_000);
const store: JobStore = process.env.SCALE_PG_URL
  ? new PostgresStore(process.env.SCALE_PG_URL, { schema: process.env.SCALE_PG_SCHEMA, poolSize: 16 })
  : new SqliteStore(process.env.SCALE_SQLITE_PATH!);
await store.migrate();
await store.setSetting("dispatch.paused", "paused for the scale benchmark's set-up");

const request: ScheduleJobRequest = {
  ...ScheduleJobRequest.decode(new Uint8Array(0)),
  name: "scale",
  spec: { $case: "timer", value: { timerName: "scale", duration: { seconds: 60, nanos: 0 }, completionCallbackUrl: "" } },
};
const submission = validateScheduleJob(request, new JobRegistry().register(timerHandler));
const now = Date.now();
const step = (10 * DAY_MS) / total;

function jobAt(i: number): JobRecord {
  const createdAt = Math.floor(now - 10 * DAY_MS + i * step);
  const labels: Record<string, string> = { team: `t${i % 500}`, suite: "bench" };
  const hundred = i % 100;
  if (hundred === 7) labels.tier = "gold";
  const priority = hundred === 2 ? 10 : hundred >= 3 && hundred <= 6 ? 5 : 0;
  const job = newJobRecord({ ...submission, labels, priority, runAt: hundred === 8 ? now + DAY_MS : null }, createdAt);
  const thousand = i % 1000;
  if (thousand === 0) return { ...job, state: "SUCCEEDED", startedAt: createdAt + 10, finishedAt: createdAt + 1010, result: { completed: true } };
  if (thousand === 1) return { ...job, state: "FAILED", reason: "EXIT_CODE", message: "exit code 1", startedAt: createdAt + 10, finishedAt: createdAt + 20 };
  return job;
}

/** PostgreSQL: one multi-row statement per table for a batch, in one transaction (the store's rows, as createJob writes them). */
async function insertBatchPostgres(client: pg.Client, jobs: JobRecord[]): Promise<void> {
  const rows = (width: number, count: number) =>
    Array.from({ length: count }, (_, r) => `(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(", ")})`).join(", ");
  await client.query("BEGIN");
  await client.query(`INSERT INTO jobs (${JOB_COLUMNS.join(", ")}) VALUES ${rows(JOB_COLUMNS.length, jobs.length)}`,
    jobs.flatMap((job) => jobRowValues(job, JSON.stringify)));
  await client.query(`INSERT INTO job_events (${INSERT_EVENT_COLUMNS}) VALUES ${rows(7, jobs.length)}`, jobs.flatMap((job) => eventValues(firstEvent(job))));
  await client.query("INSERT INTO job_labels (key, value, created_at, job_id) SELECT l.key, l.value, j.created_at, j.id FROM jobs j, jsonb_each_text(j.labels) l WHERE j.id = ANY($1::text[])",
    [jobs.map((job) => job.id)]);
  for (const { type, state, delta } of insertDeltas(jobs)) {
    await client.query("INSERT INTO job_counts (type, state, shard, n) VALUES ($1, $2, 0, $3) ON CONFLICT (type, state, shard) DO UPDATE SET n = job_counts.n + excluded.n",
      [type, state, delta]);
  }
  await client.query("COMMIT");
}

let peakRss = 0;
const sampleRss = () => {
  peakRss = Math.max(peakRss, Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? 0) * 1024);
};
const rssTimer = setInterval(sampleRss, 200);
const started = performance.now();
const queued: string[] = [];
// SQLite commits what arrives in one turn of the event loop together; PostgreSQL runs a
// transaction per job, so a batch is that many concurrent transactions over the pool.
const batchSize = store.kind === "sqlite" ? 2000 : 500;
let client: pg.Client | undefined;
if (process.env.SCALE_PG_URL) {
  client = new pg.Client({ connectionString: process.env.SCALE_PG_URL, options: `-c search_path=${process.env.SCALE_PG_SCHEMA} -c synchronous_commit=off` });
  await client.connect();
}
for (let first = 0; first < total; first += batchSize) {
  const batch: JobRecord[] = [];
  for (let i = first; i < Math.min(total, first + batchSize); i++) batch.push(jobAt(i));
  if (client) await insertBatchPostgres(client, batch);
  else await Promise.all(batch.map((job) => store.createJob(job)));
  for (const job of batch) if (job.state === "QUEUED" && job.runAt <= now && queued.length < 20_000 && Math.random() < 0.02) queued.push(job.id);
  if ((first / batchSize) % 50 === 0) {
    const done = Math.min(total, first + batchSize);
    process.stderr.write(`\r  loaded ${done} / ${total} jobs (${(done / ((performance.now() - started) / 1000)).toFixed(0)}/s)   `);
  }
}
sampleRss();
clearInterval(rssTimer);
const seconds = (performance.now() - started) / 1000;
process.stderr.write("\n");
if (client) {
  // Fresh statistics and visibility map, as autovacuum would leave them some time after a bulk load.
  for (const table of ["jobs", "job_events", "job_labels", "job_counts"]) await client.query(`VACUUM ANALYZE ${table}`);
  await client.end();
}
await store.close();
console.log(JSON.stringify({ seconds, peakRssMiB: peakRss / 2 ** 20, queued }));
