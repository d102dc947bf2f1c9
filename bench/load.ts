// Closed-loop unary load generator: C clients, each with its own connection (a
// grpc-js Client, or a bare HTTP/2 session speaking gRPC, see ClientKind), each
// keeping exactly one call in flight. A warm-up, then a measured window; every call
// completing inside the window is counted and its latency (process.hrtime.bigint,
// request encoded -> response decoded) recorded. The server's CPU time, ours, and
// everybody else's over the window are reported too, so a reader can tell which
// side was the bottleneck and whether the machine was quiet.
import http2 from "node:http2";
import { connect as connectTcp } from "node:net";
import { Client, credentials, Metadata, status, type ChannelOptions, type ServiceError } from "@grpc/grpc-js";
import { machineBusySeconds, processCpuSeconds } from "./procs.js";

/**
 * Client channel options, identical for every server measured. A local subchannel
 * pool gives each Client its own HTTP/2 connection (grpc-js otherwise shares one
 * connection between channels to the same address), so 32 clients are 32 connections.
 */
export const CLIENT_CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.use_local_subchannel_pool": 1,
  "grpc.max_receive_message_length": 4 * 1024 * 1024,
};

export interface UnaryTarget<Req, Res> {
  address: string;
  /** Full method path, e.g. "/jobscheduler.v1.JobScheduler/GetJobStatus". */
  path: string;
  serialize: (request: Req) => Buffer;
  deserialize: (bytes: Buffer) => Res;
  /** The request for client `client`'s `seq`-th call (seq counts from 0 per client). */
  request: (client: number, seq: number) => Req;
  /** Headers every call sends (e.g. `authorization`). */
  headers?: Record<string, string>;
}

export interface LoadOptions {
  client: ClientKind;
  concurrency: number;
  warmupMs: number;
  windowMs: number;
  /** The server's pid, to report its CPU use over the window. */
  serverPid?: number;
}

export interface LoadResult {
  concurrency: number;
  windowSeconds: number;
  /** Calls that completed OK inside the window. */
  completed: number;
  /** Calls that failed inside the window. */
  errors: number;
  /** Calls that failed during warm-up or drain. */
  errorsOutsideWindow: number;
  /** Calls that succeeded overall (warm-up, window and drain). */
  totalOk: number;
  errorSamples: string[];
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** Server CPU use over the window, % of one core (100 = one core busy). */
  serverCpuPct: number | null;
  /** Load generator CPU use over the window, % of one core. */
  clientCpuPct: number;
  /**
   * CPU used over the window by everything else on the machine (other processes,
   * the kernel outside our two processes' accounting), % of one core. High values
   * mean the figures were disturbed.
   */
  otherCpuPct: number | null;
  /**
   * Server CPU time per call over the window, microseconds: the server's cost per
   * call, much less sensitive than req/s to which side was the bottleneck (it still
   * falls somewhat with load, as more calls share each event-loop turn).
   */
  serverCpuUsPerCall: number | null;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(p * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * How the load generator talks gRPC:
 * - "grpc-js": one @grpc/grpc-js Client (channel) per client, as real Node clients
 *   do. Costs the client about 1.5x the CPU per call that a bare grpc-js server
 *   spends, so on a machine where the load generator gets one core and the server
 *   one, the load generator saturates first and the echo baseline is understated
 *   (the ratios then flatter the service).
 * - "http2" (the default in bench/grpc-api.ts): one node:http2 session per client
 *   speaking the gRPC wire protocol directly (HEADERS, length-prefixed message,
 *   grpc-status trailers; Nagle off as grpc-js does). About half the client CPU per
 *   call of grpc-js, so the server, not the load generator, is what gets saturated.
 */
export type ClientKind = "grpc-js" | "http2";

export interface CallError {
  code: number;
  details: string;
}

type Done = (error: CallError | null) => void;

interface Connection {
  unary(path: string, request: Buffer, deserialize: (bytes: Buffer) => unknown, done: Done): void;
  close(): void;
}

const identity = (bytes: Buffer) => bytes;

async function grpcJsConnection(address: string, headers: Record<string, string>): Promise<Connection> {
  const client = new Client(address, credentials.createInsecure(), CLIENT_CHANNEL_OPTIONS);
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + 10_000, (error) => (error ? reject(new Error(`cannot connect to ${address}: ${error.message}`)) : resolve())),
  );
  return {
    unary(path, request, deserialize, done) {
      client.makeUnaryRequest(path, identity, deserialize, request, metadata.clone(), (error: ServiceError | null) =>
        done(error ? { code: error.code, details: error.details || error.message } : null),
      );
    },
    close: () => client.close(),
  };
}

