// Starts the real service for a test: in this process (startApp) or as a child
// process (`node dist/main.js`, for crash and restart tests), always on real ports
// with a real store, and gives back a generated gRPC client.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { credentials, Metadata, type CallOptions, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import pino from "pino";
import { startApp, type AppOptions, type RunningApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { JobSchedulerClient, type JobEvent } from "../../src/gen/jobscheduler/v1/jobscheduler.js";
import { apiKeyInterceptor, TEST_ADMIN_KEY, TEST_KEYS_FILE } from "./auth.js";

export const ROOT = resolve(import.meta.dirname, "../..");
export const COLLECTORS_DIR = join(ROOT, "dist/collectors");
/** The node flags of `npm start` (the service's V8 heap setting), which the Dockerfile repeats. */
export const START_NODE_FLAGS: string[] = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.start as string)
  .split(/\s+/)
  .filter((arg) => arg.startsWith("--"));
/** The flags spawned services run with: START_NODE_FLAGS, or SERVICE_NODE_FLAGS from the environment to compare others ("" for none). */
export const SERVICE_NODE_FLAGS: string[] =
  process.env.SERVICE_NODE_FLAGS === undefined ? START_NODE_FLAGS : process.env.SERVICE_NODE_FLAGS.split(/\s+/).filter(Boolean);

export function tempDir(prefix = "jobscheduler-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Any public host, and loopback (IPv4 and IPv6) on any port. */
export const LOOPBACK_ALLOWLIST = "*,127.0.0.0/8,[::1]";

export function baseEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    GRPC_HOST: "127.0.0.1",
    GRPC_PORT: "0",
    HTTP_HOST: "127.0.0.1",
    HTTP_PORT: "0",
    METRICS_PORT: "0",
    DATA_DIR: dataDir,
    COLLECTORS_DIR,
    LOG_LEVEL: "silent",
    KILL_GRACE_PERIOD: "2s",
    SHUTDOWN_TIMEOUT: "1s",
    DISPATCH_POLL_INTERVAL: "200ms",
    // Every call needs a key: this file declares TEST_ADMIN_KEY, which testClient sends.
    API_KEYS_FILE: TEST_KEYS_FILE,
    // Every test target is on loopback, which the egress policy refuses by default.
    TARGET_ALLOWLIST: LOOPBACK_ALLOWLIST,
    ...extra,
  };
}

/** A client of the service at `address` that sends `key` (default the test admin key) with every call. */
export function testClient(address: string, key = TEST_ADMIN_KEY): JobSchedulerClient {
  return new JobSchedulerClient(address, credentials.createInsecure(), { interceptors: [apiKeyInterceptor(key)] });
}

/**
 * A sample's value from the service's /metrics (Prometheus text), the series whose labels
 * include `labels`; 0 when there is none. For waiting on an event the service counts (the
 * dispatcher's next pass, the outbox worker's next delivery attempt).
 */
export async function metricValue(metricsPort: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) total += Number(match[3]);
  }
  return total;
}

export interface TestService {
  app: RunningApp;
  client: JobSchedulerClient;
  dataDir: string;
  stop(): Promise<void>;
}

/** `options` reaches startApp as is (e.g. a ManualClock from ./manual-clock.js). */
export async function startService(extra: Record<string, string> = {}, dataDir = tempDir(), options: AppOptions = {}): Promise<TestService> {
  const config = loadConfig(baseEnv(dataDir, extra));
  const app = await startApp(config, pino({ level: "silent" }), options);
  const client = testClient(`127.0.0.1:${app.grpcPort}`);
  return {
    app,
    client,
    dataDir,
    async stop() {
      client.close();
      await app.stop();
    },
  };
}

export interface ChildService {
  process: ChildProcess;
  grpcPort: number;
  httpPort: number;
  metricsPort: number;
  client: JobSchedulerClient;
  logs: string[];
  /** Resolves with the exit code or signal. */
  exited: Promise<number | string>;
}

/**
 * Runs `node dist/main.js` (with the flags of `npm start`) and waits for its "ready" log line (so LOG_LEVEL must be info or finer).
 * `nodeArgs` go before the script (flags NODE_OPTIONS refuses, such as --cpu-prof).
 */
export async function spawnService(env: Record<string, string>, nodeArgs: string[] = []): Promise<ChildService> {
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...nodeArgs, join(ROOT, "dist/main.js")], {
    env: { PATH: process.env.PATH ?? "", ...env, LOG_LEVEL: env.LOG_LEVEL === "silent" ? "info" : (env.LOG_LEVEL ?? "info") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")));
  const ready = new Promise<{ grpcPort: number; httpPort: number; metricsPort: number }>((resolve, reject) => {
    let buffered = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        logs.push(line);
        try {
          const entry = JSON.parse(line);
          if (entry.msg === "jobscheduler ready") resolve(entry);
        } catch {
          // not a log line
        }
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => logs.push(chunk.toString()));
    void exited.then((code) => reject(new Error(`service exited (${code}) before it was ready:\n${logs.join("\n")}`)));
  });
  const ports = await ready;
  return {
    process: child,
    ...ports,
    client: testClient(`127.0.0.1:${ports.grpcPort}`),
    logs,
    exited,
  };
}

// The generated methods are overloaded; inference takes the last overload, this one.
type Unary<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/** Promise form of a generated unary method: `await call(client.getJobStatus, { jobId })`. */
export function call<Req, Res>(client: JobSchedulerClient, method: Unary<Req, Res>, request: Req, metadata = new Metadata()): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, metadata, {}, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

/** Collects a WatchJob stream until it ends. */
export function collect(stream: ClientReadableStream<JobEvent>): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  return new Promise((resolve, reject) => {
    stream.on("data", (event: JobEvent) => events.push(event));
    stream.on("error", reject);
    stream.on("end", () => resolve(events));
  });
}

export async function waitFor<T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function cleanup(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
