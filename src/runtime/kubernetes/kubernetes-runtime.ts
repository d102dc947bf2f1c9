// The Kubernetes runtime: every attempt of a job is one batch/v1 Job (job-builder.ts), watched
// through the JobTracker's caches. What to do next is decided by `reconcile`, level-triggered:
// given the job record and the Kubernetes objects as they are now, report running / progress /
// the end, create the files ConfigMap, or give up on an image that cannot be pulled. Nothing it
// relies on lives only in memory: after a restart, recover() rebuilds the same view from the store
// rows and a fresh list, and the deterministic Job names make a repeated create harmless.
//
// An end is recorded as soon as the Job's condition and its pod's termination message are known:
// the log is read only when the message does not carry the result or the run failed, and then
// behind every launch (a low-priority token). The log of a pod being stopped (cancel, deadline,
// eviction) is followed while it stops, since the pod and its log are deleted right after.
//
// Once the end is stored, the Job is only a copy of it: JobCleanup deletes it (a Failed one after
// K8S_KEEP_FAILED_JOBS), so the caches hold the active Jobs, not a day of finished ones.
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { KeyedSerial } from "../../shared/keyed-serial.js";
import {
  RunReason, type InFlightRun, type Placement, type Recovery, type Run as JobRun, type RunEnd, type RunOutput, type RunRef, type Runtime, type RuntimeListener, type Workload,
} from "../runtime.js";
import { COLLECTOR_CONTAINER, buildFilesConfigMap, buildJob, type JobBuildInput, type JobBuilderSettings } from "./job-builder.js";
import { JobCleanup } from "./job-cleanup.js";
import { isFinished, observe, timeMs, type RunVerdict } from "./job-status.js";
import { JobTracker, type ChangeType } from "./job-tracker.js";
import { backoffDelay, statusOf, type KubeClient } from "./kube-client.js";
import { LogFollower } from "./log-follower.js";
import { JOB_NAME_LABEL, MANAGED_SELECTOR, kubernetesJobName } from "./names.js";
import type { Priority } from "./rate-limiter.js";
import { collectorStatus, isJsonObject, pickResult, tailBytes, terminatedState } from "./results.js";
import { runnerContainerName } from "./runner-job-builder.js";
import { RunnerStarter, collectRunnerResults, runnerEndsKnown, type StartHooks } from "./runner-starter.js";

export interface KubernetesRuntimeOptions {
  client: KubeClient;
  builder: JobBuilderSettings;
  /** How long a pod may fail to pull its image before the job fails. */
  imagePullFailureTimeoutMs: number;
  outputTailBytes: number;
  logger: Logger;
  /** How long a Job Kubernetes marked Failed stays after its end is stored (K8S_KEEP_FAILED_JOBS); default 0: deleted at once, as every finished Job. */
  keepFailedJobsMs?: number;
}

/** Log lines and bytes read at the end of a run: the output tail and the result fallback. */
const LOG_TAIL_LINES = 500;
const LOG_LIMIT_BYTES = 512 * 1024;
/** At most this long, a finished Job waits for the pod watch to bring its pod's last state; then its pods are listed. */
const POD_WATCH_GRACE_MS = 2000;
/** Pods get their log followed from this long before their Job's deadline (activeDeadlineSeconds). */
const FOLLOW_BEFORE_DEADLINE_MS = 2000;
/** A cancel waits at most this long for the follow streams to open before deleting the Job. */
const FOLLOW_CONNECT_WAIT_MS = 2000;
/** An end waits at most this long for a followed log to end (it ends when the container stops). */
const FOLLOW_SETTLE_MS = 2000;

