// The job controller, as of Kubernetes 1.31+: creates pods for a Job (parallelism, completions,
// Indexed mode), counts finished pods, applies backoffLimit, activeDeadlineSeconds and
// podFailurePolicy, and sets the conditions (FailureTarget/SuccessCriteriaMet first, then
// Failed/Complete once no pod is left running).
import { findCondition, setCondition } from "./conditions.js";
import { COMPLETION_INDEX } from "./defaults.js";
import type { GarbageCollector } from "./garbage-collector.js";
import { buildJobPod, randomSuffix } from "./pod-builder.js";
import type { Cancel, Scheduler } from "./scheduler.js";
import { ApiError } from "./status.js";
import type { ObjectStore, StoreEvent } from "./store.js";
import { apiSeconds, backoffDelay, type Timing } from "./timing.js";
import { asJob, asPod, kubeTime, type JobCondition, type StoredJob, type StoredPod } from "./types.js";

type PodTally = "succeeded" | "failed" | "ignored";

/** What the controller remembers about one Job between reconciles. */
interface JobMemory {
  uid: string;
  tally: Map<string, PodTally>;
  /** Live pods as last seen, so a pod that vanishes before finishing is still counted. */
  lastSeen: Map<string, StoredPod>;
  succeeded: number;
  failed: number;
  succeededIndexes: Set<number>;
  failuresSinceSuccess: number;
  lastFailureAt: number;
  /** Start in milliseconds: status.startTime has only second precision, too coarse for scaled deadlines. */
  startedAt?: number;
  /** Set when a podFailurePolicy FailJob rule matched. */
  failJob?: { reason: string; message: string };
  deadline?: Cancel;
  backoff?: Cancel;
}

interface PolicyDecision {
  action: string;
  message?: string;
}

function isFinished(pod: StoredPod): boolean {
  return pod.status?.phase === "Succeeded" || pod.status?.phase === "Failed";
}

function completionIndex(pod: StoredPod): number | undefined {
  const text = pod.metadata.annotations?.[COMPLETION_INDEX] ?? pod.metadata.labels?.[COMPLETION_INDEX];
  return text === undefined ? undefined : Number(text);
}

