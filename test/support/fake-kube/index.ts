// A fake Kubernetes API server for tests: real HTTP on 127.0.0.1 that @kubernetes/client-node
// talks to unchanged, with a job controller and kubelet simulation, RBAC from k8s/rbac.yaml, and
// fault injection. Start one with startFakeKube(); see FakeKube for the test controls.
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";
import { seededRandom } from "../rng.js";
import { KubeConfig } from "@kubernetes/client-node";
import { setCondition } from "./conditions.js";
import { LABEL_JOB_NAME, defaultJob } from "./defaults.js";
import { Faults } from "./faults.js";
import { GarbageCollector, type DeleteOptions, type DeleteResult } from "./garbage-collector.js";
import type { HandlerContext } from "./handlers.js";
import { JobController } from "./job-controller.js";
import { Kubelet } from "./kubelet.js";
import { DEFAULT_FLOW_CONTROL, DEFAULT_LATENCY, DEFAULT_WATCH_RESET_MS, FlowControl, type FlowControlSettings, type Latency } from "./load.js";
import { PodScripts, type OutcomeSource, type PodMatcher, type PodOutcome, type ScriptHandle } from "./pod-outcomes.js";
import { MASTERS_GROUP, RbacAuthorizer, serviceAccountUser, type Grant, type PolicyRule, type UserInfo } from "./rbac.js";
import { Scheduler } from "./scheduler.js";
import { ApiServer, type RequestRecord } from "./server.js";
import { ObjectStore, type NewObject, type StoreEvent } from "./store.js";
import { DEFAULT_TIMING, FAST_TIMING, apiSeconds, type Timing } from "./timing.js";
import { TtlAfterFinished } from "./ttl-after-finished.js";
import { asPod, kubeTime, type JobCondition, type Kind, type KubeObject, type StoredJob, type StoredPod } from "./types.js";
import { WatchHub } from "./watch.js";

export { outcome } from "./pod-outcomes.js";
export type { OutcomeSource, PodMatcher, PodOutcome, ScriptHandle } from "./pod-outcomes.js";
export type { FaultHandle, Faults, RequestMatch } from "./faults.js";
export type { Grant, PolicyRule } from "./rbac.js";
export type { RequestRecord } from "./server.js";
export type { DeleteOptions, DeleteResult } from "./garbage-collector.js";
export type { StoreEvent } from "./store.js";
export type { Timing } from "./timing.js";
export { DEFAULT_TIMING, FAST_TIMING } from "./timing.js";
export type { FlowControl, FlowControlSettings, Latency } from "./load.js";
export type { Kind, KubeObject, StoredConfigMap, StoredJob, StoredLease, StoredPod } from "./types.js";
export { COMPLETION_INDEX, LABEL_CONTROLLER_UID, LABEL_JOB_NAME } from "./defaults.js";
export { NODE_NAME } from "./kubelet.js";

/** k8s/rbac.yaml of this repository. */
export const DEFAULT_RBAC_MANIFEST = fileURLToPath(new URL("../../../k8s/rbac.yaml", import.meta.url));

