// The service's connection to the Kubernetes API: how it authenticates (in-cluster service
// account, a kubeconfig file, or an explicit server + token file), and the one path every call
// takes: a client-side token bucket (QPS, burst; log reads queue behind everything else), a
// per-request timeout, and retries with back-off on 429 (honouring Retry-After), 5xx and
// connection errors. Watches and followed logs are streams opened through the same bucket.
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import {
  ApiException,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  ServerConfiguration,
  Watch,
  createConfiguration,
  type Middleware,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { backoffDelay } from "./backoff.js";
import { TokenBucket, type Priority } from "./rate-limiter.js";

export { backoffDelay } from "./backoff.js";

export interface KubeConnection {
  /** A kubeconfig file (KUBECONFIG); its current context is used. */
  kubeconfig?: string;
  /** An explicit API server URL (K8S_API_SERVER), used with tokenFile. */
  apiServer?: string;
  /** A file holding a bearer token, re-read every minute (projected tokens rotate). */
  tokenFile?: string;
  /** The CA bundle for apiServer; the system's CAs when unset. */
  caFile?: string;
}

export const IN_CLUSTER_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** Loads credentials: an explicit server first, then a kubeconfig file, else the in-cluster service account. */
export function loadKubeConfig(connection: KubeConnection): KubeConfig {
  const kc = new KubeConfig();
  if (connection.apiServer) {
    if (!connection.tokenFile) throw new Error("K8S_API_SERVER needs K8S_TOKEN_FILE (a file holding the bearer token)");
    const token = readFileSync(connection.tokenFile, "utf8");
    if (token.trim() === "") throw new Error(`K8S_TOKEN_FILE ${connection.tokenFile} is empty`);
    if (token !== token.trim()) {
      throw new Error(`K8S_TOKEN_FILE ${connection.tokenFile} has leading or trailing whitespace (a newline?): write the token alone`);
    }
    const server = connection.apiServer.replace(/\/+$/, "");
    kc.loadFromOptions({
      // Plain http is only accepted for loopback addresses (kubectl proxy, tests): the config
      // schema refuses any other http URL. client-node needs skipTLSVerify to speak http at all.
      clusters: [{ name: "jobscheduler", server, caFile: connection.caFile, skipTLSVerify: server.startsWith("http:") }],
      users: [{ name: "jobscheduler", authProvider: { name: "tokenFile", config: { tokenFile: connection.tokenFile } } }],
      contexts: [{ name: "jobscheduler", cluster: "jobscheduler", user: "jobscheduler" }],
      currentContext: "jobscheduler",
    });
  } else if (connection.kubeconfig) {
    kc.loadFromFile(connection.kubeconfig);
  } else {
    kc.loadFromCluster();
  }
  if (!kc.getCurrentCluster()) throw new Error("the Kubernetes configuration names no current cluster");
  return kc;
}

export interface KubeClientOptions {
  qps: number;
  burst: number;
  /** Retries of one call after the first try (429, 5xx, connection errors). */
  maxRetries: number;
  requestTimeoutMs: number;
  logger: Logger;
}

/** A failed API call, after retries: the HTTP status (when there was an answer) and the server's Status message. */
export class KubeApiError extends Error {
  constructor(
    readonly action: string,
    /** HTTP status; undefined for a connection error or timeout. */
    readonly code: number | undefined,
    /** The Status reason (AlreadyExists, NotFound, Forbidden...) or the connection error's code. */
    readonly reason: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${action} failed: ${code ?? "no answer"}${reason ? ` ${reason}` : ""}: ${detail}`, options);
    this.name = "KubeApiError";
  }
}

const RETRYABLE_STATUS = new Set([500, 502, 503, 504]);
const RETRYABLE_NETWORK = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH|socket hang up|aborted|premature close|other side closed/i;

/** The HTTP status of an API error, whichever form it takes (ApiException, KubeApiError, a watch's error). */
export function statusOf(error: unknown): number | undefined {
  if (error instanceof KubeApiError) return error.code;
  if (error instanceof ApiException) return error.code;
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === "number" ? code : undefined;
}

function describe(action: string, error: unknown): KubeApiError {
  if (error instanceof KubeApiError) return error;
  if (error instanceof ApiException) {
    let reason = "";
    let detail = typeof error.body === "string" ? error.body : String(error.message);
    try {
      const status = JSON.parse(String(error.body)) as { reason?: string; message?: string };
      reason = status.reason ?? "";
      detail = status.message ?? detail;
    } catch {
      // not a Status body
    }
    return new KubeApiError(action, error.code, reason, detail.slice(0, 1000), { cause: error });
  }
  const err = error as { code?: string; name?: string; message?: string };
  return new KubeApiError(action, statusOf(error), err.code ?? err.name ?? "", err.message ?? String(error), { cause: error });
}

function isRetryable(error: unknown): boolean {
  const code = statusOf(error);
  if (code !== undefined) return code === 429 || RETRYABLE_STATUS.has(code);
  const err = error as { code?: string; name?: string; message?: string; type?: string };
  if (err?.name === "AbortError" || err?.type === "aborted" || err?.type === "request-timeout") return true;
  return RETRYABLE_NETWORK.test(`${err?.code ?? ""} ${err?.message ?? ""}`);
}

function retryAfterMs(error: unknown): number {
  if (!(error instanceof ApiException)) return 1000;
  const header = (error.headers as Record<string, string | undefined>)["retry-after"];
  const seconds = Number(header);
  // Retry-After may also be an HTTP date.
  if (header !== undefined && !Number.isFinite(seconds)) {
    const at = Date.parse(header);
    if (Number.isFinite(at)) return Math.min(60_000, Math.max(0, at - Date.now()));
  }
  return Number.isFinite(seconds) && seconds >= 0 ? Math.min(60_000, seconds * 1000) : 1000;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchHandle {
  /** Resolves when the stream ends: null for a clean close, else the error. */
  ended: Promise<unknown>;
  abort(): void;
}

export interface CallOptions {
  /** Where the call queues for a token: "low" behind launches, cancels, lists and watches. */
  priority?: Priority;
}

export class KubeClient {
  readonly batch: BatchV1Api;
  readonly core: CoreV1Api;
  readonly limiter: TokenBucket;
  readonly server: string;
  private readonly watcher: Watch;

  constructor(
    readonly config: KubeConfig,
    private readonly options: KubeClientOptions,
  ) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error("the Kubernetes configuration names no current cluster");
    this.server = cluster.server;
    this.limiter = new TokenBucket(options.qps, options.burst);
    const timeout: Middleware = {
      pre: async (context) => {
        context.setSignal(AbortSignal.timeout(options.requestTimeoutMs));
        return context;
      },
      post: async (context) => context,
    };
    const configuration = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: config },
      promiseMiddleware: [timeout],
    });
    this.batch = new BatchV1Api(configuration);
    this.core = new CoreV1Api(configuration);
    this.watcher = new Watch(config);
  }

  /**
   * Makes one API call behind the rate limit. 429 pauses every call for the Retry-After time;
   * 5xx and connection errors are retried with back-off, up to maxRetries. A create retried
   * after an answer that got lost may then see 409 AlreadyExists: callers treat that as done.
   */
  async call<T>(action: string, request: () => Promise<T>, options: CallOptions = {}): Promise<T> {
    for (let failures = 0; ; ) {
      await this.limiter.take(options.priority);
      try {
        return await request();
      } catch (error) {
        failures++;
        if (!isRetryable(error) || failures > this.options.maxRetries) throw describe(action, error);
        const code = statusOf(error);
        if (code === 429) {
          const wait = retryAfterMs(error);
          this.limiter.pause(wait);
          this.options.logger.warn({ action, retryAfterMs: wait, failures }, "Kubernetes API throttled the call; waiting as told");
        } else {
          const wait = backoffDelay(failures);
          this.options.logger.warn({ action, code, err: describe(action, error).message, failures, retryInMs: Math.round(wait) }, "Kubernetes API call failed; retrying");
          await sleep(wait);
        }
      }
    }
  }

  /** Opens a watch (one rate-limited request); events arrive raw (JSON as sent). */
  async watch(path: string, query: Record<string, string | number | boolean | undefined>, onEvent: (type: WatchEventType, object: unknown) => void): Promise<WatchHandle> {
    await this.limiter.take();
    let resolveEnded!: (value: unknown) => void;
    const ended = new Promise<unknown>((resolve) => (resolveEnded = resolve));
    let controller: AbortController | undefined;
    let aborted = false;
    try {
      controller = await this.watcher.watch(path, query, (type, object) => onEvent(type as WatchEventType, object), (err) => resolveEnded(err ?? null));
    } catch (error) {
      resolveEnded(error);
    }
    return {
      ended,
      abort() {
        if (aborted) return;
        aborted = true;
        controller?.abort();
      },
    };
  }

  /**
   * Opens a streamed GET (a followed pods/log): one try, resolving once the server answered 200;
   * wrap it in call() for the rate limit and retries. A non-200 answer rejects as the generated
   * API's calls do (ApiException with the status and headers, so 429's Retry-After is honoured).
   * `onData` gets the body as it arrives; `ended` resolves with null when the server ends it.
   */
  async stream(path: string, query: Record<string, string | number | boolean | undefined>, onData: (text: string) => void): Promise<WatchHandle> {
    const url = new URL(this.server.replace(/\/+$/, "") + path);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
    const options: https.RequestOptions = {};
    await this.config.applyToHTTPSOptions(options);
    const transport = url.protocol === "http:" ? http : https;
    return new Promise<WatchHandle>((resolve, reject) => {
      let answered = false;
      const request = transport.request(url, { ...options, method: "GET" }, (response) => {
        answered = true;
        clearTimeout(timer);
        const code = response.statusCode ?? 0;
        if (code !== 200) {
          let body = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => (body += chunk.length + body.length <= 64 * 1024 ? chunk : ""));
          response.on("end", () => reject(new ApiException(code, `HTTP ${code}`, body, headersOf(response.headers))));
          response.on("error", reject);
          return;
        }
        let settle!: (value: unknown) => void;
        const ended = new Promise<unknown>((done) => (settle = done));
        let finished = false;
        const finish = (error: unknown): void => {
          if (finished) return;
          finished = true;
          settle(error);
        };
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => onData(chunk));
        response.on("end", () => finish(null));
        response.on("error", (error) => finish(error));
        response.on("close", () => finish(response.complete ? null : new Error("the stream was cut (aborted)")));
        resolve({ ended, abort: () => request.destroy() });
      });
      // Until the answer's headers: the per-request timeout. A stream may then last as long as it needs.
      const timer = setTimeout(() => request.destroy(Object.assign(new Error(`no answer within ${this.options.requestTimeoutMs} ms (aborted)`), { code: "ETIMEDOUT" })), this.options.requestTimeoutMs);
      request.on("error", (error) => {
        clearTimeout(timer);
        if (!answered) reject(error);
      });
      request.end();
    });
  }
}

function headersOf(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) if (value !== undefined) out[key] = Array.isArray(value) ? value.join(", ") : value;
  return out;
}
