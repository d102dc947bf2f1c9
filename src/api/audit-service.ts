// ListAuditEvents (admin; a team-scoped admin sees its team's events): the audit log, newest
// first, filtered, cursor paginated. Rows are written by src/auth/audit.ts.
import { status } from "@grpc/grpc-js";
import type { AuditEvent, JobSchedulerServer, ListAuditEventsRequest, ListAuditEventsResponse } from "../gen/jobscheduler/v1/jobscheduler.js";
import type { AuditEventRecord, AuthStore } from "../store/auth-store.js";
import { InvalidField } from "../jobs/errors.js";
import { echo } from "./errors.js";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from "./job-scheduler-service.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import type { RpcInstrumentation } from "./rpc.js";
import { checkText, PAGE_TOKEN_RULE } from "./validation.js";

export type AuditRpcs = Pick<JobSchedulerServer, "listAuditEvents">;

const CODE_NAMES = new Set(Object.keys(status).filter((name) => Number.isNaN(Number(name))));

export function auditEventToProto(event: AuditEventRecord): AuditEvent {
  return {
    id: event.seq ?? 0,
    time: new Date(event.at),
    principalId: event.principalId,
    principalName: event.principalName,
    principalKind: event.principalKind,
    team: event.team ?? "",
    method: event.method,
    targetId: event.targetId ?? "",
    requestId: event.requestId,
    code: event.code,
    reason: event.reason,
    denied: event.denied,
    clientAddress: event.clientAddress,
  };
}

export function auditService(rpc: RpcInstrumentation, deps: { store: AuthStore }): AuditRpcs {
  async function listAuditEvents(request: ListAuditEventsRequest): Promise<ListAuditEventsResponse> {
    const pageSize = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
    if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw new InvalidField("page_size", `must be between 1 and ${MAX_PAGE_SIZE}`);
    checkText("principal_id", request.principalId, { max: 300 });
    checkText("method", request.method, { max: 64 });
    checkText("code", request.code, { max: 32 });
    if (request.code && !CODE_NAMES.has(request.code)) throw new InvalidField("code", `"${echo(request.code)}" is not a gRPC status name (OK, PERMISSION_DENIED, UNAUTHENTICATED, ...)`);
    checkText("target_id", request.targetId, { max: 256 });
    checkText("team", request.team, { max: 100 });
    checkText("page_token", request.pageToken, PAGE_TOKEN_RULE);
    const since = request.since?.getTime();
    const until = request.until?.getTime();
    for (const [field, value] of [["since", since], ["until", until]] as const) {
      if (value !== undefined && !Number.isFinite(value)) throw new InvalidField(field, "is not a valid timestamp");
    }
    const filters = { audit: true, p: request.principalId, m: request.method, c: request.code, t: request.targetId, team: request.team, since, until, d: request.deniedOnly };
    // The cursor is the last event's seq (carried in the job cursor's createdAt slot).
    const beforeSeq = request.pageToken ? decodePageToken(request.pageToken, filters).createdAt : undefined;
    const rows = await deps.store.listAuditEvents({
      principalId: request.principalId || undefined,
      method: request.method || undefined,
      code: request.code || undefined,
      targetId: request.targetId || undefined,
      team: request.team || undefined,
      since,
      until,
      deniedOnly: request.deniedOnly,
      beforeSeq,
      limit: pageSize + 1,
    });
    const page = rows.slice(0, pageSize);
    const last = page.at(-1);
    return {
      events: page.map(auditEventToProto),
      nextPageToken: rows.length > pageSize && last ? encodePageToken({ createdAt: last.seq!, id: "audit" }, filters) : "",
    };
  }

  return { listAuditEvents: rpc.unary("ListAuditEvents", listAuditEvents) };
}
