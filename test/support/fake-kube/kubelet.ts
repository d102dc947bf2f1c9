// The kubelet (and scheduler) simulation: takes each new pod through Pending → Running →
// Succeeded/Failed according to its scripted outcome, restarts OnFailure containers, and carries
// out graceful deletion (SIGTERM → exit 143, or SIGKILL → 137 at the end of the grace period).
// pods/log reads come from here, including `follow` streams, which end when the container stops.
import { randomBytes } from "node:crypto";
import { setCondition } from "./conditions.js";
import type { PodOutcome, PodScripts } from "./pod-outcomes.js";
import type { Cancel, Scheduler } from "./scheduler.js";
import { badRequest } from "./status.js";
import type { ObjectStore, StoreEvent } from "./store.js";
import { apiSeconds, backoffDelay, type Timing } from "./timing.js";
import { asPod, kubeTime, type Container, type ContainerState, type ContainerStatus, type PodCondition, type StoredPod } from "./types.js";

export const NODE_NAME = "fake-node-1";
const HOST_IP = "172.18.0.2";
const TERMINATION_MESSAGE_MAX = 4096;
const TERMINATION_MESSAGES_PER_POD_MAX = 12 * 1024;

type RunState = "scheduling" | "pending" | "running" | "backoff" | "exited";

interface PodRun {
  uid: string;
  namespace: string;
  name: string;
  outcome: PodOutcome;
  state: RunState;
  restarts: number;
  startedAt?: string;
  log: string;
  terminating: boolean;
  timers: Cancel[];
  /** Open pods/log?follow=true streams of the current container. */
  followers: Set<LogFollower>;
  /** Containers cannot start until these ConfigMaps (non-optional volumes) exist. */
  missingConfigMaps?: string[];
}

/** One pods/log?follow=true stream: what the container writes, until it stops (or the pod goes). */
export interface LogFollower {
  data(text: string): void;
  end(): void;
}

interface ExitResult {
  exitCode: number;
  reason: string;
  terminationMessage?: string;
}

function exitOf(o: PodOutcome): ExitResult | undefined {
  switch (o.type) {
    case "succeed":
      return { exitCode: 0, reason: "Completed", terminationMessage: o.terminationMessage };
    case "fail":
      return { exitCode: o.exitCode, reason: o.reason ?? "Error", terminationMessage: o.terminationMessage };
    case "oomKilled":
      return { exitCode: 137, reason: "OOMKilled", terminationMessage: o.terminationMessage };
    default:
      return undefined;
  }
}

function truncateBytes(text: string, max: number): string {
  const bytes = Buffer.from(text);
  return bytes.length <= max ? text : bytes.subarray(0, max).toString();
}

/** The last 80 lines / 2 KiB of the log, as terminationMessagePolicy FallbackToLogsOnError does. */
function logTail(log: string): string {
  const lines = log.replace(/\n$/, "").split("\n").slice(-80).join("\n");
  const bytes = Buffer.from(lines);
  return bytes.length <= 2048 ? lines : bytes.subarray(bytes.length - 2048).toString();
}

function allContainers(pod: StoredPod): Container[] {
  return pod.spec?.containers ?? [];
}

function statusFor(c: Container, state: ContainerState, extra: Partial<ContainerStatus> = {}): ContainerStatus {
  return { name: c.name, image: c.image ?? "", imageID: "", ready: false, restartCount: 0, started: false, state, ...extra };
}

export class Kubelet {
  private readonly runs = new Map<string, PodRun>();

  constructor(
    private readonly store: ObjectStore,
    private readonly scheduler: Scheduler,
    private readonly scripts: PodScripts,
    private readonly timing: Timing,
  ) {}

  /** Starts reacting to pod changes; returns the unsubscribe function. */
  start(): () => void {
    return this.store.subscribe((event) => this.onEvent(event));
  }

  /**
   * pods/log?follow=true: the log so far, then what the container writes until it stops. A
   * container that already stopped gives its log and ends at once (`following` false).
   */
  followLog(pod: StoredPod, container: string | undefined, follower: LogFollower): { text: string; following: boolean; stop(): void } {
    const text = this.readLog(pod, container);
    const run = this.runs.get(pod.metadata.uid)!;
    if (run.state !== "running") return { text, following: false, stop: () => {} };
    run.followers.add(follower);
    return { text, following: true, stop: () => run.followers.delete(follower) };
  }

