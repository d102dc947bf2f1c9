// Valid requests for every RPC of jobscheduler.v1.JobScheduler, in proto3 JSON (as grpcurl
// takes them), drawn at random from what the API accepts. Ids come from what earlier answers
// returned (Pools), so valid requests reach past the "not found" checks.
import type { JsonObject } from "@bufbuild/protobuf";
import type { Rng } from "./fuzz.js";

export interface Pools {
  /** Jobs the fuzzer created: anything may be done to them. */
  jobIds: string[];
  /** Jobs that are terminal and stay so (watched, retried): their streams must end. */
  terminalJobIds: string[];
  /** Jobs only read (the canaries among them). */
  readOnlyJobIds: string[];
  schedules: { id: string; name: string }[];
  jobPageTokens: string[];
  schedulePageTokens: string[];
  /** API keys the fuzzer created (never the test admin key, which is declared and cannot be revoked). */
  keyIds: string[];
}

/** Hex digits from `rng`: names and keys that differ per request yet repeat with the seed. */
const hex = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.int(16).toString(16)).join("");
const uuid = (rng: Rng) => `${hex(rng, 8)}-${hex(rng, 4)}-4${hex(rng, 3)}-a${hex(rng, 3)}-${hex(rng, 12)}`;

const DAY_MS = 86_400_000;
/** Jobs wait a day: the fuzz test never runs them (dispatching is paused too). */
const later = () => new Date(Date.now() + DAY_MS).toISOString();
const TYPES = ["timer", "http_check", "git_activity", "budget", "judge_score", "k6"];
const CRITERIA = ["CRITERIA_TYPE_CODE_REPO", "CRITERIA_TYPE_DEPLOYED_SOLUTION", "CRITERIA_TYPE_BUDGET_TRACKING", "CRITERIA_TYPE_JUDGE_SCORE", "CRITERIA_TYPE_EVENT_SEARCH"];
const STATES = ["JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"];

function jobSpec(rng: Rng): JsonObject {
  switch (rng.pick(TYPES)) {
    case "timer":
      return { timer: { duration: rng.pick(["1s", "0.5s", "30s"]), timer_name: rng.pick(["t", "build", "later"]), completion_callback_url: rng.chance(0.2) ? "http://127.0.0.1:9/done" : "" } };
    case "http_check":
      return { http_check: { base_url: "http://127.0.0.1:9", endpoints: [{ method: rng.pick(["GET", "HEAD"]), path: "/api/events", expected_status: rng.pick([0, 200]), critical: rng.chance(0.5) }], request_timeout: "2s" } };
    case "git_activity":
      return { git_activity: { repo_url: "https://github.com/each-team/repository", since: "2025-01-01T00:00:00Z", activity_window: "86400s" } };
    case "budget":
      return { budget: { money_spend: rng.pick(["0", "100", "1500.50"]) } };
    case "judge_score":
      return { judge_score: { judge_score: rng.pick(["0", "7", "10"]) } };
    default:
      return {
        k6: {
          scenario: "http-get-smoke", target_url: "http://127.0.0.1:9", vus: 1 + rng.int(3), duration: "10s",
          env: { MODE: "smoke" }, thresholds: { http_req_failed: { expressions: ["rate<0.1"] } }, parallelism: 1,
        },
      };
  }
}

/** A ScheduleJob request; `template` leaves out what a schedule's template may not set. */
function scheduleJob(rng: Rng, template = false): JsonObject {
  const request: JsonObject = { name: rng.pick(["fuzz", "nightly check", ""]), labels: { team: rng.pick(["alpha", "beta"]), "example.com/tier": "web" }, ...jobSpec(rng) };
  if (!template) request.run_at = later();
  if (!template && rng.chance(0.3)) request.idempotency_key = rng.chance(0.5) ? `fuzz-${rng.int(20)}` : uuid(rng);
  if (rng.chance(0.3)) request.priority = rng.int(2001) - 1000;
  if (rng.chance(0.3)) request.concurrency_key = "team-alpha-app";
  if (rng.chance(0.3)) request.queue_timeout = "1800s";
  if (rng.chance(0.3)) request.retry_policy = { max_attempts: 1 + rng.int(5), initial_backoff: "5s", backoff_multiplier: 2, max_backoff: "300s", jitter: 0.2, retry_on_timeout: rng.chance(0.5) };
  if (rng.chance(0.3)) request.resources = { cpu_request: "100m", cpu_limit: "500m", memory_request: "64Mi", memory_limit: "128Mi" };
  if (rng.chance(0.2)) request.timeout = "60s";
  if (rng.chance(0.2)) {
    request.team = { slug: "team_A", hackathon_id: "hack-1" };
    request.criteria_type = rng.pick(CRITERIA);
  }
  return request;
}

function scheduleSpec(rng: Rng, name: string): JsonObject {
  return {
    name,
    // Never due while the test runs.
    cron: rng.pick(["0 0 1 1 *", "@yearly", "0 0 0 1 1 *"]),
    time_zone: rng.pick(["UTC", "Europe/Berlin", "Asia/Almaty", ""]),
    job_template: scheduleJob(rng, true),
    overlap_policy: rng.pick(["OVERLAP_POLICY_SKIP", "OVERLAP_POLICY_ALLOW", "OVERLAP_POLICY_BUFFER_ONE", "OVERLAP_POLICY_CANCEL_PREVIOUS"]),
    catchup_policy: rng.pick(["CATCHUP_POLICY_ALL", "CATCHUP_POLICY_ONE"]),
    catchup_window: "3600s",
    jitter: "0s",
  };
}

