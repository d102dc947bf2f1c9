// Schedules in the domain's own type (ScheduleDefinition), and what has to stay as it was:
// the stored spec is the proto JSON of ScheduleSpec, byte for byte, so a database written by an
// earlier release loads, and a declared schedule it stored compares as unchanged (no reschedule).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadDeclaredSchedules } from "../src/api/declared-schedules.js";
import { scheduleSpecFromWire, scheduleSpecToWire, protoJsonScheduleSpecs } from "../src/api/schedule-wire.js";
import { loadConfig } from "../src/config.js";
import type { ScheduleDefinition } from "../src/dispatch/schedules/definition.js";
import { Scheduler } from "../src/dispatch/schedules/scheduler.js";
import { CatchupPolicy, CriteriaType, OverlapPolicy, ScheduleSpec } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { defaultTeamSchedules } from "../src/hub/default-schedules.js";
import { builtinRegistry } from "../src/jobs/builtin.js";
import { EgressAdmission } from "../src/jobs/egress/admission.js";
import { newJobId } from "../src/jobs/ids.js";
import { egressPolicy } from "../src/shared/egress/policy.js";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { ManualClock } from "./support/manual-clock.js";
import { StubResolver } from "./support/stub-resolver.js";

/** A spec as the release before ScheduleDefinition stored it (JSON.stringify(ScheduleSpec.toJSON(spec))). */
const STORED_BEFORE =
  '{"name":"nightly-report","cron":"30 2 * * *","timeZone":"Europe/Berlin","jobTemplate":{"name":"report","labels":{"team":"ops","app.kz/tier":"batch"},"resources":{"cpuRequest":"100m","memoryLimit":"64Mi"},"timeout":{"seconds":120},"retryPolicy":{"maxAttempts":3,"initialBackoff":{"seconds":2},"backoffMultiplier":2,"maxBackoff":{"seconds":60},"jitter":0.1,"retryOnTimeout":true},"priority":5,"concurrencyKey":"reports","queueTimeout":{"seconds":600},"timer":{"duration":{"seconds":1,"nanos":500000000},"timerName":"nightly"}},"overlapPolicy":"OVERLAP_POLICY_BUFFER_ONE","catchupWindow":{"seconds":7200},"catchupPolicy":"CATCHUP_POLICY_ONE","jitter":{"seconds":90,"nanos":500000000},"startTime":"2025-01-01T00:00:00.000Z","endTime":"2030-01-01T00:00:00.000Z"}';

