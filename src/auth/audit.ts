// The audit log: every call that changes something and every refused call (authentication,
// authorization, scope, admission) becomes a row in the store (audit_events; ListAuditEvents)
// and a pino line with msg "audit". A row says who (key id and name, or certificate subject;
// for a refused credential the key id it claimed), their team scope, the method, the target
// (job, schedule, key or item id), the request id, the answer's code and reason, and the
// client's address: never a key, a request body or a status message (which may quote input).
// Rows are written in batches (one statement per 100 ms or 500 rows), not one transaction
// per call; rows older than AUDIT_RETENTION are deleted every hour.
import type { Logger } from "pino";
import type { AuditEventRecord, AuthStore } from "../store/auth-store.js";
import { claimedKeyId } from "./authenticator.js";
import { AuthError } from "./errors.js";
import type { CallRecorder, Now, SettledCall } from "./guard.js";

const FLUSH_MS = 100;
const FLUSH_ROWS = 500;
const RETENTION_SWEEP_MS = 3_600_000;
const MAX_TARGET = 256;

function reasonOf(error: unknown): string {
  if (error instanceof AuthError) return error.failure ?? error.reason;
  const reason = (error as { reason?: unknown } | null)?.reason;
  return typeof reason === "string" ? reason : "";
}

function targetOf(call: SettledCall): string | null {
  try {
    const target = call.rule?.target?.(call.request, call.response);
    return typeof target === "string" && target ? target.slice(0, MAX_TARGET) : null;
  } catch {
    return null;
  }
}

export function auditEvent(call: SettledCall, at: number): AuditEventRecord {
  const principal = call.principal;
  return {
    at,
    principalId: principal?.id ?? claimedKeyId(call.metadata) ?? "",
    principalName: principal?.name ?? "",
    principalKind: principal?.kind ?? "unauthenticated",
    team: principal?.team ?? null,
    method: call.method,
    targetId: targetOf(call),
    requestId: call.requestId,
    code: call.code,
    reason: reasonOf(call.error),
    denied: call.error instanceof AuthError,
    clientAddress: call.peer,
  };
}

export class AuditLog implements CallRecorder {
  private pending: AuditEventRecord[] = [];
  private flushTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: AuthStore,
    private readonly logger: Logger,
    private readonly clock: Now,
    private readonly retentionMs: number,
  ) {}

  record(call: SettledCall): void {
    const event = auditEvent(call, this.clock.now());
    this.logger.info(event, "audit");
    this.pending.push(event);
    if (this.pending.length >= FLUSH_ROWS) void this.flush();
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => void this.flush(), FLUSH_MS);
      this.flushTimer.unref();
    }
  }

  /** Writes what is pending; resolves once it is stored (or its failure logged). */
  flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return this.flushing;
    this.flushing = this.flushing.then(() =>
      this.store.insertAuditEvents(batch).catch((error: unknown) => {
        // The pino lines above hold them still.
        this.logger.error({ err: error, events: batch.length }, "writing audit events to the store failed");
      }),
    );
    return this.flushing;
  }

  start(): void {
    void this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), RETENTION_SWEEP_MS);
    this.sweepTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.flush();
  }

  /** Deletes rows older than the retention. */
  async sweep(): Promise<number> {
    try {
      const deleted = await this.store.deleteAuditEventsBefore(this.clock.now() - this.retentionMs);
      if (deleted) this.logger.info({ deleted }, "audit events past their retention deleted");
      return deleted;
    } catch (error) {
      this.logger.warn({ err: error }, "deleting old audit events failed");
      return 0;
    }
  }
}
