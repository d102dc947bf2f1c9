// A client that sends bytes as they are and hands back the answer's bytes, status and trailers:
// how malformed requests (and requests no generated encoder would produce) reach the server.
import {
  credentials, makeGenericClientConstructor, Metadata, status, type Client, type ServiceDefinition, type ServiceError,
} from "@grpc/grpc-js";
import { JobSchedulerService } from "../../src/gen/jobscheduler/v1/jobscheduler.js";
import { apiKeyInterceptor, TEST_ADMIN_KEY } from "./auth.js";

const identity = (value: Buffer) => value;

/** Every RPC of the service, by its proto name (ScheduleJob, ...), with identity serializers. */
const definition: ServiceDefinition = Object.fromEntries(
  Object.values(JobSchedulerService).map((method) => [
    method.path.split("/").pop()!,
    {
      path: method.path,
      requestStream: false,
      responseStream: method.responseStream,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  ]),
);

/** The RPC names and whether each answers with a stream. */
export const RPCS: { name: string; stream: boolean }[] = Object.values(JobSchedulerService).map((m) => ({ name: m.path.split("/").pop()!, stream: m.responseStream }));

const RawClientConstructor = makeGenericClientConstructor(definition, "RawJobScheduler");

export interface RawAnswer {
  code: status;
  details: string;
  /** The trailers (for an error) as grpc-js received them. */
  trailers: Metadata;
  /** Response messages: one for a unary call, any number for a stream. */
  messages: Buffer[];
}

type UnaryMethod = (request: Buffer, metadata: Metadata, options: object, callback: (error: ServiceError | null, response?: Buffer) => void) => unknown;
type StreamMethod = (request: Buffer, metadata: Metadata, options: object) => NodeJS.EventEmitter & { cancel(): void };

export class RawClient {
  readonly client: Client & Record<string, unknown>;

  /** Calls carry `key` (default the test admin key) unless their metadata holds a credential. */
  constructor(address: string, key = TEST_ADMIN_KEY) {
    this.client = new RawClientConstructor(address, credentials.createInsecure(), { interceptors: [apiKeyInterceptor(key)] }) as Client & Record<string, unknown>;
  }

  /** Calls `rpc` with `bytes`; resolves with whatever status the server answers (never rejects on a gRPC error). */
  call(rpc: string, bytes: Uint8Array, options: { deadlineMs?: number; metadata?: Metadata } = {}): Promise<RawAnswer> {
    const method = this.client[rpc];
    if (typeof method !== "function") throw new Error(`no RPC ${rpc}`);
    const callOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
    const metadata = options.metadata ?? new Metadata();
    const request = Buffer.from(bytes);
    if (RPCS.find((r) => r.name === rpc)!.stream) {
      return new Promise((resolve) => {
        const messages: Buffer[] = [];
        const stream = (method as StreamMethod).call(this.client, request, metadata, callOptions);
        stream.on("data", (message: Buffer) => messages.push(message));
        stream.on("error", () => undefined); // the status below says it all
        stream.on("status", (s: { code: status; details: string; metadata: Metadata }) => resolve({ code: s.code, details: s.details, trailers: s.metadata, messages }));
      });
    }
    return new Promise((resolve) => {
      (method as UnaryMethod).call(this.client, request, metadata, callOptions, (error, response) => {
        if (error) resolve({ code: error.code, details: error.details, trailers: error.metadata, messages: [] });
        else resolve({ code: status.OK, details: "", trailers: new Metadata(), messages: response ? [response] : [] });
      });
    });
  }

  close(): void {
    this.client.close();
  }
}
