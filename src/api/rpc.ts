// The cross-cutting part of every RPC, applied once around each handler (what
// grpc-node's examples do with interceptors): request id, logging, metrics, the
// security guard (authentication, authorization, audit: src/auth/guard.ts), and
// mapping errors to status codes. Handlers are plain async functions.
import { randomUUID } from "node:crypto";
import {
  Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type StatusObject,
} from "@grpc/grpc-js";
import type { Level, Logger } from "pino";
import { AuthError } from "../auth/errors.js";
import type { CallGuard, GuardedCall } from "../auth/guard.js";
import type { Principal } from "../auth/principal.js";
import type { JobRecord } from "../jobs/job.js";
import type { Metrics } from "../observability/metrics.js";
import { DomainError, Unavailable } from "../jobs/errors.js";
import { authErrorStatus } from "./auth-status.js";
import { statusOf, toServiceError } from "./errors.js";
import { UndecodableRequest } from "./request-decoding.js";
import { FencedError } from "../store/fencing.js";

/** Logs with the request's id and method. */
export type RequestLogger = Record<Exclude<Level, "fatal">, (fields: object, message: string) => void>;

export interface RpcContext {
  requestId: string;
  logger: RequestLogger;
  metadata: Metadata;
  /** The caller, once authenticated (absent when the server runs without a guard). */
  principal?: Principal;
  /**
   * Admission of a job this call is about to store (quotas, inline scripts): resolves with the
   * record to store (stamped with its submitter), or rejects with the refusal.
   */
  admitJob(job: JobRecord): Promise<JobRecord>;
}

/**
 * A server stream's context: streams wait for events, so they need to hear about cancellation.
 * Unary handlers answer without waiting on the client, so their calls carry no listener.
 */
export interface StreamContext extends RpcContext {
  /** Aborted when the client cancels or disconnects. */
  signal: AbortSignal;
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The client's x-request-id when it sent a usable one, else null. */
function givenRequestId(metadata: Metadata): string | null {
  const given = metadata.get("x-request-id")[0];
  return typeof given === "string" && REQUEST_ID.test(given) ? given : null;
}

function requestIdMetadata(requestId: string): Metadata {
  const metadata = new Metadata();
  metadata.set("x-request-id", requestId);
  return metadata;
}

interface CancellableCall {
  on(event: "cancelled", listener: () => void): unknown;
}

/**
 * A call's context. The request id, when the client gave none, is made on first use (a log line
 * or an error): most calls need none. The child logger is made on the first line actually
 * logged: most calls log nothing at the usual levels.
 */
class CallContext implements RpcContext, RequestLogger {
  private id: string | null;
  private child?: Logger;
  principal?: Principal;
  releaseAdmission?: () => void;

  constructor(
    private readonly parent: Logger,
    private readonly method: string,
    readonly metadata: Metadata,
    given: string | null,
    private readonly guard: CallGuard | undefined,
  ) {
    this.id = given;
  }

  admitJob(job: JobRecord): Promise<JobRecord> {
    return this.guard && this.principal ? this.guard.admitJob(this, job) : Promise.resolve(job);
  }

  get requestId(): string {
    return (this.id ??= randomUUID());
  }

  get logger(): RequestLogger {
    return this;
  }

  private write(level: Exclude<Level, "fatal">, fields: object, message: string): void {
    if (!this.parent.isLevelEnabled(level)) return;
    this.child ??= this.parent.child({ requestId: this.requestId, method: this.method });
    this.child[level](fields, message);
  }

  trace(fields: object, message: string) { this.write("trace", fields, message); }
  debug(fields: object, message: string) { this.write("debug", fields, message); }
  info(fields: object, message: string) { this.write("info", fields, message); }
  warn(fields: object, message: string) { this.write("warn", fields, message); }
  error(fields: object, message: string) { this.write("error", fields, message); }
}

class StreamCallContext extends CallContext implements StreamContext {
  constructor(parent: Logger, method: string, metadata: Metadata, given: string | null, guard: CallGuard | undefined, readonly signal: AbortSignal) {
    super(parent, method, metadata, given, guard);
  }
}

export class RpcInstrumentation {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    /** Without one, every call reaches its handler (tests of the RPC layer alone). */
    private readonly guard?: CallGuard,
  ) {}

