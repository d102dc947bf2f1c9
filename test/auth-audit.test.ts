// The audit log over a real socket and a real store: allowed, denied and failed calls become
// rows (who, team, method, target, request id, code, reason, client address) and pino "audit"
// lines; reads that succeed do not; ListAuditEvents filters and pages them; rows past
// AUDIT_RETENTION are deleted; no key or request secret is ever in a row or a line.
import { join } from "node:path";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import Database from "better-sqlite3";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { startApp, type RunningApp } from "../src/app.js";
import { loadConfig } from "../src/config.js";
import { Role, type AuditEvent, type JobSchedulerClient, type ListAuditEventsRequest } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { timerJob } from "./support/requests.js";
import { baseEnv, call, cleanup, tempDir, testClient, waitFor } from "./support/service.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach(cleanup));

interface Running {
  app: RunningApp;
  admin: JobSchedulerClient;
  lines: string[];
  dataDir: string;
  stop(): Promise<void>;
}

/** The service in this process, its log lines kept (as JSON text). */
async function start(dataDir: string, extra: Record<string, string> = {}): Promise<Running> {
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
  const app = await startApp(loadConfig(baseEnv(dataDir, extra)), logger);
  const admin = testClient(`127.0.0.1:${app.grpcPort}`);
  return {
    app, admin, lines, dataDir,
    async stop() {
      admin.close();
      await app.stop();
    },
  };
}

const query = (filters: Partial<ListAuditEventsRequest>): ListAuditEventsRequest => ({
  principalId: "", method: "", code: "", targetId: "", since: undefined, until: undefined, deniedOnly: false, team: "", pageSize: 0, pageToken: "", ...filters,
});

async function events(admin: JobSchedulerClient, filters: Partial<ListAuditEventsRequest>): Promise<AuditEvent[]> {
  return (await call(admin, admin.listAuditEvents, query(filters))).events;
}

const codeOf = (promise: Promise<unknown>) => promise.then(() => status.OK, (error: ServiceError) => error.code);

