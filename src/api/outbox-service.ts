import { status } from "@grpc/grpc-js";
import { ApiError } from "./errors.js";
import type { OutboxRpcs } from "./job-scheduler-service.js";
import type { RpcInstrumentation } from "./rpc.js";

// Replaced by the Hub outbox implementation; until then these RPCs answer UNIMPLEMENTED.
export function outboxService(rpc: RpcInstrumentation): OutboxRpcs {
  const unimplemented = (name: string) =>
    rpc.unary(name, async () => {
      throw new ApiError(status.UNIMPLEMENTED, `${name} is not available in this build`);
    });
  return { listOutbox: unimplemented("ListOutbox"), resendOutbox: unimplemented("ResendOutbox") };
}