/** One attempt the runtime is responsible for reporting. */
interface Run {
  job: JobRun;
  /** The store already held a cancel request for it when it was adopted. */
  cancelRequested: boolean;
  /** The Kubernetes Job's name (deterministic). */
  name: string;
  workload?: Workload;
  /** The Job was in the cache at least once: its absence now means it is gone. */
  seen: boolean;
  /** A delete answered 404: the Job is gone even if the cache never showed it. */
  gone: boolean;
  /** Its pods as last seen, kept after they are deleted (their termination message is the result). */
  pods: Map<string, V1Pod>;
  /** Uids of its pods known to be deleted (no log left to read). */
  deletedPods: Set<string>;
  /** Logs followed while their pods stop, by pod uid. */
  followers: Map<string, LogFollower>;
  /** Wakes the reconcile when its Job's deadline comes near (to follow the logs). */
  deadlineTimer?: NodeJS.Timeout;
  runningReported: boolean;
  progress?: string;
  pullFailingSince?: number;
  /** When the Job's end was first seen without its pod's final state. */
  finishedSeenAt?: number;
  filesReady: boolean;
  cancelling: boolean;
  ended: boolean;
  timer?: NodeJS.Timeout;
  failures: number;
}

export class KubernetesRuntime implements Runtime {
  readonly name = "kubernetes" as const;
  private listener?: RuntimeListener;
  private readonly runs = new Map<string, Run>();
  private readonly byName = new Map<string, Run>();
  private readonly serial = new KeyedSerial();
  private readonly queued = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly tracker: JobTracker;
  private readonly namespace: string;
  private readonly logger: Logger;
  private started?: Promise<void>;
  private stopped = false;
  /** Handed over (detach): nothing is launched, followed or reported until a recovery starts a new term. */
  private detached = false;
  private readonly starter: RunnerStarter;
  /** Deletes finished Jobs whose ends are stored. */
  private readonly cleanup: JobCleanup;

  constructor(private readonly options: KubernetesRuntimeOptions) {
    this.namespace = options.builder.namespace;
    this.logger = options.logger;
    this.cleanup = new JobCleanup({
      client: options.client,
      namespace: this.namespace,
      keepFailedMs: options.keepFailedJobsMs ?? 0,
      logger: options.logger,
      current: (name) => this.tracker.jobs.items.get(name),
    });
    this.starter = new RunnerStarter({ logger: options.logger });
    this.tracker = new JobTracker(
      options.client,
      { namespace: this.namespace, labelSelector: MANAGED_SELECTOR, logger: options.logger },
      (type, job) => this.onJob(type, job),
      (type, pod) => this.onPod(type, pod),
    );
  }

  setListener(listener: RuntimeListener): void {
    this.listener = listener;
  }

  activeRuns(): number {
    return this.runs.size;
  }

  /** The first list of Jobs and Pods; later calls share it. */
  start(): Promise<void> {
    if (this.stopped) return Promise.reject(new Error("the Kubernetes runtime has shut down"));
    if (this.detached) return Promise.reject(new Error("this replica handed its runs over to the next leader and launches no more"));
    this.started ??= this.tracker.start().catch((error: unknown) => {
      this.started = undefined;
      throw error;
    });
    return this.started;
  }

  async launch(job: JobRun, workload: Workload): Promise<Placement> {
    await this.start();
    const unreachable = workload.program ? await this.starter.preflight(workload.program) : null;
    if (unreachable) {
      // Nothing is created. Reported once the launch has returned (the listener serialises behind it).
      setImmediate(() => void this.listener?.finished(job, unreachable, Date.now()).catch((error: unknown) => this.logger.error({ err: error, jobId: job.id }, "recording an unreachable target failed")));
      return { runtime: "kubernetes", location: `${this.namespace} (not created: target unreachable)`, namespace: this.namespace };
    }
    const body = buildJob(this.buildInput(job, workload), this.options.builder);
    const run = this.register(job, workload, { seen: false, runningReported: false, cancelRequested: false });
    try {
      await this.createJob(run, body);
    } catch (error) {
      this.unregister(run);
      throw error;
    }
    this.logger.info({ jobId: job.id, attempt: job.attempt, kubernetesJob: run.name }, "Kubernetes Job created");
    this.schedule(run);
    return this.placement(run);
  }

