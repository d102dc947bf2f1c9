// What a Kubernetes Job and its pods say about a run, as the runtime's terms: waiting (and why),
// running, or finished (and how). Pure: the reconcile decides what to do with the answer.
import type { V1Job, V1JobCondition, V1Pod } from "@kubernetes/client-node";
import { RunReason, type Run, type RunEnd } from "../runtime.js";
import { collectorStatus, terminatedState } from "./results.js";

type WithoutOutput<T> = T extends unknown ? Omit<T, "output"> : never;
export type RunVerdict = WithoutOutput<RunEnd>;

export const IMAGE_PULL_REASONS: ReadonlySet<string> = new Set([
  "ErrImagePull",
  "ImagePullBackOff",
  "InvalidImageName",
  "ErrImageNeverPull",
  "RegistryUnavailable",
]);

export type Observation =
  | {
      kind: "waiting";
      /** The pod is Pending with PodScheduled=False/Unschedulable: the scheduler's message. */
      unschedulable?: string;
      /** The collector's image cannot be pulled. */
      imagePull?: { image: string; reason: string; message: string };
    }
  | { kind: "running"; pod: V1Pod }
  /** `pod` is the one whose termination message and log hold the result. */
  | { kind: "finished"; verdict: RunVerdict; pod?: V1Pod };

function trueCondition(job: V1Job, type: string): V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

export function isFinished(job: V1Job): boolean {
  return trueCondition(job, "Complete") !== undefined || trueCondition(job, "Failed") !== undefined;
}

/** A time of an API object in ms: a Date (listed objects) or an RFC 3339 string (watched ones). */
export function timeMs(value: Date | string | undefined): number {
  if (value === undefined) return 0;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isFinite(ms) ? ms : 0;
}

function podFinished(pod: V1Pod): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}

/** Latest first: by the collector's finish time, then creation time. */
function latest(pods: V1Pod[]): V1Pod[] {
  const key = (p: V1Pod) => Math.max(timeMs(terminatedState(p)?.finishedAt), timeMs(p.metadata?.creationTimestamp));
  return [...pods].sort((a, b) => key(b) - key(a));
}

/** The run's state from its Job and the pods it owns (including pods already deleted, as last seen). */
export function observe(job: V1Job, pods: V1Pod[], record: Pick<Run, "timeoutMs" | "resources">): Observation {
  const ordered = latest(pods);
  if (trueCondition(job, "Complete")) {
    return { kind: "finished", verdict: { kind: "exited", exitCode: 0 }, pod: ordered.find((p) => p.status?.phase === "Succeeded") ?? ordered[0] };
  }
  const failed = trueCondition(job, "Failed");
  if (failed) {
    const pod = ordered.find((p) => terminatedState(p) !== undefined) ?? ordered[0];
    if (failed.reason === "DeadlineExceeded") {
      const seconds = job.spec?.activeDeadlineSeconds;
      return {
        kind: "finished",
        verdict: { kind: "timed-out", message: `exceeded its timeout of ${record.timeoutMs} ms and was stopped (Kubernetes activeDeadlineSeconds ${seconds})` },
        pod,
      };
    }
    const terminated = terminatedState(pod);
    if (terminated?.reason === "OOMKilled") {
      return {
        kind: "finished",
        verdict: { kind: "failed", reason: RunReason.OOM_KILLED, message: `killed after running out of memory (limit ${record.resources.memoryLimit})` },
        pod,
      };
    }
    if (terminated && terminated.exitCode !== 0) return { kind: "finished", verdict: { kind: "exited", exitCode: terminated.exitCode }, pod };
    return {
      kind: "finished",
      verdict: {
        kind: "failed",
        reason: RunReason.KUBERNETES_JOB_FAILED,
        message: `the Kubernetes Job failed (${failed.reason ?? "no reason"}${failed.message ? `: ${failed.message}` : ""})`,
      },
      pod,
    };
  }

  const live = ordered.filter((p) => !podFinished(p) && !p.metadata?.deletionTimestamp);
  const running = live.find((p) => p.status?.phase === "Running" || collectorStatus(p)?.state?.running !== undefined);
  if (running) return { kind: "running", pod: running };
  const pending = live[0];
  if (!pending) return { kind: "waiting" };
  const scheduled = pending.status?.conditions?.find((c) => c.type === "PodScheduled");
  const waiting = collectorStatus(pending)?.state?.waiting;
  const observation: Observation = { kind: "waiting" };
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") observation.unschedulable = scheduled.message ?? "no node can run the pod";
  if (waiting?.reason && IMAGE_PULL_REASONS.has(waiting.reason)) {
    const image = collectorStatus(pending)?.image || pending.spec?.containers?.[0]?.image || "";
    observation.imagePull = { image, reason: waiting.reason, message: waiting.message ?? waiting.reason };
  }
  return observation;
}