async function http2Connection(address: string, headers: Record<string, string>): Promise<Connection> {
  // Our own socket, with Nagle off as grpc-js does for its client connections (transport.ts).
  const [host, port] = [address.slice(0, address.lastIndexOf(":")), Number(address.slice(address.lastIndexOf(":") + 1))];
  const session = http2.connect(`http://${address}`, {
    settings: { enablePush: false },
    createConnection: () => connectTcp({ host, port, noDelay: true }),
  });
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", (error) => reject(new Error(`cannot connect to ${address}: ${error.message}`)));
  });
  session.on("error", () => undefined); // surfaced per stream
  return {
    unary(path, request, deserialize, done) {
      const stream = session.request({
        ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers,
      });
      const chunks: Buffer[] = [];
      let grpcStatus: string | undefined;
      let grpcMessage = "";
      let failure: string | undefined;
      const takeStatus = (headers: http2.IncomingHttpHeaders) => {
        if (headers["grpc-status"] !== undefined) {
          grpcStatus = String(headers["grpc-status"]);
          grpcMessage = decodeURIComponent(String(headers["grpc-message"] ?? ""));
        }
      };
      stream.on("response", (headers) => {
        if (headers[":status"] !== 200) failure = `HTTP status ${headers[":status"]}`;
        takeStatus(headers); // trailers-only responses carry the status in the headers
      });
      stream.on("trailers", takeStatus);
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("error", (error) => (failure ??= error.message));
      stream.on("close", () => {
        if (failure) return done({ code: status.UNAVAILABLE, details: failure });
        if (grpcStatus !== "0") return done({ code: Number(grpcStatus ?? status.UNKNOWN), details: grpcMessage || "no grpc-status" });
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
          return done({ code: status.INTERNAL, details: `malformed response body (${body.length} bytes)` });
        }
        try {
          deserialize(body.subarray(5));
        } catch (error) {
          return done({ code: status.INTERNAL, details: `cannot decode response: ${(error as Error).message}` });
        }
        done(null);
      });
      const frame = Buffer.allocUnsafe(5 + request.length);
      frame[0] = 0;
      frame.writeUInt32BE(request.length, 1);
      request.copy(frame, 5);
      stream.end(frame);
    },
    close: () => session.close(),
  };
}

function connect(kind: ClientKind, address: string, count: number, headers: Record<string, string>): Promise<Connection[]> {
  const open = kind === "http2" ? http2Connection : grpcJsConnection;
  return Promise.all(Array.from({ length: count }, () => open(address, headers)));
}

