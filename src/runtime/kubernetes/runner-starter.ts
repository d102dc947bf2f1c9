// The runner group of a workload on Kubernetes (Workload.program; docs/kubernetes-runtime.md),
// used by the runtime's reconcile:
// - the pre-flight request before the Job is created;
// - the synchronized start: the runners of one Indexed Job start held (HeldStart); once every
//   index has a running pod, each runner is asked whether it is still held and, when all answer,
//   every held one is released at once. Decided from the Job, its pods and the runners' own
//   answers, so a restart or a repeated event changes nothing (a runner already released is not
//   released again);
// - the start timeout (from the Job's creation): runners that never all come up fail the run with
//   a reason naming each runner's state, and the runtime deletes the Job (its pods go with it);
// - the result: every runner's termination message (or the last JSON line of its log), by index.
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { preflight, TARGET_UNREACHABLE, unreachableMessage } from "../../shared/preflight.js";
import { RUNNERS_NOT_STARTED, type RunnerResults } from "../../shared/runner-results.js";
import { RunReason, type RunEnd, type RunnerProgram, type RunOutput, type RunRef } from "../runtime.js";
import { IMAGE_PULL_REASONS } from "./job-status.js";
import { collectorStatus, lastJsonObject, tailBytes, terminatedState } from "./results.js";

export const COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index";
/** Where the service reaches a held runner (HeldStart.url) unless the program says otherwise. */
export const DEFAULT_RUNNER_URL = "http://{podIP}:{port}";

/** How the service reaches a held runner. Default: the pod's IP. Tests point it at stand-in servers. */
export type RunnerUrl = (pod: V1Pod, port: number, index: number) => string;

export function runnerUrlFromTemplate(template: string): RunnerUrl {
  return (pod, port, index) => {
    const ip = pod.status?.podIP ?? "";
    return template
      .replaceAll("{podIP}", ip.includes(":") ? `[${ip}]` : ip)
      .replaceAll("{pod}", pod.metadata?.name ?? "")
      .replaceAll("{namespace}", pod.metadata?.namespace ?? "")
      .replaceAll("{index}", String(index))
      .replaceAll("{port}", String(port));
  };
}

export function completionIndex(pod: V1Pod): number | undefined {
  const text = pod.metadata?.labels?.[COMPLETION_INDEX_LABEL] ?? pod.metadata?.annotations?.[COMPLETION_INDEX_LABEL];
  const index = text === undefined ? Number.NaN : Number(text);
  return Number.isInteger(index) && index >= 0 ? index : undefined;
}

function time(value: Date | string | undefined): number {
  if (value === undefined) return 0;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isFinite(ms) ? ms : 0;
}

function finished(pod: V1Pod): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}

function isRunning(pod: V1Pod): boolean {
  return pod.status?.phase === "Running" && collectorStatus(pod)?.state?.running !== undefined;
}

/** The current pod of each index (not finished, not being deleted), latest first. */
function livePods(pods: V1Pod[], parallelism: number): (V1Pod | undefined)[] {
  const byIndex: (V1Pod | undefined)[] = Array.from({ length: parallelism }, () => undefined);
  const live = pods.filter((pod) => !finished(pod) && !pod.metadata?.deletionTimestamp);
  live.sort((a, b) => time(b.metadata?.creationTimestamp) - time(a.metadata?.creationTimestamp));
  for (const pod of live) {
    const index = parallelism === 1 ? (completionIndex(pod) ?? 0) : completionIndex(pod);
    if (index !== undefined && index < parallelism && byIndex[index] === undefined) byIndex[index] = pod;
  }
  return byIndex;
}

type Waiting = { text: string; kind: "pull" | "node" | "other" };