  /**
   * The handler's answer, once the guard let the call through: authentication first (so an
   * unauthenticated caller learns nothing, not even that its request was malformed), then
   * the request's decoding, then authorization. Never throws: a refusal is a rejection.
   */
  private guarded<Req, Res>(method: string, call: GuardedCall, request: Req | UndecodableRequest, ctx: CallContext, invoke: (request: Req) => Promise<Res>): Promise<Res> {
    const guard = this.guard;
    if (!guard) return request instanceof UndecodableRequest ? Promise.reject(request.error) : invoke(request);
    try {
      const principal = guard.authenticate(call);
      // A key in the cache answers at once: no turn through a promise on the hot path.
      return principal instanceof Promise
        ? principal.then((p) => this.authorized(guard, method, request, ctx, p, invoke))
        : this.authorized(guard, method, request, ctx, principal, invoke);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private authorized<Req, Res>(guard: CallGuard, method: string, request: Req | UndecodableRequest, ctx: CallContext, principal: Principal, invoke: (request: Req) => Promise<Res>): Promise<Res> {
    ctx.principal = principal;
    if (request instanceof UndecodableRequest) return Promise.reject(request.error);
    const checked = guard.authorize(method, request, principal);
    return checked ? checked.then(() => invoke(request)) : invoke(request);
  }

  unary<Req, Res>(method: string, handler: (request: Req, ctx: RpcContext) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      let stopTimer: ((code: string) => void) | undefined;
      try {
        const given = givenRequestId(call.metadata);
        const ctx = new CallContext(this.logger, method, call.metadata, given, this.guard);
        stopTimer = this.metrics.rpcStarted(method);
        // A given id is echoed in the headers, which go out with the answer (one socket write, not
        // two). A generated one is only sent with an error (in its trailers), where a client needs
        // it to quote the failure: a unique header on every answer cost 6-10 µs of GetJobStatus's CPU.
        const echo = () => given && call.sendMetadata(requestIdMetadata(given));
        const request: Req | UndecodableRequest = call.request;
        this.guarded(method, call, request, ctx, (r: Req) => handler(r, ctx))
          .then(
            (response) => {
              stopTimer?.("OK");
              stopTimer = undefined;
              echo();
              callback(null, response);
              this.guard?.settle(method, ctx, call, request, response, null, "OK");
            },
            (error: unknown) => {
              const serviceError = this.toStatus(error, ctx);
              stopTimer?.(status[serviceError.code]);
              stopTimer = undefined;
              echo();
              callback(serviceError);
              this.guard?.settle(method, ctx, call, request, undefined, error, status[serviceError.code]);
            },
          )
          .catch((error: unknown) => this.lastResort(method, error, stopTimer, (s) => callback(s)));
      } catch (error) {
        this.lastResort(method, error, stopTimer, (s) => callback(s));
      }
    };
  }

  serverStream<Req, Res>(method: string, handler: (request: Req, stream: ServerWritableStream<Req, Res>, ctx: StreamContext) => Promise<void>) {
    return (call: ServerWritableStream<Req, Res>) => {
      let stopTimer: ((code: string) => void) | undefined;
      try {
        const ctx = this.streamContext(method, call.metadata, call);
        // Once per stream: a stream's headers always carry the id, given or generated.
        stopTimer = this.metrics.rpcStarted(method);
        call.sendMetadata(requestIdMetadata(ctx.requestId));
        const request: Req | UndecodableRequest = call.request;
        this.guarded(method, call, request, ctx, (r: Req) => handler(r, call, ctx))
          .then(
            () => {
              stopTimer?.("OK");
              stopTimer = undefined;
              if (!call.cancelled) call.end();
              this.guard?.settle(method, ctx, call, request, undefined, null, "OK");
            },
            (error: unknown) => {
              const serviceError = this.toStatus(error, ctx);
              stopTimer?.(status[serviceError.code]);
              stopTimer = undefined;
              if (!call.cancelled) call.emit("error", serviceError);
              this.guard?.settle(method, ctx, call, request, undefined, error, status[serviceError.code]);
            },
          )
          .catch((error: unknown) => this.lastResort(method, error, stopTimer, (s) => !call.cancelled && call.emit("error", s)));
      } catch (error) {
        this.lastResort(method, error, stopTimer, (s) => !call.cancelled && call.emit("error", s));
      }
    };
  }

  /**
   * When answering a call failed (the handler threw synchronously, or mapping its error to a
   * status did): answers INTERNAL without anything taken from the error, and logs. Nothing
   * thrown here may escape either: it would be an uncaught exception or an unhandled rejection,
   * which ends the process and every run it supervises.
   */
  private lastResort(method: string, error: unknown, stopTimer: ((code: string) => void) | undefined, answer: (s: StatusObject) => unknown): void {
    const requestId = randomUUID();
    try {
      this.logger.error({ err: describe(error), method, requestId }, "answering the request failed");
    } catch {
      // a logger that throws must not stop the answer
    }
    try {
      stopTimer?.("INTERNAL");
    } catch {
      // nor a metric
    }
    try {
      answer({ code: status.INTERNAL, details: `internal error (request id ${requestId})`, metadata: requestIdMetadata(requestId) });
    } catch {
      // the call is gone; nothing left to answer
    }
  }

  private streamContext(method: string, metadata: Metadata, call: CancellableCall): StreamCallContext {
    const controller = new AbortController();
    call.on("cancelled", () => controller.abort());
    return new StreamCallContext(this.logger, method, metadata, givenRequestId(metadata), this.guard, controller.signal);
  }

  /** The error's status, its trailers carrying the request id. */
  private toStatus(error: unknown, ctx: RpcContext): StatusObject {
    if (error instanceof AuthError) {
      ctx.logger.debug({ code: error.kind, reason: error.reason, failure: error.failure }, error.message);
      const refusal = authErrorStatus(error);
      refusal.metadata.set("x-request-id", ctx.requestId);
      return refusal;
    }
    // An ex-leader's write, refused by the store: another replica serves it.
    if (error instanceof FencedError) return this.toStatus(new Unavailable(`this replica stopped leading; try another one (${error.message})`, "NOT_LEADER"), ctx);
    if (error instanceof DomainError) {
      ctx.logger.debug({ code: status[statusOf(error)], field: error.field }, error.message);
      const serviceError = toServiceError(error);
      // Legal as it is: a given id matched REQUEST_ID, a generated one is a UUID.
      serviceError.metadata.set("x-request-id", ctx.requestId);
      return serviceError;
    }
    ctx.logger.error({ err: error }, "request failed");
    return { code: status.INTERNAL, details: `internal error (request id ${ctx.requestId})`, metadata: requestIdMetadata(ctx.requestId) };
  }
}

/** An error as a log line can hold it, whatever was thrown (even an object whose every property access throws). */
function describe(error: unknown): unknown {
  try {
    return error instanceof Error ? error : { thrown: String(error) };
  } catch {
    return { thrown: "(a value that cannot be inspected)" };
  }
}