describe("the audit log", () => {
  it("records allowed, denied and failed calls, not successful reads; filters and pages them; never a secret", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const service = await start(dataDir);
    try {
      const { admin } = service;
      const requestId = new Metadata();
      requestId.set("x-request-id", "audit-allowed-1");
      const scheduled = await call(admin, admin.scheduleJob, timerJob(1000, { name: "audited", runAt: new Date(Date.now() + 86_400_000) }), requestId);
      const jobId = scheduled.job!.id;
      await call(admin, admin.getJobStatus, { jobId });

      const viewer = await call(admin, admin.createApiKey, { name: "auditor", role: Role.ROLE_VIEWER, team: "team-a", allowInlineScripts: false, expireTime: undefined });
      const asViewer = testClient(`127.0.0.1:${service.app.grpcPort}`, viewer.secret);
      expect(await codeOf(call(asViewer, asViewer.pauseDispatching, { reason: "no" }))).toBe(status.PERMISSION_DENIED);
      expect(await codeOf(call(asViewer, asViewer.getJobStatus, { jobId }))).toBe(status.NOT_FOUND);
      const wrong = testClient(`127.0.0.1:${service.app.grpcPort}`, `jsk_${viewer.key!.id}_${"w".repeat(43)}`);
      expect(await codeOf(call(wrong, wrong.listJobTypes, {}))).toBe(status.UNAUTHENTICATED);
      expect(await codeOf(call(admin, admin.cancelJob, { jobId: "not-a-job", reason: "" }))).toBe(status.INVALID_ARGUMENT);
      asViewer.close();
      wrong.close();

      const rows = await waitFor(async () => {
        const all = await events(admin, { pageSize: 100 });
        return all.length >= 6 ? all : null;
      });
      const summary = rows.map((e) => `${e.method} ${e.code} ${e.denied ? "denied" : ""}`.trim());
      expect(summary).toEqual(expect.arrayContaining([
        "ScheduleJob OK", "CreateApiKey OK", "PauseDispatching PERMISSION_DENIED denied", "GetJobStatus NOT_FOUND denied",
        "ListJobTypes UNAUTHENTICATED denied", "CancelJob INVALID_ARGUMENT",
      ]));
      // A successful read is not audited.
      expect(summary).not.toContain("GetJobStatus OK");

      const allowed = rows.find((e) => e.method === "ScheduleJob")!;
      expect(allowed).toMatchObject({
        principalId: "testadmin", principalName: "test admin", principalKind: "api-key", team: "", targetId: jobId,
        requestId: "audit-allowed-1", code: "OK", denied: false,
      });
      expect(allowed.clientAddress).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(rows.find((e) => e.method === "PauseDispatching")).toMatchObject({ principalId: viewer.key!.id, principalName: "auditor", team: "team-a", reason: "PERMISSION_DENIED" });
      expect(rows.find((e) => e.method === "GetJobStatus")).toMatchObject({ targetId: jobId, team: "team-a" });
      expect(rows.find((e) => e.method === "ListJobTypes")).toMatchObject({ principalId: viewer.key!.id, principalKind: "unauthenticated", reason: "UNKNOWN_KEY" });
      expect(rows.find((e) => e.method === "CreateApiKey")).toMatchObject({ targetId: viewer.key!.id });
      expect(rows.find((e) => e.method === "CancelJob")!.requestId).not.toBe("");

      // Filters, and pages of one.
      expect((await events(admin, { deniedOnly: true })).map((e) => e.method).sort()).toEqual(["GetJobStatus", "ListJobTypes", "PauseDispatching"]);
      expect((await events(admin, { method: "ScheduleJob" })).map((e) => e.targetId)).toEqual([jobId]);
      expect((await events(admin, { code: "UNAUTHENTICATED" })).map((e) => e.method)).toEqual(["ListJobTypes"]);
      expect((await events(admin, { principalId: viewer.key!.id })).length).toBe(3);
      expect((await events(admin, { targetId: jobId })).map((e) => e.method).sort()).toEqual(["GetJobStatus", "ScheduleJob"]);
      const seen: string[] = [];
      let pageToken = "";
      do {
        const page = await call(admin, admin.listAuditEvents, query({ pageSize: 1, pageToken }));
        seen.push(...page.events.map((e) => `${e.id}`));
        pageToken = page.nextPageToken;
      } while (pageToken);
      expect(seen).toEqual(rows.map((e) => `${e.id}`));
      expect(await codeOf(call(admin, admin.listAuditEvents, query({ code: "NOPE" })))).toBe(status.INVALID_ARGUMENT);

      // pino lines, one per row; neither holds a key.
      const auditLines = service.lines.filter((line) => JSON.parse(line).msg === "audit");
      expect(auditLines.length).toBeGreaterThanOrEqual(rows.length);
      const secretPart = viewer.secret.slice(viewer.secret.indexOf("_", 4) + 1);
      expect(service.lines.join("\n")).not.toContain(secretPart);
      expect(JSON.stringify(rows)).not.toContain(secretPart);
      expect(service.lines.join("\n")).not.toContain("w".repeat(43));
    } finally {
      await service.stop();
    }
  });

  it("deletes rows older than AUDIT_RETENTION", async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const first = await start(dataDir);
    await call(first.admin, first.admin.pauseDispatching, { reason: "kept" });
    await first.stop();
    const db = new Database(join(dataDir, "jobscheduler.db"));
    db.prepare(
      `INSERT INTO audit_events (at, principal_id, principal_name, principal_kind, team, method, target_id, request_id, code, reason, denied, client_address)
       VALUES (?, 'old', 'old', 'api-key', NULL, 'PauseDispatching', NULL, 'r-old', 'OK', '', 0, '127.0.0.1:1')`,
    ).run(Date.now() - 3 * 3_600_000);
    db.close();
    const second = await start(dataDir, { AUDIT_RETENTION: "1h" });
    try {
      await waitFor(async () => (await events(second.admin, { principalId: "old" })).length === 0);
      expect((await events(second.admin, { method: "PauseDispatching" })).map((e) => e.principalId)).toEqual(["testadmin"]);
    } finally {
      await second.stop();
    }
  });
});