export interface FakeKubeOptions {
  /** Where the Role comes from (default: k8s/rbac.yaml); false turns RBAC off (everything allowed). */
  rbac?: false | { manifestPath?: string; yaml?: string };
  /** The identity the default token authenticates as (default jobscheduler/jobscheduler). */
  serviceAccount?: { namespace: string; name: string };
  /** When given, only these namespaces exist: creating elsewhere answers 404. Default: any namespace exists. */
  namespaces?: string[];
  /** The fast mode for unit tests: FAST_TIMING instead of the realistic DEFAULT_TIMING (timing still overrides). */
  fast?: boolean;
  timing?: Partial<Timing>;
  /** How many change events watches can resume from (default 1000). */
  historySize?: number;
  /** Reject unknown fields (400) even when the client does not send fieldValidation=Strict. */
  strictFields?: boolean;
  /** What pods do when no script matches (default: succeed, no termination message). */
  defaultOutcome?: OutcomeSource;
  /** Seed for pod name suffixes and errorRate faults, for reproducible runs. */
  seed?: number;
  /**
   * A quiet server: no latency, no flow control, no watch resets (unless given below). By
   * default the fake behaves like a loaded API server behind a proxy, as a real one can.
   */
  quiet?: boolean;
  /** Answer latency: a few ms per request, tens for pods/log (DEFAULT_LATENCY); false: none. */
  latency?: false | Partial<Latency>;
  /** APF-like throttling per user: 429 + Retry-After past the rate (DEFAULT_FLOW_CONTROL); false: none. */
  flowControl?: false | Partial<FlowControlSettings>;
  /** A proxy resets each watch connection this long after it opened (DEFAULT_WATCH_RESET_MS); 0: never. */
  watchResetMs?: number;
}

export interface KubeConfigOptions {
  /** Authenticate as a cluster admin (system:masters), bypassing RBAC. */
  admin?: boolean;
  /** Any token; unknown tokens get 401. */
  token?: string;
  /** The context's default namespace. */
  namespace?: string;
}

export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const fake = new FakeKube(opts);
  await fake.listen();
  return fake;
}

export class FakeKube {
  /** The token kubeConfig() uses by default: the service account's. */
  readonly token = "fake-kube-serviceaccount-token";
  readonly adminToken = "fake-kube-admin-token";
  /** The service account user the default token authenticates as. */
  readonly user: UserInfo;
  readonly timing: Timing;
  readonly faults: Faults;
  /** "change" (StoreEvent) on every write; "arrival" (RequestRecord) as a request arrives, before anything is done with it; "request" when its response ends. */
  readonly events = new EventEmitter();
  /** Every request received, in arrival order. */
  readonly requests: RequestRecord[] = [];
  /** Exceptions inside the fake itself (a bug in the fake, not in the code under test). */
  readonly internalErrors: unknown[] = [];
  /** Answer latency; change its fields, or set undefined for none. */
  latency: Latency | undefined;
  /** The APF-like throttle (configure() changes the rate; `rejected` counts 429s); undefined: none. */
  flowControl: FlowControl | undefined;
  /** Watch connections are reset this long after they open; 0: never. Applies to watches opened later. */
  watchResetMs: number;

  private portNumber = 0;
  private authorizer: RbacAuthorizer | undefined;
  private readonly store: ObjectStore;
  private readonly scheduler: Scheduler;
  private readonly scripts: PodScripts;
  private readonly kubelet: Kubelet;
  private readonly gc: GarbageCollector;
  private readonly watches: WatchHub;
  private readonly server: ApiServer;
  private readonly stops: Array<() => void> = [];