  /** pods/log: the text the pod's outcome wrote (plus appended text), or a 400 while it has not started. */
  readLog(pod: StoredPod, container: string | undefined): string {
    const names = allContainers(pod).map((c) => c.name);
    const initNames = (pod.spec?.initContainers ?? []).map((c) => c.name);
    const name = pod.metadata.name;
    if (container === undefined) {
      if (names.length > 1) throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${names.join(" ")}]`);
      container = names[0];
    } else if (!names.includes(container) && !initNames.includes(container)) {
      throw badRequest(`container ${container} is not valid for pod ${name}`);
    }
    const run = this.runs.get(pod.metadata.uid);
    if (!run || run.state === "scheduling" || run.state === "pending") {
      const why = run?.outcome.type === "imagePullFailure" ? "trying and failing to pull image" : "ContainerCreating";
      throw badRequest(`container "${container}" in pod "${name}" is waiting to start: ${why}`);
    }
    return run.log;
  }

  appendLog(uid: string, text: string): void {
    const run = this.runs.get(uid);
    if (run) this.write(run, text);
  }

  private write(run: PodRun, text: string): void {
    if (!text) return;
    run.log += text;
    for (const follower of run.followers) follower.data(text);
  }

  /** The container stopped (or the pod is gone): every follow stream ends. */
  private endFollowers(run: PodRun): void {
    const followers = [...run.followers];
    run.followers.clear();
    for (const follower of followers) follower.end();
  }

  /** Ends a running pod's containers now with the given outcome (for pods scripted to hang). */
  finish(uid: string, o: PodOutcome): void {
    const run = this.runs.get(uid);
    const result = exitOf(o);
    if (!run || run.state !== "running" || !result) {
      throw new Error(`fake-kube: finish() needs a running pod and a succeed/fail/oomKilled outcome (pod state: ${run?.state ?? "unknown"})`);
    }
    this.cancelTimers(run);
    if ("log" in o && o.log) this.write(run, o.log);
    this.exit(run, result);
  }

  /** Schedules a pod kept Pending as unschedulable (capacity appeared), then runs it with the given outcome. */
  bind(uid: string, o: PodOutcome): void {
    const run = this.runs.get(uid);
    if (!run || run.state !== "scheduling" || o.type === "unschedulable") {
      throw new Error(`fake-kube: bind() needs an unscheduled pod and a schedulable outcome (pod state: ${run?.state ?? "unknown"})`);
    }
    run.outcome = o;
    this.schedule(run);
  }

  private onEvent(event: StoreEvent): void {
    if (event.kind === "ConfigMap" && event.type === "ADDED") {
      for (const run of this.runs.values()) {
        if (run.state === "pending" && run.missingConfigMaps?.includes(event.object.metadata.name) && run.namespace === event.object.metadata.namespace) {
          this.later(run, 0, () => this.startContainers(run));
        }
      }
      return;
    }
    if (event.kind !== "Pod") return;
    const pod = asPod(event.object);
    if (event.type === "ADDED") this.admit(pod);
    else if (event.type === "DELETED") this.forget(pod.metadata.uid);
    else if (pod.metadata.deletionTimestamp && !event.previous?.metadata.deletionTimestamp) this.terminate(pod);
  }

  private admit(pod: StoredPod): void {
    const run: PodRun = {
      uid: pod.metadata.uid,
      namespace: pod.metadata.namespace,
      name: pod.metadata.name,
      outcome: this.scripts.next(pod),
      state: "scheduling",
      restarts: 0,
      log: "",
      terminating: false,
      timers: [],
      followers: new Set(),
    };
    this.runs.set(run.uid, run);
    this.later(run, this.timing.podScheduleMs, () => this.schedule(run));
  }

  private schedule(run: PodRun): void {
    const o = run.outcome;
    if (o.type === "unschedulable") {
      this.update(run, (pod) => {
        pod.status = {
          ...pod.status,
          phase: "Pending",
          conditions: setCondition<PodCondition>(pod.status?.conditions, {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message: o.message,
          }),
        };
      });
      return;
    }
    run.state = "pending";
    this.update(run, (pod) => {
      pod.spec = { ...pod.spec!, nodeName: NODE_NAME };
      pod.status = {
        ...pod.status,
        phase: "Pending",
        hostIP: HOST_IP,
        startTime: kubeTime(),
        conditions: setCondition<PodCondition>(pod.status?.conditions, { type: "PodScheduled", status: "True" }),
        containerStatuses: allContainers(pod).map((c) => statusFor(c, { waiting: { reason: "ContainerCreating" } })),
      };
    });
    const startMs = Math.max(0, ("startMs" in o ? (o.startMs ?? this.timing.podStartMs) : this.timing.podStartMs) - this.timing.podScheduleMs);
    if (o.type === "imagePullFailure") {
      this.later(run, startMs, () => this.failPull(run, "ErrImagePull"));
      this.later(run, startMs + this.timing.imagePullBackOffMs, () => this.failPull(run, "ImagePullBackOff"));
      return;
    }
    this.later(run, startMs, () => this.startContainers(run));
  }

  private failPull(run: PodRun, reason: "ErrImagePull" | "ImagePullBackOff"): void {
    const custom = run.outcome.type === "imagePullFailure" ? run.outcome.message : undefined;
    this.update(run, (pod) => {
      pod.status = {
        ...pod.status,
        containerStatuses: allContainers(pod).map((c) => {
          const image = c.image ?? "";
          const message =
            reason === "ImagePullBackOff"
              ? `Back-off pulling image "${image}"`
              : (custom ?? `failed to pull and unpack image "${image}": failed to resolve reference "${image}": not found`);
          return statusFor(c, { waiting: { reason, message } });
        }),
      };
    });
  }

  private startContainers(run: PodRun): void {
    // Like the kubelet: a pod whose configMap volume has no ConfigMap stays ContainerCreating
    // (FailedMount) until the ConfigMap appears.
    const pod = this.currentPod(run);
    const missing = (pod?.spec?.volumes ?? [])
      .filter((v) => v.configMap && !v.configMap.optional && !this.store.get("ConfigMap", run.namespace, v.configMap.name ?? ""))
      .map((v) => v.configMap!.name ?? "");
    if (missing.length > 0) {
      run.missingConfigMaps = missing;
      return;
    }
    run.missingConfigMaps = undefined;
    run.state = "running";
    run.startedAt = kubeTime();
    const o = run.outcome;
    if ("log" in o && o.log) this.write(run, o.log);
    this.update(run, (pod) => {
      let conditions = pod.status?.conditions;
      for (const type of ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"]) {
        conditions = setCondition<PodCondition>(conditions, { type, status: "True" });
      }
      pod.status = {
        ...pod.status,
        phase: "Running",
        podIP: `10.244.0.${1 + (parseInt(run.uid.slice(0, 2), 16) % 250)}`,
        conditions,
        containerStatuses: allContainers(pod).map((c, i) => {
          const previous = pod.status?.containerStatuses?.[i];
          return statusFor(c, { running: { startedAt: run.startedAt } }, {
            ready: true,
            started: true,
            restartCount: run.restarts,
            lastState: previous?.lastState ?? {},
            containerID: `containerd://${randomBytes(32).toString("hex")}`,
          });
        }),
      };
    });
    const result = exitOf(o);
    if (!result) return;
    const runMs = "runMs" in o ? (o.runMs ?? this.timing.podRunMs) : this.timing.podRunMs;
    this.later(run, runMs, () => this.exit(run, result));
  }

  private exit(run: PodRun, result: ExitResult): void {
    const pod = this.currentPod(run);
    if (!pod) return;
    const restart = result.exitCode !== 0 && pod.spec?.restartPolicy === "OnFailure" && !run.terminating;
    const containers = allContainers(pod);
    const perContainer = Math.min(TERMINATION_MESSAGE_MAX, Math.floor(TERMINATION_MESSAGES_PER_POD_MAX / Math.max(1, containers.length)));
    const finishedAt = kubeTime();
    const terminatedFor = (c: Container, i: number): ContainerState => {
      let message = result.terminationMessage;
      if (!message && result.exitCode !== 0 && c.terminationMessagePolicy === "FallbackToLogsOnError") message = logTail(run.log);
      return {
        terminated: {
          exitCode: result.exitCode,
          reason: result.reason,
          ...(message ? { message: truncateBytes(message, perContainer) } : {}),
          startedAt: run.startedAt,
          finishedAt,
          containerID: pod.status?.containerStatuses?.[i]?.containerID,
        },
      };
    };

    if (restart) {
      run.restarts++;
      run.state = "backoff";
      const delay = backoffDelay(this.timing, run.restarts);
      this.update(run, (p) => {
        p.status = {
          ...p.status,
          conditions: notReady(p.status?.conditions, "ContainersNotReady"),
          containerStatuses: containers.map((c, i) =>
            statusFor(
              c,
              { waiting: { reason: "CrashLoopBackOff", message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${c.name} pod=${p.metadata.name}` } },
              { restartCount: run.restarts, lastState: terminatedFor(c, i) },
            ),
          ),
        };
      });
      this.endFollowers(run);
      this.later(run, delay, () => {
        const next = this.currentPod(run);
        if (!next) return;
        run.outcome = this.scripts.next(next);
        this.startContainers(run);
      });
      return;
    }

    run.state = "exited";
    const phase = result.exitCode === 0 ? "Succeeded" : "Failed";
    this.update(run, (p) => {
      p.status = {
        ...p.status,
        phase,
        conditions: notReady(p.status?.conditions, phase === "Succeeded" ? "PodCompleted" : "PodFailed"),
        containerStatuses: containers.map((c, i) =>
          statusFor(c, terminatedFor(c, i), {
            restartCount: run.restarts,
            lastState: p.status?.containerStatuses?.[i]?.lastState ?? {},
            containerID: p.status?.containerStatuses?.[i]?.containerID,
          }),
        ),
      };
    });
    this.endFollowers(run);
    if (run.terminating) this.later(run, 0, () => this.remove(run));
  }

  private terminate(pod: StoredPod): void {
    const run = this.runs.get(pod.metadata.uid);
    if (!run) {
      this.store.remove("Pod", pod.metadata.namespace, pod.metadata.name);
      return;
    }
    run.terminating = true;
    this.cancelTimers(run);
    const graceMs = apiSeconds(this.timing, pod.metadata.deletionGracePeriodSeconds ?? 30);
    if (run.state !== "running") {
      this.later(run, 0, () => this.remove(run));
      return;
    }
    const ignoresSigterm = run.outcome.type === "hang" && run.outcome.ignoreSigterm === true;
    if (ignoresSigterm) this.later(run, graceMs, () => this.exit(run, { exitCode: 137, reason: "Error" }));
    else {
      if (run.outcome.type === "hang" && run.outcome.sigtermLog) this.write(run, run.outcome.sigtermLog);
      const terminationMessage = run.outcome.type === "hang" ? run.outcome.sigtermMessage : undefined;
      this.later(run, Math.min(this.timing.sigtermExitMs, graceMs), () => this.exit(run, { exitCode: 143, reason: "Error", terminationMessage }));
    }
  }

  private remove(run: PodRun): void {
    if (this.currentPod(run)) this.store.remove("Pod", run.namespace, run.name);
  }

  private forget(uid: string): void {
    const run = this.runs.get(uid);
    if (!run) return;
    this.cancelTimers(run);
    this.endFollowers(run);
    this.runs.delete(uid);
  }

  private currentPod(run: PodRun): StoredPod | undefined {
    const obj = this.store.get("Pod", run.namespace, run.name);
    return obj && obj.metadata.uid === run.uid ? asPod(obj) : undefined;
  }

  private update(run: PodRun, change: (pod: StoredPod) => void): void {
    this.store.mutate("Pod", run.namespace, run.name, (obj) => {
      if (obj.metadata.uid === run.uid) change(asPod(obj));
    });
  }

  private later(run: PodRun, ms: number, task: () => void): void {
    const cancel = this.scheduler.after(ms, () => {
      run.timers = run.timers.filter((t) => t !== cancel);
      if (this.runs.get(run.uid) === run) task();
    });
    run.timers.push(cancel);
  }

  private cancelTimers(run: PodRun): void {
    for (const cancel of run.timers) cancel();
    run.timers = [];
  }
}

function notReady(conditions: PodCondition[] | undefined, reason: string): PodCondition[] {
  let list = setCondition<PodCondition>(conditions, { type: "Ready", status: "False", reason });
  list = setCondition<PodCondition>(list, { type: "ContainersReady", status: "False", reason });
  return list;
}
