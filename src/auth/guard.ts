// The one place every RPC of our service passes through before its handler (rpc.ts calls it):
// authentication (who), authorization (may this role call this method; for a team-scoped key,
// is the target its team's), and, where a call creates a job, admission (quotas, inline
// scripts). After the answer, the call goes to the audit log when it changed something or was
// refused. The order is the Kubernetes API server's and Temporal's: authn → authz → admission.
import type { JobRecord } from "../jobs/job.js";
import type { CallCredentials, Authenticator } from "./authenticator.js";
import { AuthError } from "./errors.js";
import { roleAtLeast, ruleOf, type RpcRule } from "./permissions.js";
import type { Principal } from "./principal.js";
import { checkScope, type ScopeLookups } from "./scope.js";

/** Wall-clock time (the app's Clock has it; tests pass a manual one). */
export interface Now {
  now(): number;
}

/** A call as the guard sees it (a grpc-js server call has these). */
export interface GuardedCall extends CallCredentials {
  getPeer(): string;
}

/** What the audit log is told of a finished call. */
export interface SettledCall {
  method: string;
  rule: RpcRule | undefined;
  principal: Principal | undefined;
  request: unknown;
  response: unknown;
  error: unknown;
  /** The name of the gRPC status code answered: OK, PERMISSION_DENIED, ... */
  code: string;
  requestId: string;
  peer: string;
  metadata: CallCredentials["metadata"];
}

/** The call's context as rpc.ts keeps it. */
export interface GuardedContext {
  principal?: Principal;
  readonly requestId: string;
  /** Set by admission: gives back what an admitted job held (quotas in flight) once the call is answered. */
  releaseAdmission?: () => void;
}

/** Records settled calls (audit.ts). */
export interface CallRecorder {
  record(call: SettledCall): void;
}

/** Decides whether a job may be created for a caller (admission.ts); resolves with what releases its hold. */
export interface JobAdmission {
  admit(principal: Principal, job: JobRecord): Promise<() => void>;
}

export interface CallGuardOptions {
  authenticator: Authenticator;
  lookups: ScopeLookups;
  /** Every method the server registers: each must have a rule (else the service does not start). */
  methods: readonly string[];
  recorder?: CallRecorder;
  admission?: JobAdmission;
}

const ARTICLE: Record<string, string> = { viewer: "a viewer", submitter: "a submitter", operator: "an operator", admin: "an admin" };

export class CallGuard {
  constructor(private readonly options: CallGuardOptions) {
    const missing = options.methods.filter((method) => !ruleOf(method));
    if (missing.length) throw new Error(`no authorization rule for ${missing.join(", ")} (src/auth/permissions.ts)`);
  }

  authenticate(call: CallCredentials): Principal | Promise<Principal> {
    return this.options.authenticator.authenticate(call);
  }

  /** Throws (or rejects) when `principal` may not make this call; may narrow a list request to the caller's team. */
  authorize(method: string, request: unknown, principal: Principal): void | Promise<void> {
    const rule = ruleOf(method);
    // Unreachable with the start-up check; a method without a rule is refused, never let through.
    if (!rule) throw AuthError.permissionDenied(`${method} has no authorization rule`);
    if (!roleAtLeast(principal.role, rule.role)) {
      throw AuthError.permissionDenied(`${method} needs the ${rule.role} role or higher; this caller is ${ARTICLE[principal.role]}`);
    }
    if (principal.team === undefined || rule.scope === "none") return;
    return checkScope(rule.scope, method, request as Record<string, unknown>, principal.team, this.options.lookups);
  }

  /** Admission of a job the call (already authorized) is about to store; the record carries its submitter from here on. */
  async admitJob(ctx: GuardedContext, job: JobRecord): Promise<JobRecord> {
    const principal = ctx.principal!;
    if (this.options.admission) ctx.releaseAdmission = await this.options.admission.admit(principal, job);
    job.submittedBy = principal.id;
    return job;
  }

  /**
   * After the answer went out: calls that change something, and refusals, go to the audit log.
   * Never throws: the audit log's trouble is not the caller's.
   */
  settle(method: string, ctx: GuardedContext, call: GuardedCall, request: unknown, response: unknown, error: unknown, code: string): void {
    ctx.releaseAdmission?.();
    const recorder = this.options.recorder;
    if (!recorder) return;
    const rule = ruleOf(method);
    if (rule && !rule.mutates && !(error instanceof AuthError)) return;
    try {
      recorder.record({ method, rule, principal: ctx.principal, request, response, error, code, requestId: ctx.requestId, peer: call.getPeer(), metadata: call.metadata });
    } catch {
      // the recorder logs its own failures
    }
  }
}