/** The default team rounds as the release before stored them (HUB_HACKATHON_ID=hl-2025, GIT_ACTIVITY_SINCE set, k6 on Kubernetes). */
const DEFAULT_ROUNDS_BEFORE = [
  '{"name":"hub-code-repo","cron":"*/30 * * * *","timeZone":"UTC","jobTemplate":{"name":"hub-code-repo","labels":{"hackload.kz/round":"hub-code-repo"},"timeout":{"seconds":300},"retryPolicy":{"maxAttempts":3},"gitActivity":{"repoUrl":"https://github.com/each-team/repository","since":"2025-03-01T00:00:00.000Z","activityWindow":{"seconds":86400}}},"overlapPolicy":"OVERLAP_POLICY_SKIP","forEachTeam":{"hackathonId":"hl-2025","teamStatus":"APPROVED"}}',
  '{"name":"hub-deployed-solution","cron":"*/15 * * * *","timeZone":"UTC","jobTemplate":{"name":"hub-deployed-solution","labels":{"hackload.kz/round":"hub-deployed-solution"},"timeout":{"seconds":30},"retryPolicy":{"maxAttempts":2},"httpCheck":{"baseUrl":"https://team-app.invalid","requestTimeout":{"seconds":10}}},"overlapPolicy":"OVERLAP_POLICY_SKIP","forEachTeam":{"hackathonId":"hl-2025","teamStatus":"APPROVED"}}',
  '{"name":"hub-budget-tracking","cron":"0 */6 * * *","timeZone":"UTC","jobTemplate":{"name":"hub-budget-tracking","labels":{"hackload.kz/round":"hub-budget-tracking"},"timeout":{"seconds":600},"retryPolicy":{"maxAttempts":2},"budget":{}},"overlapPolicy":"OVERLAP_POLICY_SKIP","forEachTeam":{"hackathonId":"hl-2025","teamStatus":"APPROVED"}}',
  '{"name":"hub-judge-score","cron":"0 */6 * * *","timeZone":"UTC","jobTemplate":{"name":"hub-judge-score","labels":{"hackload.kz/round":"hub-judge-score"},"retryPolicy":{"maxAttempts":2},"judgeScore":{}},"overlapPolicy":"OVERLAP_POLICY_SKIP","forEachTeam":{"hackathonId":"hl-2025","teamStatus":"APPROVED"}}',
  '{"name":"hub-event-search","cron":"0 */6 * * *","timeZone":"UTC","jobTemplate":{"name":"hub-event-search","labels":{"hackload.kz/round":"hub-event-search"},"timeout":{"seconds":1200},"retryPolicy":{"maxAttempts":1},"team":{"slug":"each-team","hackathonId":"each-hackathon"},"criteriaType":"CRITERIA_TYPE_EVENT_SEARCH","k6":{"scenario":"event-search","targetUrl":"https://team-app.invalid","preflight":true}},"overlapPolicy":"OVERLAP_POLICY_SKIP","forEachTeam":{"hackathonId":"hl-2025","teamStatus":"APPROVED"}}',
  '{"name":"hub-archive-search","cron":"0 */6 * * *","timeZone":"UTC","jobTemplate":{"name":"hub-archive-search","labels":{"hackload.kz/round":"hub-archive-search"},"timeout":{"seconds":1200},"retryPolicy":{"maxAttempts":1},"team":{"slug":"each-team","hackathonId":"each-hackathon"},"criteriaType":"CRITERIA_TYPE_ARCHIVE_SEARCH","k6":{"scenario":"archive-search","targetUrl":"https://team-app.invalid","preflight":true}},"overlapPolicy":"OVERLAP_POLICY_SKIP","forEachTeam":{"hackathonId":"hl-2025","teamStatus":"APPROVED"}}',
  '{"name":"hub-auth-performance","cron":"0 */6 * * *","timeZone":"UTC","jobTemplate":{"name":"hub-auth-performance","labels":{"hackload.kz/round":"hub-auth-performance"},"timeout":{"seconds":1200},"retryPolicy":{"maxAttempts":1},"team":{"slug":"each-team","hackathonId":"each-hackathon"},"criteriaType":"CRITERIA_TYPE_AUTH_PERFORMANCE","k6":{"scenario":"auth-login","targetUrl":"https://team-app.invalid","preflight":true}},"overlapPolicy":"OVERLAP_POLICY_SKIP","forEachTeam":{"hackathonId":"hl-2025","teamStatus":"APPROVED"}}',
  '{"name":"hub-ticket-booking","cron":"0 */6 * * *","timeZone":"UTC","jobTemplate":{"name":"hub-ticket-booking","labels":{"hackload.kz/round":"hub-ticket-booking"},"timeout":{"seconds":1200},"retryPolicy":{"maxAttempts":1},"team":{"slug":"each-team","hackathonId":"each-hackathon"},"criteriaType":"CRITERIA_TYPE_TICKET_BOOKING","k6":{"scenario":"ticket-booking","targetUrl":"https://team-app.invalid","preflight":true}},"overlapPolicy":"OVERLAP_POLICY_SKIP","forEachTeam":{"hackathonId":"hl-2025","teamStatus":"APPROVED"}}',
];

const registry = builtinRegistry({ k6: { runtime: "kubernetes" } });
const logger = pino({ level: "silent" });

describe("schedule definitions on the wire and in the store", () => {
  it("a spec stored before loads as the domain's definition and is stored again byte for byte", () => {
    const definition = protoJsonScheduleSpecs.fromStored(JSON.parse(STORED_BEFORE));
    expect(definition).toMatchObject({
      name: "nightly-report", cron: "30 2 * * *", timeZone: "Europe/Berlin", overlapPolicy: "BUFFER_ONE", catchupPolicy: "ONE",
      catchupWindow: { seconds: 7200, nanos: 0 }, jitter: { seconds: 90, nanos: 500_000_000 },
      startTime: Date.parse("2025-01-01T00:00:00Z"), endTime: Date.parse("2030-01-01T00:00:00Z"),
      jobTemplate: {
        name: "report", priority: 5, concurrencyKey: "reports", criteriaType: null,
        retryPolicy: { maxAttempts: 3, backoffMultiplier: 2, jitter: 0.1, retryOnTimeout: true },
        spec: { type: "timer", params: { duration: { seconds: 1, nanos: 500_000_000 }, timerName: "nightly" } },
      },
    });
    expect(JSON.stringify(protoJsonScheduleSpecs.toStored(definition))).toBe(STORED_BEFORE);
  });

  it("the default team rounds are stored as before, so an upgrade finds them unchanged", () => {
    const config = loadConfig({ HUB_HACKATHON_ID: "hl-2025", GIT_ACTIVITY_SINCE: "2025-03-01T00:00:00Z" });
    const stored = defaultTeamSchedules(config, registry, logger).map((d) => JSON.stringify(protoJsonScheduleSpecs.toStored(d)));
    expect(stored).toEqual(DEFAULT_ROUNDS_BEFORE);
  });

  it("wire → domain → wire gives the message back, every job type and unknown enum numbers included", () => {
    const specs = [
      ScheduleSpec.fromJSON(JSON.parse(STORED_BEFORE)),
      ...DEFAULT_ROUNDS_BEFORE.map((text) => ScheduleSpec.fromJSON(JSON.parse(text))),
      ScheduleSpec.fromPartial({
        name: "odd", overlapPolicy: 42 as OverlapPolicy, catchupPolicy: 7 as CatchupPolicy,
        jobTemplate: { criteriaType: 99 as CriteriaType, runAt: new Date(0), spec: { $case: "httpCheck", value: { baseUrl: "http://a", endpoints: [{ path: "/x", expectedStatus: 200, method: "GET", critical: true }] } } },
      }),
      ScheduleSpec.fromPartial({ name: "t", jobTemplate: { spec: { $case: "judgeScore", value: { judgeScore: "7" } } } }),
      ScheduleSpec.fromPartial({ name: "b", jobTemplate: { spec: { $case: "budget", value: { moneySpend: "12" } } } }),
    ];
    for (const spec of specs) expect(scheduleSpecToWire(scheduleSpecFromWire(spec))).toEqual(spec);
    expect(scheduleSpecFromWire(specs.at(-3)!)).toMatchObject({ overlapPolicy: { unknown: 42 }, catchupPolicy: { unknown: 7 }, jobTemplate: { criteriaType: { unknown: 99 }, runAt: 0 } });
  });
});