function waitingFor(pod: V1Pod | undefined): Waiting {
  if (!pod) return { text: "no pod yet", kind: "other" };
  const scheduled = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") return { text: `waiting for a node: ${scheduled.message ?? "no node can run it"}`, kind: "node" };
  const status = collectorStatus(pod);
  const waiting = status?.state?.waiting;
  if (waiting?.reason && IMAGE_PULL_REASONS.has(waiting.reason)) {
    const image = status?.image || pod.spec?.containers?.[0]?.image || "";
    return { text: `cannot pull image "${image}" (${waiting.reason}): ${waiting.message ?? waiting.reason}`, kind: "pull" };
  }
  return { text: `not running yet (${waiting?.reason ?? pod.status?.phase ?? "Pending"})`, kind: "other" };
}

/** What the reconcile does with the starter's decisions; implemented by the runtime. */
export interface StartHooks {
  /** All runners run (and were started): STARTING → RUNNING. */
  running(pod: V1Pod | undefined): Promise<void>;
  progress(reason: string, message: string): Promise<void>;
  /** Ends the run FAILED with this reason, then deletes the Job (its pods with it). */
  fail(reason: string, message: string): Promise<void>;
  later(ms: number): void;
}

export interface RunnerStarterOptions {
  /** Per call to a runner. */
  requestTimeoutMs?: number;
  /** Re-check interval while held runners are not answering yet. */
  retryMs?: number;
  logger: Logger;
}

/** "<label> runners": what messages call the program's runners. */
function runnersOf(program: RunnerProgram): string {
  return program.label ? `${program.label} runners` : "runners";
}

export class RunnerStarter {
  private readonly requestTimeoutMs: number;
  private readonly retryMs: number;

  constructor(private readonly options: RunnerStarterOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 2000;
    this.retryMs = options.retryMs ?? 250;
  }

  /** The pre-flight request; the run's end when the target is unreachable, else null. */
  async preflight(program: RunnerProgram): Promise<RunEnd | null> {
    if (!program.preflight) return null;
    const outcome = await preflight(program.preflight.url, program.preflight.timeoutMs, undefined, program.preflight.egress);
    if (outcome.ok) return null;
    const results: RunnerResults = { runners: [], preflight: outcome };
    return { kind: "failed", reason: TARGET_UNREACHABLE, message: unreachableMessage(outcome), output: { rawResult: JSON.stringify(results), outputTail: "" } };
  }

  /** One step of an unfinished runner Job that has not been reported running yet. */
  async reconcile(run: RunRef, program: RunnerProgram, kjob: V1Job, pods: V1Pod[], hooks: StartHooks): Promise<void> {
    const n = program.parallelism;
    const runners = runnersOf(program);
    const setting = program.startTimeoutSetting ? ` (${program.startTimeoutSetting})` : "";
    const current = livePods(pods, n);
    const deadline = time(kjob.metadata?.creationTimestamp) + program.startTimeoutMs;
    const now = Date.now();
    const notRunning = current.map((pod, index) => ({ index, pod })).filter(({ pod }) => !pod || !isRunning(pod));

    if (notRunning.length > 0) {
      const waits = notRunning.map(({ index, pod }) => ({ index, ...waitingFor(pod) }));
      const detail = waits.map((w) => `runner ${w.index}: ${w.text}`).join("; ");
      if (now >= deadline) {
        const seconds = Math.round(program.startTimeoutMs / 100) / 10;
        return hooks.fail(
          RUNNERS_NOT_STARTED,
          `only ${n - notRunning.length} of ${n} ${runners} were running after ${seconds}s${setting}, so the test never started (${detail}); its Job and pods were deleted`,
        );
      }
      const reason = waits.some((w) => w.kind === "pull") ? RunReason.IMAGE_PULL_BACKOFF : waits.some((w) => w.kind === "node") ? RunReason.UNSCHEDULABLE : RunReason.RUNNERS_STARTING;
      await hooks.progress(reason, `${n - notRunning.length} of ${n} ${runners} running; waiting for ${detail}`);
      return hooks.later(deadline - now + 5);
    }

    const pods0 = current as V1Pod[];
    const held = program.heldStart;
    if (held) {
      const runnerUrl = runnerUrlFromTemplate(held.url ?? DEFAULT_RUNNER_URL);
      const urls = pods0.map((pod, index) => runnerUrl(pod, held.port, index));
      const answers = await Promise.allSettled(urls.map((url) => held.isHeld(url, this.requestTimeoutMs)));
      const silent = answers.flatMap((a, index) => (a.status === "rejected" ? [`runner ${index} (${urls[index]}): ${held.describeError(a.reason)}`] : []));
      if (silent.length === 0) {
        const waiting = answers.flatMap((a, index) => (a.status === "fulfilled" && a.value ? [index] : []));
        // Every runner is up and answering: release all the held ones at once.
        const released = await Promise.allSettled(waiting.map((index) => held.release(urls[index], this.requestTimeoutMs)));
        released.forEach((r, i) => {
          if (r.status === "rejected") silent.push(`runner ${waiting[i]} (${urls[waiting[i]]}): start refused: ${held.describeError(r.reason)}`);
        });
        if (silent.length === 0) {
          this.options.logger.info({ jobId: run.id, runners: n, started: waiting.length, program: program.label }, "runners started together");
        }
      }
      if (silent.length > 0) {
        if (now >= deadline) {
          const seconds = Math.round(program.startTimeoutMs / 100) / 10;
          return hooks.fail(RUNNERS_NOT_STARTED, `all ${n} ${runners} were running but could not be started within ${seconds}s${setting}: ${silent.join("; ")}; its Job and pods were deleted`);
        }
        await hooks.progress(RunReason.RUNNERS_STARTING, `all ${n} ${runners} running; waiting for their ${held.endpoint}s: ${silent.join("; ")}`);
        return hooks.later(Math.min(this.retryMs, Math.max(0, deadline - now) + 5));
      }
    }
    return hooks.running(pods0[0]);
  }
}