  constructor(private readonly opts: FakeKubeOptions = {}) {
    const random = opts.seed === undefined ? Math.random : seededRandom(opts.seed);
    const onError = (err: unknown): void => this.recordInternalError(err);
    const sa = opts.serviceAccount ?? { namespace: "jobscheduler", name: "jobscheduler" };
    this.user = serviceAccountUser(sa.namespace, sa.name);
    this.timing = { ...(opts.fast ? FAST_TIMING : DEFAULT_TIMING), ...opts.timing };
    const quiet = opts.quiet === true;
    this.latency = opts.latency === false || (quiet && opts.latency === undefined) ? undefined : { ...DEFAULT_LATENCY, ...opts.latency };
    this.flowControl =
      opts.flowControl === false || (quiet && opts.flowControl === undefined) ? undefined : new FlowControl({ ...DEFAULT_FLOW_CONTROL, ...opts.flowControl });
    this.watchResetMs = opts.watchResetMs ?? (quiet ? 0 : DEFAULT_WATCH_RESET_MS);
    this.events.setMaxListeners(200);
    this.faults = new Faults(random);
    this.store = new ObjectStore(opts.historySize ?? 1000, 1000, onError, apiSeconds(this.timing, Math.max(this.timing.watchHistorySeconds, this.timing.compactionSeconds)));
    this.scheduler = new Scheduler(onError);
    this.scripts = new PodScripts(opts.defaultOutcome);
    this.gc = new GarbageCollector(this.store, this.scheduler, this.timing);
    this.kubelet = new Kubelet(this.store, this.scheduler, this.scripts, this.timing);
    const jobs = new JobController(this.store, this.scheduler, this.gc, this.timing, random);
    const ttl = new TtlAfterFinished(this.store, this.scheduler, this.gc, this.timing);
    this.watches = new WatchHub(this.store, this.faults, this.timing, () => this.watchResetMs);
    this.stops.push(this.gc.start(), this.kubelet.start(), jobs.start(), ttl.start());
    this.stops.push(this.store.subscribe((event) => this.events.emit("change", event)));

    if (opts.rbac !== false) {
      this.authorizer = opts.rbac?.yaml !== undefined
        ? RbacAuthorizer.fromYaml(opts.rbac.yaml)
        : RbacAuthorizer.fromFile(opts.rbac?.manifestPath ?? DEFAULT_RBAC_MANIFEST);
    }

    const ctx: HandlerContext = {
      store: this.store,
      gc: this.gc,
      kubelet: this.kubelet,
      watches: this.watches,
      timing: this.timing,
      random,
      namespaceExists: (ns) => !opts.namespaces || opts.namespaces.includes(ns),
      strictFields: opts.strictFields ?? false,
    };
    const admin: UserInfo = { name: "kubernetes-admin", groups: [MASTERS_GROUP, "system:authenticated"] };
    this.server = new ApiServer({
      ctx,
      faults: this.faults,
      latency: () => this.latency,
      flowControl: () => this.flowControl,
      authorizer: () => this.authorizer,
      userForToken: (token) => (token === this.token ? this.user : token === this.adminToken ? admin : undefined),
      onRequest: (record) => {
        this.requests.push(record);
        this.events.emit("arrival", record);
      },
      onResponse: (record) => this.events.emit("request", record),
      onInternalError: onError,
    });
  }

  /** @internal Use startFakeKube(). */
  async listen(): Promise<void> {
    this.portNumber = await this.server.listen();
  }

