// The cross-cutting part of every RPC, applied once around each handler (what
// grpc-node's examples do with interceptors): request id, logging, metrics, and
// mapping errors to status codes. Handlers are plain async functions.
import { randomUUID } from "node:crypto";
import {
  Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream,
} from "@grpc/grpc-js";
import type { Level, Logger } from "pino";
import type { Metrics } from "../observability/metrics.js";
import { ApiError, toServiceError } from "./errors.js";

/** Logs with the request's id and method. */
export type RequestLogger = Record<Exclude<Level, "fatal">, (fields: object, message: string) => void>;

export interface RpcContext {
  requestId: string;
  logger: RequestLogger;
  metadata: Metadata;
  /** Aborted when the client cancels or disconnects. */
  signal: AbortSignal;
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

function requestIdOf(metadata: Metadata): string {
  const given = metadata.get("x-request-id")[0];
  return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
}

function requestIdMetadata(requestId: string): Metadata {
  const metadata = new Metadata();
  metadata.set("x-request-id", requestId);
  return metadata;
}

interface CancellableCall {
  on(event: "cancelled", listener: () => void): unknown;
}

/** The child logger is made on the first line actually logged: most calls log nothing at the usual levels. */
class RequestLog implements RequestLogger {
  private child?: Logger;

  constructor(
    private readonly parent: Logger,
    private readonly requestId: string,
    private readonly method: string,
  ) {}

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

export class RpcInstrumentation {
  constructor(
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {}

  unary<Req, Res>(method: string, handler: (request: Req, ctx: RpcContext) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const ctx = this.context(method, call.metadata, call);
      const stopTimer = this.metrics.rpcStarted(method);
      // The headers go out with the answer, not ahead of it: one write to the socket per call, not two.
      const sendHeaders = () => call.sendMetadata(requestIdMetadata(ctx.requestId));
      handler(call.request, ctx).then(
        (response) => {
          stopTimer("OK");
          sendHeaders();
          callback(null, response);
        },
        (error: unknown) => {
          const serviceError = this.toStatus(error, ctx);
          stopTimer(status[serviceError.code!]);
          sendHeaders();
          callback(serviceError);
        },
      );
    };
  }

  serverStream<Req, Res>(method: string, handler: (request: Req, stream: ServerWritableStream<Req, Res>, ctx: RpcContext) => Promise<void>) {
    return (call: ServerWritableStream<Req, Res>) => {
      const ctx = this.context(method, call.metadata, call);
      const stopTimer = this.metrics.rpcStarted(method);
      call.sendMetadata(requestIdMetadata(ctx.requestId));
      handler(call.request, call, ctx).then(
        () => {
          stopTimer("OK");
          if (!call.cancelled) call.end();
        },
        (error: unknown) => {
          const serviceError = this.toStatus(error, ctx);
          stopTimer(status[serviceError.code!]);
          if (!call.cancelled) call.emit("error", serviceError);
        },
      );
    };
  }

  private context(method: string, metadata: Metadata, call: CancellableCall): RpcContext {
    const requestId = requestIdOf(metadata);
    // The signal is made on first use: most unary calls never watch for cancellation. (The
    // listener stays eager: a context that held on to the call kept whole calls alive.)
    let controller: AbortController | undefined;
    let cancelled = false;
    call.on("cancelled", () => {
      cancelled = true;
      controller?.abort();
    });
    return {
      requestId,
      metadata,
      logger: new RequestLog(this.logger, requestId, method),
      get signal() {
        if (!controller) {
          controller = new AbortController();
          if (cancelled) controller.abort();
        }
        return controller.signal;
      },
    };
  }

  private toStatus(error: unknown, ctx: RpcContext) {
    if (error instanceof ApiError) {
      ctx.logger.debug({ code: status[error.code], field: error.field }, error.message);
      return { ...toServiceError(error), details: error.message } as { code: status; details: string; metadata: Metadata };
    }
    ctx.logger.error({ err: error }, "request failed");
    const metadata = new Metadata();
    metadata.set("x-request-id", ctx.requestId);
    return { code: status.INTERNAL, details: `internal error (request id ${ctx.requestId})`, metadata };
  }
}