function isReady(pod: StoredPod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** "0-2,5": the compressed list Job status uses for completed indexes. */
function formatIndexes(indexes: Set<number>): string | undefined {
  const sorted = [...indexes].sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const ranges: string[] = [];
  let start = sorted[0];
  let prev = start;
  for (const i of [...sorted.slice(1), Number.NaN]) {
    if (i === prev + 1) {
      prev = i;
      continue;
    }
    ranges.push(start === prev ? String(start) : `${start}-${prev}`);
    start = prev = i;
  }
  return ranges.join(",");
}

function podFailurePolicyDecision(job: StoredJob, pod: StoredPod): PolicyDecision {
  const rules = job.spec?.podFailurePolicy?.rules ?? [];
  const where = `${pod.metadata.namespace}/${pod.metadata.name}`;
  for (const [i, rule] of rules.entries()) {
    if (rule.onExitCodes) {
      const codes = rule.onExitCodes;
      const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
      for (const cs of statuses) {
        if (codes.containerName !== undefined && cs.name !== codes.containerName) continue;
        const code = cs.state?.terminated?.exitCode;
        if (code === undefined || code === 0) continue;
        const listed = codes.values.includes(code);
        if (codes.operator === "In" ? listed : !listed) {
          return { action: rule.action, message: `Container ${cs.name} for pod ${where} failed with exit code ${code} matching ${rule.action} rule at index ${i}` };
        }
      }
    }
    for (const pattern of rule.onPodConditions ?? []) {
      const status = pattern.status ?? "True";
      if (pod.status?.conditions?.some((c) => c.type === pattern.type && c.status === status)) {
        return { action: rule.action, message: `Pod ${where} has condition ${pattern.type} matching ${rule.action} rule at index ${i}` };
      }
    }
  }
  return { action: "Count" };
}

export class JobController {
  private readonly memory = new Map<string, JobMemory>();
  private readonly queued = new Set<string>();

  constructor(
    private readonly store: ObjectStore,
    private readonly scheduler: Scheduler,
    private readonly gc: GarbageCollector,
    private readonly timing: Timing,
    private readonly random: () => number,
  ) {}

  start(): () => void {
    return this.store.subscribe((event) => this.onEvent(event));
  }

  private onEvent(event: StoreEvent): void {
    const meta = event.object.metadata;
    if (event.kind === "Job") {
      this.enqueue(meta.namespace, meta.name);
    } else if (event.kind === "Pod") {
      const owner = meta.ownerReferences?.find((ref) => ref.controller && ref.kind === "Job");
      if (owner) this.enqueue(meta.namespace, owner.name);
    }
  }

  private enqueue(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.scheduler.after(0, () => {
      this.queued.delete(key);
      this.reconcile(namespace, name);
    });
  }

  private reconcile(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const obj = this.store.get("Job", namespace, name);
    const previous = this.memory.get(key);
    if (!obj || (previous && previous.uid !== obj.metadata.uid)) {
      if (previous) this.forget(key, previous);
      if (!obj) return;
    }
    const job = asJob(obj);
    const mem = this.memory.get(key) ?? this.remember(key, job);
    if (job.metadata.deletionTimestamp) return;
    const conditions = job.status?.conditions;
    if (findCondition(conditions, "Complete") || findCondition(conditions, "Failed")) return;

    if (job.spec?.suspend) {
      this.writeStatus(job, {
        ...job.status,
        conditions: setCondition<JobCondition>(conditions, { type: "Suspended", status: "True", reason: "JobSuspended", message: "Job suspended", lastProbeTime: kubeTime() }),
      });
      return;
    }

    const now = Date.now();
    const startTime = job.status?.startTime ?? kubeTime(now);
    mem.startedAt ??= job.status?.startTime ? Date.parse(job.status.startTime) : now;
    // Its own pods only (copying every pod of the namespace per sync made a few hundred Jobs slow).
    const pods = this.store
      .dependentsOf(job.metadata.uid, namespace)
      .filter((o) => o.kind === "Pod")
      .map(asPod)
      .filter((p) => p.metadata.ownerReferences?.some((ref) => ref.uid === job.metadata.uid && ref.controller));
    this.tally(job, mem, pods, now);

    let active = pods.filter((p) => !isFinished(p) && !p.metadata.deletionTimestamp);
    let terminating = pods.filter((p) => !isFinished(p) && p.metadata.deletionTimestamp);
    let next = conditions;
    let target = findCondition(next, "FailureTarget") ?? findCondition(next, "SuccessCriteriaMet");

    if (!target) {
      const verdict = this.verdict(job, mem, active.length, pods, mem.startedAt, now);
      if (verdict) {
        next = setCondition<JobCondition>(next, { ...verdict, status: "True", lastProbeTime: kubeTime(now) });
        target = findCondition(next, verdict.type);
      }
    }

    if (target) {
      for (const pod of active) this.deletePod(pod);
      const remaining = this.store
        .dependentsOf(job.metadata.uid, namespace)
        .filter((o) => o.kind === "Pod")
        .map(asPod)
        .filter((p) => !isFinished(p) && p.metadata.ownerReferences?.some((ref) => ref.uid === job.metadata.uid));
      terminating = remaining;
      active = [];
      if (remaining.length === 0) {
        const type = target.type === "SuccessCriteriaMet" ? "Complete" : "Failed";
        next = setCondition<JobCondition>(next, { type, status: "True", reason: target.reason, message: target.message, lastProbeTime: kubeTime() });
      }
    } else {
      active = [...active, ...this.createPods(job, mem, active, terminating, now)];
      this.armDeadline(job, mem, mem.startedAt, now);
    }

    const complete = findCondition(next, "Complete");
    this.writeStatus(job, {
      ...job.status,
      startTime,
      active: active.length,
      ready: active.filter(isReady).length,
      terminating: terminating.length,
      succeeded: mem.succeeded,
      failed: mem.failed,
      completedIndexes: job.spec?.completionMode === "Indexed" ? (formatIndexes(mem.succeededIndexes) ?? "") : undefined,
      uncountedTerminatedPods: {},
      conditions: next,
      completionTime: complete ? (job.status?.completionTime ?? kubeTime()) : undefined,
    });
  }

  /** Counts pods that finished, or vanished unfinished (counted as failed), since the last reconcile. */
  private tally(job: StoredJob, mem: JobMemory, pods: StoredPod[], now: number): void {
    const live = new Set(pods.map((p) => p.metadata.uid));
    for (const pod of pods) {
      mem.lastSeen.set(pod.metadata.uid, pod);
      if (isFinished(pod) && !mem.tally.has(pod.metadata.uid)) this.count(job, mem, pod, now);
    }
    for (const [uid, pod] of mem.lastSeen) {
      if (live.has(uid)) continue;
      if (!mem.tally.has(uid)) this.count(job, mem, pod, now);
      mem.lastSeen.delete(uid);
    }
  }

  private count(job: StoredJob, mem: JobMemory, pod: StoredPod, now: number): void {
    const uid = pod.metadata.uid;
    if (pod.status?.phase === "Succeeded") {
      mem.tally.set(uid, "succeeded");
      const index = completionIndex(pod);
      if (index !== undefined) {
        if (mem.succeededIndexes.has(index)) return;
        mem.succeededIndexes.add(index);
      }
      mem.succeeded++;
      mem.failuresSinceSuccess = 0;
      return;
    }
    const decision = podFailurePolicyDecision(job, pod);
    if (decision.action === "Ignore") {
      mem.tally.set(uid, "ignored");
      return;
    }
    mem.tally.set(uid, "failed");
    mem.failed++;
    mem.failuresSinceSuccess++;
    mem.lastFailureAt = now;
    if (decision.action === "FailJob" && !mem.failJob) mem.failJob = { reason: "PodFailurePolicy", message: decision.message ?? "" };
  }

  /** The terminal verdict the Job has reached, if any. */
  private verdict(
    job: StoredJob,
    mem: JobMemory,
    activeCount: number,
    pods: StoredPod[],
    startedAt: number,
    now: number,
  ): { type: "FailureTarget" | "SuccessCriteriaMet"; reason: string; message: string } | undefined {
    const spec = job.spec!;
    if (mem.failJob) return { type: "FailureTarget", ...mem.failJob };
    // With restartPolicy OnFailure, container restarts count against the backoff limit.
    const restarts = pods.reduce((sum, p) => sum + (p.status?.containerStatuses ?? []).reduce((s, c) => s + (c.restartCount ?? 0), 0), 0);
    if (mem.failed + restarts > (spec.backoffLimit ?? 6)) {
      return { type: "FailureTarget", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" };
    }
    const deadline = spec.activeDeadlineSeconds;
    if (deadline !== undefined && now >= startedAt + apiSeconds(this.timing, deadline)) {
      return { type: "FailureTarget", reason: "DeadlineExceeded", message: "Job was active longer than specified deadline" };
    }
    const reached =
      spec.completionMode === "Indexed"
        ? mem.succeededIndexes.size >= (spec.completions ?? 1)
        : spec.completions !== undefined
          ? mem.succeeded >= spec.completions
          : mem.succeeded > 0 && activeCount === 0;
    if (reached) return { type: "SuccessCriteriaMet", reason: "CompletionsReached", message: "Reached expected number of succeeded pods" };
    return undefined;
  }

  private createPods(job: StoredJob, mem: JobMemory, active: StoredPod[], terminating: StoredPod[], now: number): StoredPod[] {
    const spec = job.spec!;
    if (mem.failuresSinceSuccess > 0) {
      const readyAt = mem.lastFailureAt + backoffDelay(this.timing, mem.failuresSinceSuccess);
      if (now < readyAt) {
        mem.backoff?.();
        mem.backoff = this.scheduler.after(readyAt - now, () => this.enqueue(job.metadata.namespace, job.metadata.name));
        return [];
      }
    }
    const parallelism = spec.parallelism ?? 1;
    const occupying = spec.podReplacementPolicy === "Failed" ? [...active, ...terminating] : active;
    const indexes: Array<number | undefined> = [];
    if (spec.completionMode === "Indexed") {
      const busy = new Set(occupying.map(completionIndex));
      for (let i = 0; i < (spec.completions ?? 1) && indexes.length < parallelism - occupying.length; i++) {
        if (!mem.succeededIndexes.has(i) && !busy.has(i)) indexes.push(i);
      }
    } else {
      const wanted = spec.completions === undefined ? (mem.succeeded > 0 ? 0 : parallelism) : Math.min(parallelism, spec.completions - mem.succeeded);
      for (let n = occupying.length; n < wanted; n++) indexes.push(undefined);
    }
    return indexes.map((index) => this.createPod(job, index));
  }

  private createPod(job: StoredJob, index: number | undefined): StoredPod {
    for (;;) {
      try {
        return asPod(this.store.create(buildJobPod(job, index, randomSuffix(this.random))));
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 409)) throw err;
      }
    }
  }

  private deletePod(pod: StoredPod): void {
    try {
      this.gc.delete("Pod", pod.metadata.namespace, pod.metadata.name);
    } catch (err) {
      if (!(err instanceof ApiError && err.code === 404)) throw err;
    }
  }

  private armDeadline(job: StoredJob, mem: JobMemory, startedAt: number, now: number): void {
    const deadline = job.spec?.activeDeadlineSeconds;
    if (deadline === undefined || mem.deadline) return;
    const due = startedAt + apiSeconds(this.timing, deadline) - now;
    mem.deadline = this.scheduler.after(Math.max(0, due), () => this.enqueue(job.metadata.namespace, job.metadata.name));
  }

  private writeStatus(job: StoredJob, status: NonNullable<StoredJob["status"]>): void {
    const clean = Object.fromEntries(Object.entries(status).filter(([, v]) => v !== undefined));
    this.store.mutate("Job", job.metadata.namespace, job.metadata.name, (obj) => {
      if (obj.metadata.uid === job.metadata.uid) obj.status = clean;
    });
  }

  private remember(key: string, job: StoredJob): JobMemory {
    const mem: JobMemory = {
      uid: job.metadata.uid,
      tally: new Map(),
      lastSeen: new Map(),
      succeeded: job.status?.succeeded ?? 0,
      failed: job.status?.failed ?? 0,
      succeededIndexes: new Set(),
      failuresSinceSuccess: 0,
      lastFailureAt: 0,
    };
    this.memory.set(key, mem);
    return mem;
  }

  private forget(key: string, mem: JobMemory): void {
    mem.deadline?.();
    mem.backoff?.();
    this.memory.delete(key);
  }
}