/** Whether every index has a pod that ended (each holds its part of the result). */
export function runnerEndsKnown(program: RunnerProgram, pods: V1Pod[]): boolean {
  const ended = new Set(pods.filter((pod) => terminatedState(pod)).map((pod) => completionIndex(pod) ?? (program.parallelism === 1 ? 0 : -1)));
  for (let index = 0; index < program.parallelism; index++) if (!ended.has(index)) return false;
  return true;
}

/**
 * The raw result of a runner Job (RunnerResults as JSON): per index, the latest pod that ended,
 * its exit code and its termination message (else the last JSON line of its log). Null when no
 * runner ended at all. The output tail holds each runner's log tail.
 */
export async function collectRunnerResults(
  program: RunnerProgram,
  pods: V1Pod[],
  readLog: (pod: V1Pod) => Promise<string | null>,
  outputTailBytes: number,
): Promise<RunOutput> {
  const runners: RunnerResults["runners"] = [];
  const tails: string[] = [];
  for (let index = 0; index < program.parallelism; index++) {
    const ended = pods
      .filter((pod) => (completionIndex(pod) ?? (program.parallelism === 1 ? 0 : -1)) === index && terminatedState(pod))
      .sort((a, b) => time(terminatedState(b)?.finishedAt) - time(terminatedState(a)?.finishedAt));
    const pod = ended[0];
    if (!pod) continue;
    const terminated = terminatedState(pod)!;
    const log = await readLog(pod);
    const message = terminated.message?.trim();
    let result: string | null = null;
    if (message && message.startsWith("{") && lastJsonObject(message) === message) result = message;
    else if (log) result = lastJsonObject(log);
    runners.push({ index, exitCode: terminated.exitCode ?? null, result });
    if (log) tails.push(`--- runner ${index} (exit ${terminated.exitCode}) ---\n${tailBytes(log, Math.max(256, Math.floor(outputTailBytes / program.parallelism) - 40))}`);
  }
  if (runners.length === 0) return { rawResult: null, outputTail: "" };
  const results: RunnerResults = { runners };
  return { rawResult: JSON.stringify(results), outputTail: tails.join("\n") };
}