describe("a database written before ScheduleDefinition", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "jobscheduler-schedule-wire-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("loads its schedules, and a declared one it stored is left alone by the upsert of the same SCHEDULES_FILE", async () => {
    const path = join(dir, "jobs.db");
    const fresh = new SqliteStore(path);
    await fresh.migrate();
    await fresh.close();
    // The row as the earlier release wrote it.
    const id = newJobId();
    const created = Date.parse("2025-06-01T00:00:00Z");
    const nextFireAt = Date.parse("2025-06-02T00:30:00Z");
    const db = new Database(path);
    db.prepare(
      `INSERT INTO schedules (id, name, spec, paused, paused_reason, next_fire_at, last_fire_at, fires, misses, skips, source, created_at, updated_at)
       VALUES (?, ?, ?, 0, '', ?, NULL, 4, 0, 0, 'config', ?, ?)`,
    ).run(id, "nightly-report", STORED_BEFORE, nextFireAt, created, created);
    db.close();

    const store = new SqliteStore(path);
    await store.migrate();
    const clock = new ManualClock("2025-06-03T12:00:00Z");
    const scheduler = new Scheduler({
      store, registry, specs: protoJsonScheduleSpecs, clock, logger, defaultQueueTimeoutMs: 0,
      lifecycle: { cancel: () => Promise.reject(new Error("not expected")) }, dispatcher: { wake() {} },
      // The default egress policy; no name is resolved (the stub answers none).
      egress: new EgressAdmission(egressPolicy(), new StubResolver({})),
    });
    try {
      const schedule = await scheduler.get(id);
      expect(schedule).toMatchObject({ name: "nightly-report", fires: 4, nextFireAt, spec: { overlapPolicy: "BUFFER_ONE", jobTemplate: { name: "report" } } });

      const file = join(dir, "schedules.json");
      await writeFile(file, JSON.stringify([{
        name: "nightly-report", cron: "30 2 * * *", time_zone: "Europe/Berlin", overlapPolicy: "OVERLAP_POLICY_BUFFER_ONE",
        catchupPolicy: "CATCHUP_POLICY_ONE", catchupWindow: "2h", jitter: "90.5s", startTime: "2025-01-01T00:00:00Z", endTime: "2030-01-01T00:00:00Z",
        jobTemplate: {
          name: "report", labels: { team: "ops", "app.kz/tier": "batch" }, resources: { cpuRequest: "100m", memoryLimit: "64Mi" }, timeout: "2m",
          retryPolicy: { maxAttempts: 3, initialBackoff: "2s", backoffMultiplier: 2, maxBackoff: "1m", jitter: 0.1, retryOnTimeout: true },
          priority: 5, concurrencyKey: "reports", queueTimeout: "10m", timer: { duration: "1.5s", timerName: "nightly" },
        },
      }]));
      const declared: ScheduleDefinition[] = loadDeclaredSchedules(file);
      await scheduler.upsertDeclared(declared);
      // Unchanged: not rescheduled (it catches up on the downtime from where it was).
      expect((await scheduler.get(id)).nextFireAt).toBe(nextFireAt);

      // A change is written in the same format the earlier release wrote.
      await scheduler.update(id, { ...declared[0], cron: "45 2 * * *" });
      await scheduler.update(id, declared[0]);
    } finally {
      await store.close();
    }
    const after = new Database(path, { readonly: true });
    try {
      expect((after.prepare("SELECT spec FROM schedules WHERE id = ?").get(id) as { spec: string }).spec).toBe(STORED_BEFORE);
    } finally {
      after.close();
    }
  });
});
