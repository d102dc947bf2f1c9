// The cross-cutting part of every RPC, applied once around each handler (what
// grpc-node's examples do with interceptors): request id, logging, metrics, and
// mapping errors to status codes. Handlers are plain async functions.
import { randomUUID } from "node:crypto";
import {
  Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Metrics } from "../observability/metrics.js";
import { ApiError, toServiceError } from "./errors.js";

export interface RpcContext {
  requestId: string;
  logger: Logger;
  metadata: Metadata;
  /** Aborted when the client cancels or disconnects. */
  signal: AbortSignal;
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

function requestIdOf(metadata: Metadata): string {
  const given = metadata.get("x-request-id")[0];
  return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
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
      const responseMetadata = new Metadata();
      responseMetadata.set("x-request-id", ctx.requestId);
      call.sendMetadata(responseMetadata);
      handler(call.request, ctx).then(
        (response) => {
          stopTimer("OK");
          callback(null, response);
        },
        (error: unknown) => {
          const serviceError = this.toStatus(error, ctx);
          stopTimer(status[serviceError.code!]);
          callback(serviceError);
        },
      );
    };
  }

  serverStream<Req, Res>(method: string, handler: (request: Req, stream: ServerWritableStream<Req, Res>, ctx: RpcContext) => Promise<void>) {
    return (call: ServerWritableStream<Req, Res>) => {
      const ctx = this.context(method, call.metadata, call);
      const stopTimer = this.metrics.rpcStarted(method);
      const responseMetadata = new Metadata();
      responseMetadata.set("x-request-id", ctx.requestId);
      call.sendMetadata(responseMetadata);
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

  private context(method: string, metadata: Metadata, call: { on(event: "cancelled", cb: () => void): unknown }): RpcContext {
    const requestId = requestIdOf(metadata);
    const parent = this.logger;
    // Made on first use: most unary calls never log nor watch for cancellation, and grpc-js
    // emits "cancelled" after every finished call.
    let logger: Logger | undefined;
    let controller: AbortController | undefined;
    let cancelled = false;
    call.on("cancelled", () => {
      cancelled = true;
      controller?.abort();
    });
    return {
      requestId,
      metadata,
      get logger() {
        return (logger ??= parent.child({ requestId, method }));
      },
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
