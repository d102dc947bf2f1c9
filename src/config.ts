import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { command, duration, json, path, pathList } from "./config-fields.js";
import { parseQuantity } from "./runtime/quantity.js";
import { parseLimitList } from "./dispatch/limits.js";
import { authSettings } from "./auth/settings.js";
import { hubSettings, SECRET_SETTINGS } from "./hub/settings.js";
import { egressSettings } from "./jobs/egress/settings.js";


const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const list = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text) => text.split(",").map((s) => s.trim()).filter(Boolean));

const defaultCollectorsDir = fileURLToPath(new URL("./collectors", import.meta.url));

const quantity = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((text) => (parseQuantity(text) ?? 0) > 0, "must be a positive resource quantity like 500m, 2, 512Mi or 4Gi");


const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(["Exists", "Equal"]).optional(),
  value: z.string().optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  tolerationSeconds: z.number().int().optional(),
});
/** Per job type ("*" for every type without its own entry): where its pods may run. */
const jobScheduling = z.record(
  z.string(),
  z.strictObject({
    nodeSelector: z.record(z.string(), z.string()).optional(),
    tolerations: z.array(toleration).optional(),
    priorityClassName: z.string().min(1).optional(),
  }),
);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);
const IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** Every setting of the service, read from the environment once at start-up. */
export const configSchema = z.object({
  /** Address the gRPC server binds. */
  GRPC_HOST: z.string().default("0.0.0.0"),
  /** gRPC port (0 picks a free one; the ready log line says which). */
  GRPC_PORT: port(50054),
  /** Address the health and metrics servers bind. */
  HTTP_HOST: z.string().default("0.0.0.0"),
  /** Port of `/healthz` and `/readyz`. */
  HTTP_PORT: port(8080),
  /** Port of the Prometheus `/metrics` endpoint. */
  METRICS_PORT: port(9090),
  /** pino log level: trace, debug, info, warn, error, fatal or silent. */
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  /** Where the SQLite file and the local runtime's per-run scratch directories live (relative paths here and in every path setting are resolved against the working directory at start-up). */
  DATA_DIR: z.string().min(1).default("./data").pipe(path()),
  /** PostgreSQL connection URL (`postgres://...`); unset: the embedded SQLite file. A secret: never logged. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  /** PostgreSQL connections in the pool. */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /** The SQLite file; default `$DATA_DIR/jobscheduler.db`. */
  SQLITE_PATH: path().optional(),
  /** Unset: kubernetes when in a cluster or given KUBECONFIG / K8S_API_SERVER, else local (see loadConfig). */
  RUNTIME: z.enum(["local", "kubernetes"]).optional(),
  /**
   * Jobs STARTING or RUNNING at once, all types together (changeable live with UpdateDispatchLimits). Twice
   * HUB_ROUND_CONCURRENCY, so the deployment and code rounds, which fire together every 30 minutes, each run at
   * their own concurrency; keep it at least HUB_ROUND_CONCURRENCY (the service warns at start-up otherwise).
   */
  MAX_RUNNING_JOBS: z.coerce.number().int().min(1).max(10_000).default(32),
  /** "k6=2,http_check=20": at most that many jobs of a type at once. */
  MAX_RUNNING_PER_TYPE: z
    .string()
    .default("")
    .transform((text, ctx) => {
      try {
        return parseLimitList(text);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** At most that many jobs sharing one concurrency key at once (e.g. load tests of one app). */
  MAX_RUNNING_PER_KEY: z.coerce.number().int().min(1).max(10_000).default(1),
  /** How far ahead a ScheduleJob request's run_at may be (later starts are INVALID_ARGUMENT); default one year. */
  MAX_SCHEDULE_HORIZON: duration("8760h"),
  /** Queue timeout for jobs whose request sets none; 0 = wait forever. */
  DEFAULT_QUEUE_TIMEOUT: duration("0s"),
  /** Longest time the dispatcher sleeps without a wake-up (it is also woken by every new job and every ended run). */
  DISPATCH_POLL_INTERVAL: duration("1s"),
  /** A JSON array of ScheduleSpec (proto JSON) upserted by name at start-up (docs/architecture.md, Schedules). */
  SCHEDULES_FILE: path().optional(),
  /** Local runtime: time between SIGTERM and SIGKILL when a run is stopped (timeout, cancel, shutdown). */
  KILL_GRACE_PERIOD: duration("10s"),
  /** On SIGTERM, how long local runs may finish before they are stopped and handed back. */
  SHUTDOWN_TIMEOUT: duration("20s"),
  /** How long CancelJob waits for a running job to stop before it answers. */
  CANCEL_WAIT: duration("15s"),
  /** How much of a run's stdout/stderr is kept with the job. */
  OUTPUT_TAIL_BYTES: z.coerce.number().int().min(256).max(1_048_576).default(8192),
  /** Where the collector programs (`<type>.js`) are; default the build's `dist/collectors`. */
  COLLECTORS_DIR: z.string().min(1).default(defaultCollectorsDir).pipe(path()),
  /** Local runtime: the only variables of the service's own environment a run inherits (comma-separated). */
  LOCAL_PASS_ENV: list("PATH,TZ,LANG,LC_ALL,NODE_EXTRA_CA_CERTS,HTTP_PROXY,HTTPS_PROXY,NO_PROXY"),
  /** Local runtime: the nice value (0-19) of runs, so busy runs never starve the service's own event loop (0 = same priority as the service). */
  LOCAL_RUN_NICE: z.coerce.number().int().min(0).max(19).default(10),
  // Leader election (docs/architecture.md, Leadership): on PostgreSQL any number of replicas serve the API and
  // one leader dispatches. Defaults are client-go's; the fast values 5s / 3s / 1s fail over in about 5 s.
  /** This replica's name as the lease holder (the pod name: set it from the downward API); default the host name. */
  POD_NAME: z.string().regex(/^[\x21-\x7e]{1,253}$/, "must be a name of 1-253 printable characters without spaces").optional(),
  /** How long a lease holds without renewal: a crashed leader is replaced this long after its last renewal (fast: 5s). */
  LEADER_ELECTION_LEASE_DURATION: duration("15s"),
  /** The leader stops leading when it could not renew for this long; shorter than the lease duration (fast: 3s). */
  LEADER_ELECTION_RENEW_DEADLINE: duration("10s"),
  /** How often the leader renews and followers try for the lease (fast: 1s). */
  LEADER_ELECTION_RETRY_PERIOD: duration("2s"),
  // The Kubernetes runtime (docs/kubernetes-runtime.md). Credentials: K8S_API_SERVER + K8S_TOKEN_FILE,
  // else KUBECONFIG, else the in-cluster service account.
  /** A kubeconfig file; setting it selects the Kubernetes runtime unless RUNTIME says otherwise. */
  KUBECONFIG: pathList().optional(),
  /** Explicit API server URL (https; http only on loopback, e.g. `kubectl proxy`), used with K8S_TOKEN_FILE. */
  K8S_API_SERVER: z
    .string()
    .refine((text) => {
      try {
        const url = new URL(text);
        return url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname));
      } catch {
        return false;
      }
    }, "must be an https:// URL (plain http:// only for a loopback address, e.g. kubectl proxy)")
    .optional(),
  /** File holding the bearer token for K8S_API_SERVER. */
  K8S_TOKEN_FILE: path().optional(),
  /** CA bundle for K8S_API_SERVER. */
  K8S_CA_FILE: path().optional(),
  /** Namespace the Kubernetes Jobs run in (may differ from the service's own; owned by one scheduler). */
  JOBS_NAMESPACE: z.string().regex(DNS_LABEL, "must be a namespace name (a lower-case DNS label)").default("jobscheduler-jobs"),
  /** Service account of job pods (no API rights, token not mounted). */
  RUNNER_SERVICE_ACCOUNT: z.string().regex(DNS_LABEL, "must be a service account name (a lower-case DNS label)").default("jobscheduler-runner"),
  /** The service's own image (it holds dist/collectors): required with RUNTIME=kubernetes. */
  JOB_IMAGE: z.string().regex(/^\S+$/, "must be an image reference without spaces").optional(),
  /** Client-side rate limit of Kubernetes API calls per second. */
  K8S_QPS: z.coerce.number().positive().max(10_000).default(50),
  /** Burst allowance of the client-side rate limit. */
  K8S_BURST: z.coerce.number().int().min(1).max(10_000).default(100),
  /** Retries of a Kubernetes API call on 429 (honouring Retry-After), 5xx and connection errors. */
  K8S_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(5),
  /** Timeout of one Kubernetes API request. */
  K8S_REQUEST_TIMEOUT: duration("30s"),
  /** Kubernetes deletes a finished Job (and its pods and logs) this long after it ended: the backstop, as the service deletes each once its end is stored. */
  JOB_TTL_SECONDS_AFTER_FINISHED: z.coerce.number().int().min(60).max(31_536_000).default(86_400),
  /** A finished Job is deleted (with its pods) once its end is stored; one Kubernetes marked Failed is kept this long after its failure first, for debugging (0s: at once). */
  K8S_KEEP_FAILED_JOBS: duration("1h"),
  /** Upper bound a job's CPU request and limit are clamped to. */
  MAX_CPU_LIMIT: quantity("4"),
  /** Upper bound a job's memory request and limit are clamped to. */
  MAX_MEMORY_LIMIT: quantity("8Gi"),
  /** How long a pod may stay in ErrImagePull/ImagePullBackOff before the job fails with the image named. */
  IMAGE_PULL_FAILURE_TIMEOUT: duration("2m"),
  /** {"<type>" or "*": {"nodeSelector": {...}, "tolerations": [...], "priorityClassName": "..."}} */
  K8S_JOB_SCHEDULING: json(jobScheduling, "{}"),
  // k6 load tests (docs/k6.md).
  /** The k6 executable for local runs; unset: `k6` from PATH. */
  K6_BINARY: command().optional(),
  /** The runner image on Kubernetes when a job names none: a pinned grafana/k6 tag. */
  K6_IMAGE: z.string().regex(/^\S+$/, "must be an image reference without spaces").default("grafana/k6:1.2.0"),
  /** The most VUs one k6 job may ask for (over all its runners). */
  K6_MAX_VUS: z.coerce.number().int().min(1).max(1_000_000).default(5000),
  /** The most runner pods (or local processes) one k6 job may split into. */
  K6_MAX_PARALLELISM: z.coerce.number().int().min(1).max(200).default(20),
  /** How long the runners of a split run may take to be all up before the run fails (and is cleaned up). */
  K6_START_TIMEOUT: duration("3m"),
  /** Prometheus remote-write endpoint: when set, runs send their metrics there (tags testid, team, test_scenario). */
  K6_PROMETHEUS_RW_URL: z.string().url("must be a URL").optional(),
  /** Dashboard link stored with each result: {testid}, {team}, {scenario} are replaced (URL-encoded). */
  K6_DASHBOARD_URL: z.string().url("must be a URL template").optional(),
  /** Where the service reaches a paused runner's REST API on Kubernetes: {podIP}, {pod}, {index}, {port} are replaced. */
  K6_RUNNER_URL: z.string().default("http://{podIP}:{port}"),
  // Where jobs may send requests (src/jobs/egress/settings.ts, docs/security.md).
  ...egressSettings,
  // Hub reporting, team rounds and collectors (src/hub/settings.ts, docs/hub-reporting.md).
  ...hubSettings,
  // Authentication, authorization, quotas and the audit log (src/auth/settings.ts, docs/architecture.md).
  ...authSettings,
});

export type Config = Omit<z.infer<typeof configSchema>, "RUNTIME"> & { RUNTIME: "local" | "kubernetes" };

/** kubernetes when the service runs in a cluster or is given cluster credentials, else local. */
function defaultRuntime(env: Record<string, string | undefined>): "local" | "kubernetes" {
  if (env.K8S_API_SERVER || env.KUBECONFIG) return "kubernetes";
  return env.KUBERNETES_SERVICE_HOST && existsSync(IN_CLUSTER_TOKEN) ? "kubernetes" : "local";
}

export class ConfigError extends Error {}

/** Parses the environment; a bad value raises a ConfigError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const result = configSchema.safeParse(present);
  if (result.success) {
    const config: Config = { ...result.data, RUNTIME: result.data.RUNTIME ?? defaultRuntime(present) };
    const missing: string[] = [];
    if (config.RUNTIME === "kubernetes" && !config.JOB_IMAGE) missing.push("JOB_IMAGE: is required when RUNTIME is kubernetes (the service's own image, which holds dist/collectors)");
    if (config.LEADER_ELECTION_RENEW_DEADLINE >= config.LEADER_ELECTION_LEASE_DURATION) missing.push("LEADER_ELECTION_RENEW_DEADLINE: must be shorter than LEADER_ELECTION_LEASE_DURATION (the leader stops before the others may take over)");
    if (config.LEADER_ELECTION_RETRY_PERIOD >= config.LEADER_ELECTION_RENEW_DEADLINE) missing.push("LEADER_ELECTION_RETRY_PERIOD: must be shorter than LEADER_ELECTION_RENEW_DEADLINE (several renewals fit in the deadline)");
    if (config.K8S_API_SERVER && !config.K8S_TOKEN_FILE) missing.push("K8S_TOKEN_FILE: is required with K8S_API_SERVER (a file holding the bearer token)");
    if (Boolean(config.TLS_CERT_FILE) !== Boolean(config.TLS_KEY_FILE)) missing.push(`${config.TLS_CERT_FILE ? "TLS_KEY_FILE" : "TLS_CERT_FILE"}: is required with ${config.TLS_CERT_FILE ? "TLS_CERT_FILE" : "TLS_KEY_FILE"} (TLS needs both)`);
    if (config.TLS_CLIENT_CA_FILE && !config.TLS_CERT_FILE) missing.push("TLS_CERT_FILE: is required with TLS_CLIENT_CA_FILE (client certificates need TLS)");
    if (missing.length) throw new ConfigError(`invalid configuration:\n  ${missing.join("\n  ")}`);
    return config;
  }
  const problems = result.error.issues.map((issue) => {
    const variable = String(issue.path[0]);
    const value = present[variable];
    // Never echo a secret's value.
    const shown = value === undefined || variable === "DATABASE_URL" || SECRET_SETTINGS.includes(variable) ? "" : ` (got "${value}")`;
    return `${variable}: ${issue.message}${issue.message.includes("(got") ? "" : shown}`;
  });
  throw new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`);
}