export async function runLoad<Req, Res>(target: UnaryTarget<Req, Res>, options: LoadOptions): Promise<LoadResult> {
  const { concurrency, warmupMs, windowMs } = options;
  const clients = await connect(options.client, target.address, concurrency, target.headers ?? {});
  // Room for ~50k calls/s without regrowing; grows by doubling beyond that.
  let latencies = new Float64Array(Math.max(1024, Math.ceil((windowMs / 1000) * 50_000)));
  let count = 0;
  let errors = 0;
  let errorsOutsideWindow = 0;
  let totalOk = 0;
  const errorSamples: string[] = [];
  let measuring = false;
  let stopping = false;
  let inFlight = 0;
  let onDrained: (() => void) | undefined;

  const record = (latencyNs: number) => {
    if (count === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[count++] = latencyNs;
  };

  const noteError = (error: CallError) => {
    if (errorSamples.length < 5) errorSamples.push(`${status[error.code] ?? error.code}: ${error.details}`);
  };

  const issue = (c: number, seq: number): void => {
    if (stopping) {
      if (--inFlight === 0) onDrained?.();
      return;
    }
    const request = target.serialize(target.request(c, seq));
    const start = process.hrtime.bigint();
    clients[c].unary(target.path, request, target.deserialize, (error) => {
      const end = process.hrtime.bigint();
      if (!error) totalOk++;
      if (measuring) {
        if (error) {
          errors++;
          noteError(error);
        } else record(Number(end - start));
      } else if (error) {
        errorsOutsideWindow++;
        noteError(error);
      }
      issue(c, seq + 1);
    });
  };

  let windowStart = 0n;
  let windowEnd = 0n;
  let serverCpuStart: number | null = null;
  let serverCpuEnd: number | null = null;
  let clientCpuStart = process.cpuUsage();
  let machineStart: number | null = null;
  let machineEnd: number | null = null;
  let clientCpu = { user: 0, system: 0 };

  inFlight = concurrency;
  for (let c = 0; c < concurrency; c++) issue(c, 0);

  await new Promise<void>((resolve) => setTimeout(resolve, warmupMs));
  measuring = true;
  windowStart = process.hrtime.bigint();
  serverCpuStart = options.serverPid ? processCpuSeconds(options.serverPid) : null;
  clientCpuStart = process.cpuUsage();
  machineStart = machineBusySeconds();

  await new Promise<void>((resolve) => setTimeout(resolve, windowMs));
  measuring = false;
  windowEnd = process.hrtime.bigint();
  serverCpuEnd = options.serverPid ? processCpuSeconds(options.serverPid) : null;
  clientCpu = process.cpuUsage(clientCpuStart);
  machineEnd = machineBusySeconds();
  stopping = true;

  const drained = new Promise<boolean>((resolve) => {
    onDrained = () => resolve(true);
    if (inFlight === 0) resolve(true);
    setTimeout(() => resolve(false), 30_000).unref();
  });
  if (!(await drained)) {
    errorSamples.push(`${inFlight} calls still in flight 30 s after the window closed`);
    errorsOutsideWindow += inFlight;
  }
  for (const client of clients) client.close();

  const windowSeconds = Number(windowEnd - windowStart) / 1e9;
  const serverCpuSeconds = serverCpuStart !== null && serverCpuEnd !== null ? serverCpuEnd - serverCpuStart : null;
  const sorted = latencies.subarray(0, count).sort();
  let sum = 0;
  for (let i = 0; i < count; i++) sum += sorted[i];
  const ms = (ns: number) => ns / 1e6;
  return {
    concurrency,
    windowSeconds,
    completed: count,
    errors,
    errorsOutsideWindow,
    totalOk,
    errorSamples,
    rps: count / windowSeconds,
    p50Ms: ms(percentile(sorted, 0.5)),
    p90Ms: ms(percentile(sorted, 0.9)),
    p99Ms: ms(percentile(sorted, 0.99)),
    maxMs: count ? ms(sorted[count - 1]) : NaN,
    meanMs: count ? ms(sum / count) : NaN,
    serverCpuPct: serverCpuSeconds === null ? null : (serverCpuSeconds / windowSeconds) * 100,
    serverCpuUsPerCall: serverCpuSeconds === null || count === 0 ? null : (serverCpuSeconds * 1e6) / (count + errors),
    clientCpuPct: ((clientCpu.user + clientCpu.system) / 1e6 / windowSeconds) * 100,
    otherCpuPct:
      machineStart === null || machineEnd === null || serverCpuSeconds === null
        ? null
        : Math.max(0, ((machineEnd - machineStart - serverCpuSeconds - (clientCpu.user + clientCpu.system) / 1e6) / windowSeconds) * 100),
  };
}
