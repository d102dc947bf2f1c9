import { Server, ServerCredentials, type ServerInterceptor } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type { RpcName } from "../auth/permissions.js";
import type { JobSchedulerServer, JobSchedulerService } from "../gen/jobscheduler/v1/jobscheduler.js";
import { reflectionPackageDefinition } from "./reflection-descriptors.js";
import { withSafeRequestDecoding } from "./request-decoding.js";
import { JobSchedulerServiceDefinition } from "./shared-messages.js";

export const SERVICE_NAME = "jobscheduler.v1.JobScheduler";

/** Compile-time: the authorization table (src/auth/permissions.ts) names exactly the service's RPCs. */
type ServiceRpc = Capitalize<keyof typeof JobSchedulerService & string>;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
export const EVERY_RPC_HAS_A_RULE: Same<ServiceRpc, RpcName> = true;

export interface GrpcServer {
  server: Server;
  health: HealthImplementation;
  port: number;
}

export interface GrpcServerOptions {
  /** Default: plaintext. TLS (and mTLS) credentials come from tls-credentials.ts. */
  credentials?: ServerCredentials;
  /** Interceptors of every call (reflection-guard.ts, when reflection needs credentials). */
  interceptors?: ServerInterceptor[];
}

/** The gRPC server with our service, grpc.health.v1 and server reflection (so grpcurl needs no .proto). */
export async function startGrpcServer(implementation: JobSchedulerServer, host: string, port: number, options: GrpcServerOptions = {}): Promise<GrpcServer> {
  const server = new Server({
    "grpc.max_receive_message_length": 4 * 1024 * 1024,
    "grpc.keepalive_permit_without_calls": 1,
    ...(options.interceptors?.length ? { interceptors: options.interceptors } : {}),
  });
  // Requests are decoded by a deserializer that never throws (a throw is grpc-js's INTERNAL).
  server.addService(withSafeRequestDecoding(JobSchedulerServiceDefinition), implementation);

  const health = new HealthImplementation({ "": "NOT_SERVING", [SERVICE_NAME]: "NOT_SERVING" });
  health.addToServer(server);

  // Reflection describes the health service too, so grpcurl can call it without a .proto.
  new ReflectionService(reflectionPackageDefinition()).addToServer(server);

  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, options.credentials ?? ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  return { server, health, port: boundPort };
}

export function setServing(health: HealthImplementation, serving: boolean): void {
  const state = serving ? "SERVING" : "NOT_SERVING";
  health.setStatus("", state);
  health.setStatus(SERVICE_NAME, state);
}

/** Stops accepting calls; calls still open after `graceMs` (e.g. WatchJob streams) are cut. */
export function stopGrpcServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