  async cancel(job: RunRef): Promise<boolean> {
    const run = this.runs.get(job.id);
    if (!run || run.ended || run.job.attempt !== job.attempt) return false;
    run.cancelling = true;
    // The pods' logs go with them: follow each running one first, so the output written up to
    // the end (what the collector says on SIGTERM included) is kept, as a local run's is.
    const kjob = this.tracker.jobs.items.get(run.name);
    const followers = this.follow(run, (kjob ? this.podsOf(run, kjob) : [...run.pods.values()]).filter((pod) => this.writing(run, pod)), "high");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(followers.map((f) => f.connected)), new Promise<void>((resolve) => (timer = setTimeout(resolve, FOLLOW_CONNECT_WAIT_MS)))]);
    clearTimeout(timer);
    // Foreground: the Job stays until its pods are gone, each stopped with SIGTERM and its grace period.
    await this.deleteJob(run, "Foreground");
    this.logger.info({ jobId: job.id, kubernetesJob: run.name }, "cancelling: Kubernetes Job deleted");
    this.schedule(run);
    return true;
  }

  async recover(jobs: InFlightRun[]): Promise<Map<string, Recovery>> {
    // A new term (this replica led before and handed over): fresh caches from a fresh list.
    if (this.detached && !this.stopped) {
      this.detached = false;
      this.cleanup.start();
    }
    await this.start();
    const decisions = new Map<string, Recovery>();
    const expected = new Set<string>();
    for (const job of jobs) {
      const name = this.jobName(job);
      expected.add(name);
      const where = `${this.namespace}/${name}`;
      if (this.tracker.jobs.items.has(name)) {
        this.register(job, this.tryWorkload(job), { seen: true, runningReported: job.state === "RUNNING", cancelRequested: job.cancelRequested });
        decisions.set(job.id, { action: "adopted" });
        continue;
      }
      if (job.state === "STARTING" && !job.cancelRequested) {
        // The service stopped between recording STARTING and creating the Job (or before the
        // create's answer): create it now. Its deterministic name makes this safe.
        try {
          const workload = rebuiltWorkload(job);
          const body = buildJob(this.buildInput(job, workload), this.options.builder);
          const run = this.register(job, workload, { seen: false, runningReported: false, cancelRequested: false });
          try {
            await this.createJob(run, body);
          } catch (error) {
            this.unregister(run);
            throw error;
          }
          decisions.set(job.id, { action: "adopted" });
        } catch (error) {
          decisions.set(job.id, { action: "lost", message: `could not create its Kubernetes Job ${where} after a restart: ${(error as Error).message}` });
        }
        continue;
      }
      decisions.set(job.id, {
        action: "lost",
        message: `its Kubernetes Job ${where} no longer exists (deleted while the service was down, or removed by its TTL before its end was recorded)`,
      });
    }
    await this.cleanUpUnexpected(expected);
    // The decisions, as the lifecycle counts them: an adopted run may already have ended meanwhile.
    const adopted = [...decisions.values()].filter((d) => d.action === "adopted").length;
    if (jobs.length) this.logger.info({ inFlight: jobs.length, adopted, lost: decisions.size - adopted }, "reconciled the store's in-flight jobs with Kubernetes");
    const runs = [...this.runs.values()];
    // Reported after the lifecycle has handled the decisions (its calls queue behind them).
    setImmediate(() => runs.forEach((run) => this.schedule(run)));
    return decisions;
  }

  async shutdown(graceMs: number): Promise<void> {
    this.stopped = true;
    const runs = await this.letGo(graceMs);
    this.logger.info({ runs }, "stopped watching Kubernetes; its Jobs keep running and are adopted at the next start");
  }

  /**
   * A leader handing over (a release, or a lost lease): stops watching and reconciling, and waits
   * for the reconciles and deletes under way, so nothing of this term is reported after it returns.
   * The Jobs keep running for the next leader's recovery, which may be this replica's again.
   */
  async detach(): Promise<void> {
    const runs = await this.letGo();
    if (runs) this.logger.info({ runs }, "left the Kubernetes Jobs running for the next leader");
  }

  /** Forgets every run and stops the caches; waits for the work under way (up to graceMs, else all of it). */
  private async letGo(graceMs?: number): Promise<number> {
    this.detached = true;
    const runs = this.runs.size;
    for (const run of this.runs.values()) {
      run.ended = true;
      this.release(run);
    }
    this.runs.clear();
    this.byName.clear();
    this.queued.clear();
    // Deletes not sent by then are found again at the next start (finished Jobs no in-flight job names).
    const cleanupStopped = this.cleanup.stop(graceMs ?? 0);
    await this.started?.catch(() => undefined);
    await this.tracker.stop();
    this.started = undefined;
    let timer: NodeJS.Timeout | undefined;
    const settled = Promise.all([...this.inFlight, cleanupStopped]);
    await (graceMs === undefined ? settled : Promise.race([settled, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]));
    clearTimeout(timer);
    return runs;
  }

  // ---- the reconcile ----------------------------------------------------------------------

  private schedule(run: Run): void {
    if (this.stopped || this.detached || run.ended || this.queued.has(run.job.id)) return;
    this.queued.add(run.job.id);
    const task = this.serial.run(run.job.id, async () => {
      this.queued.delete(run.job.id);
      await this.reconcileSafely(run);
    });
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  private later(run: Run, ms: number): void {
    clearTimeout(run.timer);
    run.timer = setTimeout(() => this.schedule(run), Math.max(0, ms));
    run.timer.unref();
  }

  private async reconcileSafely(run: Run): Promise<void> {
    if (this.stopped || this.detached || run.ended) return;
    try {
      await this.reconcile(run);
      run.failures = 0;
    } catch (error) {
      run.failures++;
      const retryInMs = backoffDelay(run.failures, 500, 30_000);
      this.logger.error({ err: error, jobId: run.job.id, kubernetesJob: run.name, retryInMs: Math.round(retryInMs) }, "reconciling a Kubernetes Job failed; retrying");
      this.later(run, retryInMs);
    }
  }

  /** Decides the next step for one run from its record and the Job and pods as they are now. */
  private async reconcile(run: Run): Promise<void> {
    const kjob = this.tracker.jobs.items.get(run.name);
    if (!kjob) {
      if (!run.seen && !run.gone) return; // created, not yet seen on the watch
      const lastPod = this.latestPod(run);
      if (run.cancelling || run.cancelRequested) {
        return this.end(run, { kind: "cancelled" }, lastPod);
      }
      return this.end(run, { kind: "interrupted", message: `its Kubernetes Job ${this.namespace}/${run.name} was deleted before it finished` }, lastPod);
    }
    run.seen = true;
    const finished = isFinished(kjob);
    if (!finished) this.followStopping(run, kjob);
    // Being deleted (a cancel): wait until it is gone, by then its pods have had their SIGTERM.
    if (kjob.metadata?.deletionTimestamp && !finished) return;
    if (!finished && !run.filesReady && run.workload?.files && Object.keys(run.workload.files).length) await this.ensureFiles(run, kjob);

    let observation = observe(kjob, this.podsOf(run, kjob), run.job);
    if (observation.kind === "finished" && (!terminatedState(observation.pod) || this.runnerEndsMissing(run, kjob)) && this.podWatchBehind(kjob)) {
      // The Job's end arrived before its pod's last state: the two watches are independent, and
      // the pod's state was written first. Wait (briefly) for the pod watch to bring it; only if
      // it does not, list the Job's pods.
      run.finishedSeenAt ??= Date.now();
      if (Date.now() - run.finishedSeenAt < POD_WATCH_GRACE_MS) return this.later(run, 20);
      await this.refreshPods(run);
      observation = observe(kjob, this.podsOf(run, kjob), run.job);
    }
    if (run.workload?.program && observation.kind !== "finished") {
      // Runners of one Indexed Job: started together once all run (runner-starter.ts).
      if (!run.runningReported) await this.starter.reconcile(run.job, run.workload.program, kjob, this.podsOf(run, kjob), this.startHooks(run));
      return;
    }
    switch (observation.kind) {
      case "finished": {
        const pod = observation.pod;
        if (!run.runningReported) await this.reportRunning(run, pod);
        return this.end(run, observation.verdict, pod);
      }
      case "running":
        run.pullFailingSince = undefined;
        if (!run.runningReported) await this.reportRunning(run, observation.pod);
        return;
      case "waiting": {
        if (observation.unschedulable !== undefined && !run.runningReported) {
          await this.reportProgress(run, RunReason.UNSCHEDULABLE, `waiting for a node: ${observation.unschedulable}`);
        }
        const pull = observation.imagePull;
        if (!pull) {
          run.pullFailingSince = undefined;
          return;
        }
        run.pullFailingSince ??= Date.now();
        const left = run.pullFailingSince + this.options.imagePullFailureTimeoutMs - Date.now();
        if (left > 0) {
          await this.reportProgress(run, RunReason.IMAGE_PULL_BACKOFF, `cannot pull image "${pull.image}" yet (${pull.reason}): ${pull.message}`);
          return this.later(run, left + 5);
        }
        const seconds = Math.round(this.options.imagePullFailureTimeoutMs / 100) / 10;
        await this.end(run, {
          kind: "failed",
          reason: RunReason.IMAGE_PULL_FAILED,
          message: `could not pull image "${pull.image}" for ${seconds}s (${pull.reason}): ${pull.message}`,
        });
        // Recorded first; then the Job goes (its pod would wait for the image until the deadline).
        await this.deleteJob(run, "Background").catch((error: unknown) =>
          this.logger.warn({ err: error, kubernetesJob: run.name }, "deleting a Job whose image cannot be pulled failed"),
        );
        return;
      }
    }
  }

  private startHooks(run: Run): StartHooks {
    return {
      running: (pod) => this.reportRunning(run, pod),
      progress: (reason, message) => this.reportProgress(run, reason, message),
      later: (ms) => this.later(run, ms),
      fail: async (reason, message) => {
        await this.end(run, { kind: "failed", reason, message });
        await this.deleteJob(run, "Background").catch((error: unknown) =>
          this.logger.warn({ err: error, kubernetesJob: run.name }, "deleting the Job of runners that never all started failed"),
        );
      },
    };
  }

  private async reportRunning(run: Run, pod: V1Pod | undefined): Promise<void> {
    const placement = this.placement(run, pod);
    await this.listener?.running(run.job, placement, Date.now());
    run.runningReported = true;
  }

  private async reportProgress(run: Run, reason: string, message: string): Promise<void> {
    const key = `${reason}:${message}`;
    if (run.progress === key) return;
    await this.listener?.progress?.(run.job, { reason, message }, Date.now());
    run.progress = key;
  }

  private async end(run: Run, verdict: RunVerdict, pod?: V1Pod): Promise<void> {
    const output = await this.collectOutput(run, pod, verdict);
    const end = { ...verdict, output } as RunEnd;
    await this.listener?.finished(run.job, end, Date.now());
    this.logger.info({ jobId: run.job.id, attempt: run.job.attempt, kubernetesJob: run.name, end: end.kind }, "Kubernetes Job ended");
    this.unregister(run);
    // Stored: the Job is a copy now. One the runtime ended itself (an image never pulled, runners
    // that never all started) is not finished; the caller deletes it at once.
    const kjob = this.tracker.jobs.items.get(run.name);
    if (kjob && isFinished(kjob) && !kjob.metadata?.deletionTimestamp) this.cleanup.collect(kjob);
  }

  /**
   * The result and output tail: the termination message, else the log's last JSON line. The log
   * (the output tail) is read only when the message does not carry the result or the run failed;
   * a followed log is used as it is.
   */
  private async collectOutput(run: Run, pod: V1Pod | undefined, verdict: RunVerdict): Promise<RunOutput> {
    const succeeded = verdict.kind === "exited" && verdict.exitCode === 0;
    // A pod that never ran its container has no log to read (a followed one may have some).
    const needed = (p: V1Pod) => {
      const ended = terminatedState(p);
      return ended !== undefined && !(succeeded && carriesResult(ended.exitCode, ended.message));
    };
    if (run.workload?.program) {
      const container = runnerContainerName(run.workload.program);
      return collectRunnerResults(run.workload.program, [...run.pods.values()], (p) => this.logOf(run, p, container, needed(p)), this.options.outputTailBytes);
    }
    const terminated = terminatedState(pod);
    const exitCode = verdict.kind === "exited" ? verdict.exitCode : terminated?.exitCode;
    const log = pod ? await this.logOf(run, pod, COLLECTOR_CONTAINER, needed(pod)) : null;
    if (!terminated) return { rawResult: null, outputTail: log !== null ? tailBytes(log, this.options.outputTailBytes) : "" };
    const rawResult = pickResult(terminated.message, log, exitCode);
    const outputTail = log !== null ? tailBytes(log, this.options.outputTailBytes) : rawResult === null ? (terminated.message ?? "") : "";
    return { rawResult, outputTail };
  }

  /** A pod's log: what its follower got, else (when needed and the pod still exists) a read, behind every launch. */
  private async logOf(run: Run, pod: V1Pod, container: string, needed: boolean): Promise<string | null> {
    const uid = pod.metadata?.uid ?? "";
    const follower = run.followers.get(uid);
    if (follower) {
      const text = await follower.settle(FOLLOW_SETTLE_MS);
      if (text !== null) return text;
    }
    if (!needed || run.deletedPods.has(uid)) return null;
    return this.readLog(pod.metadata?.name ?? "", container, "low");
  }

  /** The collector of this pod may still write: it runs, and the pod is not gone. */
  private writing(run: Run, pod: V1Pod): boolean {
    const uid = pod.metadata?.uid;
    return uid !== undefined && !run.deletedPods.has(uid) && collectorStatus(pod)?.state?.running !== undefined;
  }

  /**
   * Follows the logs of the run's running pods that are being stopped: deleted (cancel, eviction,
   * the deadline's kill) or with their Job's deadline near, when the stream can open before the
   * kill. Sets a timer for that moment.
   */
  private followStopping(run: Run, kjob: V1Job): void {
    const writing = this.podsOf(run, kjob).filter((pod) => this.writing(run, pod) && !run.followers.has(pod.metadata!.uid!));
    if (writing.length === 0) return;
    const stopping = kjob.metadata?.deletionTimestamp !== undefined || run.cancelling || kjob.status?.conditions?.some((c) => c.type === "FailureTarget" && c.status === "True");
    const startedAt = timeMs(kjob.status?.startTime) || Number.NaN;
    const deadline = kjob.spec?.activeDeadlineSeconds;
    const followAt = deadline !== undefined && Number.isFinite(startedAt) ? startedAt + deadline * 1000 - FOLLOW_BEFORE_DEADLINE_MS : Number.POSITIVE_INFINITY;
    const now = Date.now();
    if (stopping || now >= followAt) {
      this.follow(run, writing, "high");
    } else {
      this.follow(run, writing.filter((pod) => pod.metadata?.deletionTimestamp), "high");
      if (!run.deadlineTimer && Number.isFinite(followAt)) {
        run.deadlineTimer = setTimeout(() => this.schedule(run), followAt - now);
        run.deadlineTimer.unref();
      }
    }
  }

  private follow(run: Run, pods: V1Pod[], priority: Priority): LogFollower[] {
    const started: LogFollower[] = [];
    for (const pod of pods) {
      const uid = pod.metadata?.uid;
      const name = pod.metadata?.name;
      if (!uid || !name || run.followers.has(uid)) continue;
      const follower = new LogFollower(
        {
          client: this.options.client,
          namespace: this.namespace,
          pod: name,
          container: run.workload?.program ? runnerContainerName(run.workload.program) : COLLECTOR_CONTAINER,
          tailLines: LOG_TAIL_LINES,
          keepBytes: LOG_LIMIT_BYTES,
          logger: this.logger,
        },
        priority,
      );
      run.followers.set(uid, follower);
      started.push(follower);
    }
    return started;
  }

  /** A runner group's Job (Workload.program) whose pods' ends are not all known yet: each holds a part of the result. */
  private runnerEndsMissing(run: Run, kjob: V1Job): boolean {
    return run.workload?.program !== undefined && !runnerEndsKnown(run.workload.program, this.podsOf(run, kjob));
  }

  /** True while the pod cache has not yet seen every change up to the Job's (resourceVersions as etcd revisions). */
  private podWatchBehind(kjob: V1Job): boolean {
    const jobVersion = kjob.metadata?.resourceVersion ?? "";
    const podVersion = this.tracker.pods.syncedTo;
    if (!/^\d+$/.test(jobVersion) || !/^\d+$/.test(podVersion)) return true;
    return BigInt(podVersion) < BigInt(jobVersion);
  }

  /** Lists the run's pods directly (the same list permission the tracker uses): when the pod watch lags too long. */
  private async refreshPods(run: Run): Promise<void> {
    const list = await this.options.client.call(`listing the pods of Job ${this.namespace}/${run.name}`, () =>
      this.options.client.core.listNamespacedPod({ namespace: this.namespace, labelSelector: `${MANAGED_SELECTOR},${JOB_NAME_LABEL}=${run.name}` }),
    );
    const live = new Set<string>();
    for (const pod of list.items) {
      if (!pod.metadata?.uid) continue;
      live.add(pod.metadata.uid);
      run.pods.set(pod.metadata.uid, pod);
    }
    for (const uid of run.pods.keys()) if (!live.has(uid)) run.deletedPods.add(uid);
  }

  private async readLog(podName: string, container: string, priority: Priority): Promise<string | null> {
    try {
      return await this.options.client.call(
        `reading the log of pod ${this.namespace}/${podName}`,
        () =>
          this.options.client.core.readNamespacedPodLog({
            name: podName,
            namespace: this.namespace,
            container,
            tailLines: LOG_TAIL_LINES,
            limitBytes: LOG_LIMIT_BYTES,
          }),
        { priority },
      );
    } catch (error) {
      this.logger.warn({ err: (error as Error).message, pod: podName }, "could not read the pod's log");
      return null;
    }
  }

  // ---- API calls --------------------------------------------------------------------------

  private async createJob(run: Run, body: V1Job): Promise<void> {
    try {
      await this.options.client.call(`creating Job ${this.namespace}/${run.name}`, () =>
        this.options.client.batch.createNamespacedJob({ namespace: this.namespace, body }),
      );
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      // Already there: created before a restart, or by a try whose answer was lost. Never a second run.
      this.logger.info({ jobId: run.job.id, kubernetesJob: run.name }, "Kubernetes Job already exists: adopting it");
    }
  }

  private async deleteJob(run: Run, propagationPolicy: "Foreground" | "Background"): Promise<void> {
    try {
      await this.options.client.call(`deleting Job ${this.namespace}/${run.name}`, () =>
        this.options.client.batch.deleteNamespacedJob({ name: run.name, namespace: this.namespace, propagationPolicy }),
      );
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      run.gone = true;
    }
  }

  private async ensureFiles(run: Run, kjob: V1Job): Promise<void> {
    const uid = kjob.metadata?.uid;
    if (!uid || !run.workload) return;
    const body = buildFilesConfigMap(this.buildInput(run.job, run.workload), this.options.builder, { name: run.name, uid });
    if (body) {
      try {
        await this.options.client.call(`creating ConfigMap ${this.namespace}/${body.metadata?.name}`, () =>
          this.options.client.core.createNamespacedConfigMap({ namespace: this.namespace, body }),
        );
      } catch (error) {
        if (statusOf(error) !== 409) throw error;
      }
    }
    run.filesReady = true;
  }

  /**
   * Jobs of ours that no in-flight job accounts for: their job ended or moved to another attempt
   * (the store holds every in-flight row, and these are not among them). A finished one is a
   * leftover whose end was stored just before a stop or crash: cleaned up like any other. An
   * unfinished one is an orphan still running: deleted now.
   */
  private async cleanUpUnexpected(expected: Set<string>): Promise<void> {
    let leftovers = 0;
    for (const [name, kjob] of [...this.tracker.jobs.items]) {
      if (expected.has(name) || kjob.metadata?.deletionTimestamp) continue;
      if (isFinished(kjob)) {
        this.cleanup.collect(kjob);
        leftovers++;
        continue;
      }
      this.logger.warn({ kubernetesJob: name }, "deleting a running Kubernetes Job that no in-flight job accounts for");
      try {
        await this.options.client.call(`deleting Job ${this.namespace}/${name}`, () =>
          this.options.client.batch.deleteNamespacedJob({ name, namespace: this.namespace, propagationPolicy: "Background" }),
        );
      } catch (error) {
        if (statusOf(error) !== 404) this.logger.warn({ err: (error as Error).message, kubernetesJob: name }, "could not delete an orphaned Job");
      }
    }
    if (leftovers) this.logger.info({ finishedJobs: leftovers, keepFailedMs: this.options.keepFailedJobsMs ?? 0 }, "finished Kubernetes Jobs whose ends are stored: deleting them");
  }

  // ---- bookkeeping ------------------------------------------------------------------------

  private onJob(type: ChangeType, job: V1Job): void {
    if (type === "DELETED") this.cleanup.forget(job.metadata?.name ?? "");
    const run = this.byName.get(job.metadata?.name ?? "");
    if (run) this.schedule(run);
  }

  private onPod(type: ChangeType, pod: V1Pod): void {
    const run = this.byName.get(jobNameOfPod(pod));
    if (!run) return;
    if (pod.metadata?.uid) {
      run.pods.set(pod.metadata.uid, pod);
      if (type === "DELETED") run.deletedPods.add(pod.metadata.uid);
    }
    this.schedule(run);
  }

  private register(job: JobRun, workload: Workload | undefined, state: { seen: boolean; runningReported: boolean; cancelRequested: boolean }): Run {
    const name = this.jobName(job);
    const previous = this.runs.get(job.id);
    if (previous) this.unregister(previous);
    const run: Run = {
      job,
      cancelRequested: state.cancelRequested,
      name,
      workload,
      seen: state.seen,
      gone: false,
      pods: new Map(),
      deletedPods: new Set(),
      followers: new Map(),
      runningReported: state.runningReported,
      filesReady: false,
      cancelling: false,
      ended: false,
      failures: 0,
    };
    for (const pod of this.tracker.pods.items.values()) {
      if (jobNameOfPod(pod) === name && pod.metadata?.uid) run.pods.set(pod.metadata.uid, pod);
    }
    this.runs.set(job.id, run);
    this.byName.set(name, run);
    return run;
  }

  private unregister(run: Run): void {
    run.ended = true;
    this.release(run);
    if (this.runs.get(run.job.id) === run) this.runs.delete(run.job.id);
    if (this.byName.get(run.name) === run) this.byName.delete(run.name);
  }

  /** Its timers and log streams. */
  private release(run: Run): void {
    clearTimeout(run.timer);
    clearTimeout(run.deadlineTimer);
    for (const follower of run.followers.values()) follower.stop();
  }

  private podsOf(run: Run, kjob: V1Job): V1Pod[] {
    const uid = kjob.metadata?.uid;
    return [...run.pods.values()].filter((pod) => !uid || !pod.metadata?.ownerReferences?.length || pod.metadata.ownerReferences.some((ref) => ref.uid === uid));
  }

  private latestPod(run: Run): V1Pod | undefined {
    const finishedAt = (pod: V1Pod) => timeMs(terminatedState(pod)?.finishedAt);
    return [...run.pods.values()].sort((a, b) => finishedAt(b) - finishedAt(a))[0];
  }

  private placement(run: Run, pod?: V1Pod): Placement {
    const placement: Placement = {
      runtime: "kubernetes",
      location: `${this.namespace}/${run.name}`,
      namespace: this.namespace,
      kubernetesJobName: run.name,
    };
    const node = pod?.spec?.nodeName;
    if (node) placement.host = node;
    return placement;
  }

  private jobName(job: JobRun): string {
    return kubernetesJobName(job.id, job.attempt, job.type);
  }

  private buildInput(job: JobRun, workload: Workload): JobBuildInput {
    return { job, workload, hints: workload.kubernetes, defaultResources: workload.defaultResources };
  }

  private tryWorkload(job: InFlightRun): Workload | undefined {
    try {
      return rebuiltWorkload(job);
    } catch (error) {
      this.logger.warn({ err: (error as Error).message, jobId: job.id }, "could not rebuild the workload of an adopted job");
      return undefined;
    }
  }
}

/** The workload of a run launched before a restart, built again by its owner. */
function rebuiltWorkload(job: InFlightRun): Workload {
  if (!job.workload) throw new Error("no workload was given for it");
  return job.workload();
}

/** A run that exited 0 with its result in the termination message: nothing to read from its log. */
function carriesResult(exitCode: number | undefined, message: string | undefined): boolean {
  return exitCode === 0 && message !== undefined && isJsonObject(message);
}

function jobNameOfPod(pod: V1Pod): string {
  return pod.metadata?.labels?.[JOB_NAME_LABEL] ?? pod.metadata?.ownerReferences?.find((ref) => ref.kind === "Job")?.name ?? "";
}