  get port(): number {
    return this.portNumber;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  /** A client-node KubeConfig for this server (the service account's token unless told otherwise). */
  kubeConfig(opts: KubeConfigOptions = {}): KubeConfig {
    const kc = new KubeConfig();
    const userName = opts.admin ? "admin" : "jobscheduler";
    kc.loadFromOptions({
      clusters: [{ name: "fake-kube", server: this.url, skipTLSVerify: true }],
      users: [{ name: userName, token: opts.token ?? (opts.admin ? this.adminToken : this.token) }],
      contexts: [{ name: "fake-kube", cluster: "fake-kube", user: userName, namespace: opts.namespace }],
      currentContext: "fake-kube",
    });
    return kc;
  }

  async close(): Promise<void> {
    this.scheduler.close();
    this.watches.dropAll(true);
    for (const stop of this.stops) stop();
    await this.server.close();
  }

  // ---- objects -------------------------------------------------------------------------------

  /** The current resourceVersion (the global counter). */
  get resourceVersion(): number {
    return this.store.resourceVersion;
  }

  get<T = KubeObject>(kind: Kind, namespace: string, name: string): T | undefined {
    return this.store.get(kind, namespace, name) as T | undefined;
  }

  list<T = KubeObject>(kind: Kind, namespace?: string): T[] {
    return this.store.list(kind, namespace) as T[];
  }

  /** The pods the job controller created for a Job. */
  podsOf(namespace: string, jobName: string): StoredPod[] {
    return this.store.select("Pod", namespace, (p) => p.metadata.labels?.[LABEL_JOB_NAME] === jobName).map(asPod);
  }

  /**
   * Stores an object directly, skipping validation and RBAC. A Job gets the API defaults (selector,
   * controller labels) and is run by the controller unless its status already says it finished.
   */
  seed(obj: NewObject): KubeObject {
    const copy = structuredClone(obj);
    if (copy.kind === "Job") {
      copy.metadata.uid ??= randomUUID();
      defaultJob(copy as KubeObject);
    }
    return this.store.create(copy);
  }

  /** Changes a stored object in place (bumps its resourceVersion, notifies watches). */
  mutate(kind: Kind, namespace: string, name: string, change: (obj: KubeObject) => void): KubeObject | undefined {
    return this.store.mutate(kind, namespace, name, change);
  }

  /** Deletes as the API would (propagation, graceful pods), without RBAC. */
  delete(kind: Kind, namespace: string, name: string, opts: DeleteOptions = {}): DeleteResult {
    return this.gc.delete(kind, namespace, name, opts);
  }

  /** Sets a Job condition directly, e.g. to fake a Job that finished while the service was down. */
  setJobCondition(namespace: string, name: string, condition: { type: string; status?: string; reason?: string; message?: string }): void {
    this.store.mutate("Job", namespace, name, (obj) => {
      const job = obj as unknown as StoredJob;
      const status = (job.status ??= {});
      status.conditions = setCondition<JobCondition>(status.conditions, { status: "True", lastProbeTime: kubeTime(), ...condition });
      if (condition.type === "Complete" && (condition.status ?? "True") === "True") status.completionTime ??= kubeTime();
    });
  }

  // ---- pods ----------------------------------------------------------------------------------

  /** Scripts what matching pods do; the latest matching script wins. */
  scriptPods(matcher: PodMatcher, source: OutcomeSource): ScriptHandle {
    return this.scripts.script(matcher, source);
  }

  setDefaultOutcome(source: OutcomeSource): void {
    this.scripts.setDefault(source);
  }

  /** Ends a running pod (e.g. one scripted to hang) now, with a succeed/fail/oomKilled outcome. */
  completePod(namespace: string, name: string, o: PodOutcome): void {
    const pod = this.store.get("Pod", namespace, name);
    if (!pod) throw new Error(`fake-kube: no pod ${namespace}/${name}`);
    this.kubelet.finish(pod.metadata.uid, o);
  }

  /** Lets a pod kept Pending as unschedulable be scheduled now (capacity appeared); it then runs with the outcome. */
  schedulePod(namespace: string, name: string, o: PodOutcome): void {
    const pod = this.store.get("Pod", namespace, name);
    if (!pod) throw new Error(`fake-kube: no pod ${namespace}/${name}`);
    this.kubelet.bind(pod.metadata.uid, o);
  }

  /** Adds text to what pods/log returns for the pod. */
  appendPodLog(namespace: string, name: string, text: string): void {
    const pod = this.store.get("Pod", namespace, name);
    if (pod) this.kubelet.appendLog(pod.metadata.uid, text);
  }

  /** Evicts a pod as the Eviction API would: condition DisruptionTarget=True, then graceful deletion. */
  evictPod(namespace: string, name: string): DeleteResult {
    this.store.mutate("Pod", namespace, name, (obj) => {
      const pod = asPod(obj);
      pod.status ??= {};
      pod.status.conditions = setCondition(pod.status.conditions, {
        type: "DisruptionTarget",
        status: "True",
        reason: "EvictionByEvictionAPI",
        message: "Eviction API: evicting",
      });
    });
    return this.gc.delete("Pod", namespace, name);
  }

  // ---- RBAC ----------------------------------------------------------------------------------

  readonly rbac = {
    /** The rules of the Role bound to the service account. */
    rules: (namespace?: string): PolicyRule[] => this.requireAuthorizer().rules(this.user, namespace),
    /** Replaces those rules (e.g. the shipped ones minus one) for the rest of the test. */
    setRules: (rules: PolicyRule[], namespace?: string): void => this.requireAuthorizer().setRules(this.user, rules, namespace),
    /** Loads other manifests (multi-document YAML) in place of k8s/rbac.yaml. */
    load: (yaml: string): void => {
      this.authorizer = RbacAuthorizer.fromYaml(yaml);
    },
    /** Every literal (apiGroup, resource, verb) the bound rules grant. */
    grants: (): Grant[] => this.requireAuthorizer().grants(this.user),
    /** Grants no allowed request has used since start (or resetUsage): what a minimal Role would not list. */
    unusedGrants: (): Grant[] => this.requireAuthorizer().unusedGrants(this.user),
    resetUsage: (): void => this.requireAuthorizer().resetUsage(),
  };

  /** Shorthand for rbac.setRules. */
  setRole(rules: PolicyRule[], namespace?: string): void {
    this.rbac.setRules(rules, namespace);
  }

  // ---- faults and controls -------------------------------------------------------------------

  /** Ends every open watch: cuts the connections (default), or closes them cleanly like a server timeout. */
  dropWatches(opts: { graceful?: boolean } = {}): void {
    this.watches.dropAll(opts.graceful ?? false);
  }

  /** Compacts the event history: a watch resuming from any earlier resourceVersion gets 410 Expired. */
  compactHistory(): void {
    this.store.compact();
  }

  /** The oldest resourceVersion a watch can resume from now (older: 410); history ages out after timing.watchHistorySeconds. */
  get watchableFrom(): number {
    return this.store.oldestVersionWithin(apiSeconds(this.timing, this.timing.watchHistorySeconds));
  }

  /** The oldest resourceVersion a list can be read at now (Exact, continue tokens); older ones were compacted (timing.compactionSeconds). */
  get compactedTo(): number {
    return this.store.oldestVersionWithin(apiSeconds(this.timing, this.timing.compactionSeconds));
  }

  /** Sends a BOOKMARK now on every open watch that allows bookmarks. */
  sendBookmarks(): void {
    this.watches.bookmarkAll();
  }

  get openWatches(): number {
    return this.watches.openCount;
  }

  /** Watch connections the simulated proxy has reset so far. */
  get watchResets(): number {
    return this.watches.resets;
  }

  /** Freezes the job controller, kubelet, garbage collector and TTL controller (the API keeps answering). */
  pauseController(): void {
    this.scheduler.pause();
  }

  resumeController(): void {
    this.scheduler.resume();
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  // ---- waiting -------------------------------------------------------------------------------

  /** Resolves with the predicate's first truthy value, re-checked on every change; rejects after timeoutMs. */
  waitFor<T>(predicate: () => T | undefined | null | false, timeoutMs = 5000, what = "a condition"): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (): void => {
        settled = true;
        clearInterval(poll);
        clearTimeout(timer);
        this.events.off("change", check);
      };
      const check = (): void => {
        if (settled) return;
        try {
          const value = predicate();
          if (value) {
            finish();
            resolve(value);
          }
        } catch (err) {
          finish();
          reject(err);
        }
      };
      const poll = setInterval(check, 10);
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`fake-kube: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.events.on("change", check);
      check();
    });
  }

  /** Waits until the Job has the condition (status True) and resolves with the Job. */
  waitForJobCondition(namespace: string, name: string, type: string, timeoutMs = 5000): Promise<StoredJob> {
    return this.waitFor(
      () => {
        const job = this.get<StoredJob>("Job", namespace, name);
        return job?.status?.conditions?.some((c) => c.type === type && c.status === "True") ? job : undefined;
      },
      timeoutMs,
      `Job ${namespace}/${name} to have condition ${type}`,
    );
  }

  private requireAuthorizer(): RbacAuthorizer {
    if (!this.authorizer) throw new Error("fake-kube: RBAC is off (started with rbac: false)");
    return this.authorizer;
  }

  private recordInternalError(err: unknown): void {
    this.internalErrors.push(err);
    console.error("fake-kube internal error:", err);
  }
}