const any = <T>(rng: Rng, items: T[], fallback: T): T => (items.length ? rng.pick(items) : fallback);
const someJob = (rng: Rng, pools: Pools) => any(rng, [...pools.jobIds, ...pools.readOnlyJobIds], "00000000000000000000000000");

/** One valid request for `rpc`. */
export const CORPUS: Record<string, (rng: Rng, pools: Pools) => JsonObject> = {
  ScheduleJob: (rng) => scheduleJob(rng),
  GetJobStatus: (rng, pools) => ({ job_id: someJob(rng, pools) }),
  ListJobs: (rng, pools) => ({
    type: rng.chance(0.5) ? rng.pick(TYPES) : "",
    states: rng.chance(0.5) ? [rng.pick(STATES)] : [],
    label_selector: rng.pick(["", "team=alpha", "team in (alpha,beta),example.com/tier", "!gone,team!=beta"]),
    // A full page of 1000 jobs is costly to encode: now and then.
    page_size: rng.chance(0.03) ? 1000 : rng.pick([0, 1, 10]),
    page_token: rng.chance(0.3) ? any(rng, pools.jobPageTokens, "") : "",
  }),
  CancelJob: (rng, pools) => ({ job_id: any(rng, pools.jobIds, "00000000000000000000000000"), reason: "fuzz" }),
  WatchJob: (rng, pools) => {
    const request: JsonObject = { job_id: any(rng, pools.terminalJobIds, "00000000000000000000000000") };
    if (rng.chance(0.6)) request.after_sequence = String(rng.int(6));
    return request;
  },
  ListJobTypes: () => ({}),
  PauseDispatching: (rng) => ({ reason: rng.pick(["", "maintenance"]) }),
  ResumeDispatching: () => ({}),
  GetDispatchingStatus: () => ({}),
  GetDispatchLimits: () => ({}),
  UpdateDispatchLimits: (rng) => ({ limits: { max_running: 1, max_running_per_type: { timer: 1 }, max_running_per_key: 1, max_running_per_key_overrides: rng.chance(0.5) ? { "team-alpha-app": 1 } : ({} as JsonObject) } }),
  RetryJob: (rng, pools) => ({ job_id: any(rng, pools.terminalJobIds, "00000000000000000000000000"), idempotency_key: rng.chance(0.5) ? `retry-${rng.int(10)}` : "" }),
  CreateSchedule: (rng) => ({ spec: scheduleSpec(rng, `fuzz-${hex(rng, 16)}`) }),
  GetSchedule: (rng, pools) => ({ schedule_id: any(rng, pools.schedules, { id: "00000000000000000000000000", name: "" }).id }),
  ListSchedules: (rng, pools) => ({ page_size: rng.pick([0, 1, 10]), page_token: rng.chance(0.3) ? any(rng, pools.schedulePageTokens, "") : "" }),
  UpdateSchedule: (rng, pools) => {
    const schedule = any(rng, pools.schedules, { id: "00000000000000000000000000", name: "x" });
    return { schedule_id: schedule.id, spec: scheduleSpec(rng, schedule.name) };
  },
  PauseSchedule: (rng, pools) => ({ schedule_id: any(rng, pools.schedules, { id: "00000000000000000000000000", name: "" }).id, reason: "fuzz" }),
  ResumeSchedule: (rng, pools) => ({ schedule_id: any(rng, pools.schedules, { id: "00000000000000000000000000", name: "" }).id }),
  DeleteSchedule: (rng, pools) => ({ schedule_id: any(rng, pools.schedules, { id: "00000000000000000000000000", name: "" }).id }),
  TriggerSchedule: (rng, pools) => ({ schedule_id: any(rng, pools.schedules, { id: "00000000000000000000000000", name: "" }).id }),
  ListOutbox: (rng) => ({ states: rng.chance(0.5) ? ["OUTBOX_ITEM_STATE_PARKED"] : [], team_slug: rng.pick(["", "team_A"]), page_size: rng.pick([0, 10]) }),
  ResendOutbox: (rng) => ({ item_ids: rng.chance(0.5) ? [uuid(rng)] : [] }),
  CreateApiKey: (rng) => ({
    name: `fuzz-${hex(rng, 8)}`,
    role: rng.pick(["ROLE_VIEWER", "ROLE_SUBMITTER", "ROLE_OPERATOR"]),
    team: rng.pick(["", "team_A"]),
    allow_inline_scripts: rng.chance(0.3),
    ...(rng.chance(0.3) ? { expire_time: later() } : {}),
  }),
  ListApiKeys: (rng) => ({ include_revoked: rng.chance(0.5), team: rng.pick(["", "team_A"]), page_size: rng.pick([0, 1, 10]) }),
  RevokeApiKey: (rng, pools) => ({ key_id: any(rng, pools.keyIds, "000000000000") }),
  ListAuditEvents: (rng) => ({
    method: rng.pick(["", "ScheduleJob", "CancelJob"]),
    code: rng.pick(["", "OK", "PERMISSION_DENIED"]),
    denied_only: rng.chance(0.3),
    ...(rng.chance(0.3) ? { since: "2020-01-01T00:00:00Z" } : {}),
    page_size: rng.pick([0, 1, 10]),
  }),
};
