import { join } from "node:path";
import type { Logger } from "pino";
import { apiKeyService } from "./api/api-key-service.js";
import { auditService } from "./api/audit-service.js";
import { loadDeclaredSchedules } from "./api/declared-schedules.js";
import { jobSchedulerService } from "./api/job-scheduler-service.js";
import { RpcInstrumentation } from "./api/rpc.js";
import { outboxService } from "./api/outbox-service.js";
import { scheduleService } from "./api/schedule-service.js";
import { protoJsonScheduleSpecs } from "./api/schedule-wire.js";
import { setServing, startGrpcServer, stopGrpcServer } from "./api/server.js";
import { QuotaAdmission } from "./auth/admission.js";
import { AuditLog } from "./auth/audit.js";
import { anonymousAuthenticator, CredentialAuthenticator, type Authenticator } from "./auth/authenticator.js";
import { ensureFirstAdminKey } from "./auth/bootstrap.js";
import { CallGuard } from "./auth/guard.js";
import { KeyDirectory } from "./auth/key-directory.js";
import { loadKeysFile } from "./auth/keys-file.js";
import { MappedCertificates } from "./auth/certificates.js";
import { reflectionGuard } from "./api/reflection-guard.js";
import { RotatingServerCredentials } from "./api/tls-credentials.js";
import type { Config } from "./config.js";
import { systemClock, type Clock } from "./dispatch/clock.js";
import { CallbackDelivery, DEFAULT_CALLBACK_DELIVERY } from "./dispatch/callback-delivery.js";
import { CallbackMetrics } from "./dispatch/callback-metrics.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import { LimitsStore } from "./dispatch/limits-store.js";
import { JobLifecycle } from "./dispatch/lifecycle.js";
import { ScheduleMetrics } from "./dispatch/schedules/metrics.js";
import { Scheduler } from "./dispatch/schedules/scheduler.js";
import { JobSchedulerService } from "./gen/jobscheduler/v1/jobscheduler.js";
import { builtinRegistry } from "./jobs/builtin.js";
import { EgressAdmission } from "./jobs/egress/admission.js";
import { systemResolver } from "./shared/egress/resolver.js";
import { policyFromConfig } from "./jobs/egress/settings.js";
import { k6OptionsFromConfig } from "./jobs/k6/options.js";
import { createHubReporting, hubJobOptions, roundTypeLimits } from "./hub/reporting.js";
import { JobEvents } from "./jobs/job-events.js";
import { closeServer, startHealthServer, startMetricsServer } from "./observability/http-servers.js";
import { Metrics } from "./observability/metrics.js";
import { LocalRuntime } from "./runtime/local/local-runtime.js";
import type { Runtime } from "./runtime/runtime.js";
import { openStore } from "./store/open-store.js";
import { FencedOutbox } from "./leadership/fenced-outbox.js";
import { LeaderWork } from "./leadership/leader-work.js";
import { createElection } from "./leadership/create-election.js";
import { leadershipMetrics } from "./leadership/metrics.js";
import { ReplicaEvents } from "./dispatch/replica-events.js";

export interface RunningApp {
  grpcPort: number;
  httpPort: number;
  metricsPort: number;
  /** Graceful stop: stop leading (release the lease), stop accepting, let runs finish or hand them over, close the store. */
  stop(): Promise<void>;
  /**
   * Resolves only when this replica lost its lease and its leader work did not stop within one
   * lease duration: the last resort, main.ts exits (75) and a supervisor restarts it. A step-down
   * that stops in time leaves the replica serving as a follower, campaigning again.
   */
  readonly leadershipLost: Promise<string>;
}

export interface AppOptions {
  /** Tests drive dispatching and schedules with a manual clock. */
  clock?: Clock;
}

/** Wires the service together and starts it; main.ts and the tests both use this. */
export async function startApp(config: Config, logger: Logger, options: AppOptions = {}): Promise<RunningApp> {
  const clock = options.clock ?? systemClock;
  const declaredSchedules = config.SCHEDULES_FILE ? loadDeclaredSchedules(config.SCHEDULES_FILE) : [];
  const declaredKeys = config.API_KEYS_FILE ? loadKeysFile(config.API_KEYS_FILE, clock.now()) : [];
  const store = await openStore(config);
  // Loaded only with the Kubernetes runtime (see below), which names the API server it talks to.
  const apiServers = config.RUNTIME === "kubernetes" ? (await import("./runtime/kubernetes/index.js")).kubernetesApiServers(config) : [];
  const egress = new EgressAdmission(policyFromConfig(config, apiServers), systemResolver(config.EGRESS_DNS_TIMEOUT));
  logger.info({ targetAllowlist: config.TARGET_ALLOWLIST, refusedRanges: egress.policy.refused.length }, "egress policy");
  const registry = builtinRegistry({ ...hubJobOptions(config), k6: k6OptionsFromConfig(config), egress: egress.policy });
  const events = new JobEvents();
  const runtime: Runtime = config.RUNTIME === "kubernetes"
    // Loaded only when chosen: @kubernetes/client-node alone holds ~27 MiB of heap and ~70 MiB of
    // resident memory, a third of the embedded default's footprint.
    ? (await import("./runtime/kubernetes/index.js")).createKubernetesRuntime(config, logger.child({ component: "kubernetes-runtime" }))
    : new LocalRuntime({
      collectorsDir: config.COLLECTORS_DIR,
      runsDir: join(config.DATA_DIR, "runs"),
      killGraceMs: config.KILL_GRACE_PERIOD,
      outputTailBytes: config.OUTPUT_TAIL_BYTES,
      passEnv: config.LOCAL_PASS_ENV,
      runNice: config.LOCAL_RUN_NICE,
      logger: logger.child({ component: "local-runtime" }),
    });
  // Who leads: the lease in PostgreSQL or Kubernetes; the SQLite file's single instance always does.
  let onLost: (reason: string) => void = () => undefined;
  const leadershipLost = new Promise<string>((resolve) => (onLost = resolve));
  const election = await createElection(config, store, {
    startedLeading: () => leaderWork.start(),
    // The replica steps down in-process: it goes on serving the API, and campaigns again once the
    // lost term's work has stopped. Work that does not stop within a lease duration (by then a
    // successor may lead) is beyond repair here: the process exits for its supervisor to restart.
    stoppedLeading: async (reason) => {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), config.LEADER_ELECTION_LEASE_DURATION)));
      const outcome = await Promise.race([leaderWork.abandon().then(() => "stopped" as const), bound]).finally(() => clearTimeout(timer));
      if (outcome === "late") {
        onLost(`${reason}; its leader work did not stop within ${config.LEADER_ELECTION_LEASE_DURATION} ms`);
        throw new Error("the lost term's leader work did not stop in time");
      }
    },
  }, logger.child({ component: "leadership" }));
  const term = election.term;
  const lifecycle = new JobLifecycle(store, registry, runtime, events, logger.child({ component: "lifecycle" }), clock, term);
  const limits = new LimitsStore(store, {
    maxRunning: config.MAX_RUNNING_JOBS,
    maxRunningPerType: { ...roundTypeLimits(config), ...config.MAX_RUNNING_PER_TYPE },
    maxRunningPerKey: config.MAX_RUNNING_PER_KEY,
    maxRunningPerKeyOverrides: {},
  });
  const dispatcher = new Dispatcher(
    store, registry, runtime, lifecycle, limits,
    { pollIntervalMs: config.DISPATCH_POLL_INTERVAL, clock, term },
    logger.child({ component: "dispatcher" }),
  );
  const metrics = new Metrics(store, events, () => dispatcher.state(), clock);
  dispatcher.observe(metrics);
  leadershipMetrics(metrics.registry, election.status);
  // A run that ends frees a slot; a job back in the queue may be admissible.
  events.subscribeAll(({ job }) => {
    if (job.state !== "STARTING" && job.state !== "RUNNING") dispatcher.wake();
  });

  // Outbox delivery marks are leader-only writes: they carry the term's epoch.
  const leaderOutbox = new FencedOutbox(store.outbox, term);
  const hub = createHubReporting({ config, store, registry, lifecycle, events, metricsRegistry: metrics.registry, clock, logger, outbox: leaderOutbox, egress });

  const scheduler = new Scheduler({
    store, registry, specs: protoJsonScheduleSpecs, lifecycle, dispatcher, clock, logger: logger.child({ component: "scheduler" }),
    defaultQueueTimeoutMs: config.DEFAULT_QUEUE_TIMEOUT, observer: new ScheduleMetrics(metrics.registry),
    fanOut: hub.fanOut, term, egress,
  });

  // Completion callbacks leave through the outbox, written with the job's end (callback-outbox.ts).
  const callbacks = new CallbackDelivery(
    leaderOutbox, DEFAULT_CALLBACK_DELIVERY, logger.child({ component: "callback-delivery" }), egress, clock, new CallbackMetrics(metrics.registry, store.outbox),
  );
  events.subscribeAll(({ job }) => {
    if (job.state === "SUCCEEDED") callbacks.wake();
  });

  // Declared schedules are checked at load; they are upserted by the leader as it starts firing.
  const teamSchedules = hub.defaultSchedules.filter((d) => !declaredSchedules.some((s) => s.name === d.name));
  // Only the leader recovers, dispatches, fires schedules, follows runs and delivers the outbox.
  const leaderWork = new LeaderWork({
    lifecycle, dispatcher, hub, callbacks, runtime,
    scheduler: { start: () => scheduler.start([...declaredSchedules, ...teamSchedules]), stop: () => scheduler.stop() },
    // A replica of several (PostgreSQL) leaves its runs to the next leader; the single instance stops them.
    handOverRuns: election.kind !== "sole",
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT,
  }, logger.child({ component: "leader" }));

  // What the other replicas commit (PostgreSQL): followed jobs' events, wake-ups, cancels, settings.
  const replicaEvents = new ReplicaEvents(store, events, {
    jobChanged: () => {
      if (term.valid()) dispatcher.wake();
    },
    cancelRequested: (jobId) => {
      if (term.valid()) void lifecycle.stopRequested(jobId).catch((error: unknown) => logger.error({ err: error, jobId }, "stopping a run cancelled on another replica failed"));
    },
    schedulesChanged: () => {
      if (term.valid()) scheduler.wake();
    },
    settingsChanged: () => void dispatcher.reload().catch((error: unknown) => logger.error({ err: error }, "reading changed dispatch settings failed")),
  }, logger.child({ component: "replica-events" }));
  // Every replica answers with the stored pause and limits, leader or not.
  await dispatcher.reload();
  await replicaEvents.start();

  // Authentication, authorization and audit (src/auth/): every RPC passes the guard in rpc.ts.
  const authLogger = logger.child({ component: "auth" });
  const keys = new KeyDirectory(store, declaredKeys, authLogger);
  const tls = config.TLS_CERT_FILE && config.TLS_KEY_FILE
    ? new RotatingServerCredentials(
      { certFile: config.TLS_CERT_FILE, keyFile: config.TLS_KEY_FILE, clientCaFile: config.TLS_CLIENT_CA_FILE },
      config.TLS_RELOAD_INTERVAL,
      logger.child({ component: "tls" }),
    )
    : undefined;
  let authenticator: Authenticator = anonymousAuthenticator;
  if (config.AUTH_ENABLED) {
    await ensureFirstAdminKey(store, declaredKeys.length, config.DATA_DIR, clock.now(), authLogger);
    authenticator = new CredentialAuthenticator(keys, clock, config.TLS_CLIENT_CA_FILE ? new MappedCertificates(config.TLS_CLIENT_ROLES) : null);
  } else {
    authLogger.warn("authentication is off (AUTH_ENABLED=false): every caller is an anonymous admin");
  }
  const audit = new AuditLog(store, logger.child({ component: "audit" }), clock, config.AUDIT_RETENTION);
  const guard = new CallGuard({
    authenticator,
    recorder: audit,
    admission: new QuotaAdmission({ perKey: config.QUOTA_PER_KEY, perTeam: config.QUOTA_PER_TEAM, counts: store, clock, k6MaxVus: config.K6_MAX_VUS }),
    methods: Object.values(JobSchedulerService).map((method) => method.path.split("/").pop()!),
    lookups: {
      getJob: (id) => store.getJob(id),
      getSchedule: (id) => store.getSchedule(id),
      getOutboxItem: (id) => store.outbox.get(id),
      keyTeam: async (id) => {
        const key = await keys.find(id);
        return key ? key.team : undefined;
      },
    },
  });
  keys.start();
  audit.start();

  const rpc = new RpcInstrumentation(logger, metrics, guard);
  const service = jobSchedulerService(
    { store, registry, lifecycle, dispatcher, events, cancelWaitMs: config.CANCEL_WAIT, defaultQueueTimeoutMs: config.DEFAULT_QUEUE_TIMEOUT, maxScheduleHorizonMs: config.MAX_SCHEDULE_HORIZON, clock, egress,
      leadership: () => {
        const status = election.status();
        return { leader: status.holder, leading: status.role === "leader" };
      } },
    rpc,
    scheduleService(scheduler, rpc),
    outboxService(rpc, { outbox: store.outbox, delivery: { wake: () => { hub.delivery?.wake(); callbacks.wake(); } }, clock }),
    { ...apiKeyService(rpc, { store, keys, clock }), ...auditService(rpc, { store }) },
  );
  const grpc = await startGrpcServer(service, config.GRPC_HOST, config.GRPC_PORT, {
    credentials: tls,
    interceptors: config.AUTH_ENABLED && !config.AUTH_REFLECTION_PUBLIC ? [reflectionGuard(authenticator)] : [],
  });
  let stopping = false;
  const health = await startHealthServer(config.HTTP_PORT, config.HTTP_HOST, {
    async check() {
      if (stopping) return "shutting down";
      await store.ping();
      return null;
    },
    notes: () => [hub.readinessNote()].filter((note): note is string => note !== null),
  });
  tls?.start();
  const metricsServer = await startMetricsServer(config.METRICS_PORT, config.HTTP_HOST, metrics.registry);
  setServing(grpc.health, true);
  // Ports first: a replica that cannot serve never touches runs. Then the first try for the lease;
  // one that wins recovers before it says it is ready (a restarted single instance has its runs back).
  try {
    await election.start();
  } catch (error) {
    await leaderWork.stop().catch(() => undefined);
    await election.release().catch(() => undefined);
    await replicaEvents.stop();
    await Promise.all([stopGrpcServer(grpc.server, 0), closeServer(health.server), closeServer(metricsServer.server)]);
    await store.close();
    throw error;
  }
  logger.info(
    {
      grpcPort: grpc.port, httpPort: health.port, metricsPort: metricsServer.port, store: store.kind, runtime: runtime.name,
      role: election.status().role, leader: election.status().holder, lease: election.kind,
    },
    "jobscheduler ready",
  );

  return {
    grpcPort: grpc.port,
    httpPort: health.port,
    metricsPort: metricsServer.port,
    leadershipLost,
    async stop() {
      if (stopping) return;
      stopping = true;
      logger.info("shutting down");
      setServing(grpc.health, false);
      if (election.kind === "sole") {
        await stopGrpcServer(grpc.server, 2000);
        await leaderWork.stop();
      } else {
        // The leader finishes its admissions, hands its runs over and releases the lease first, so a
        // follower leads at once (told by NOTIFY on PostgreSQL); the API is served meanwhile.
        await leaderWork.stop();
        await election.release();
        await stopGrpcServer(grpc.server, 2000);
      }
      tls?.stop();
      await keys.stop();
      await audit.stop();
      await Promise.all([closeServer(health.server), closeServer(metricsServer.server)]);
      await replicaEvents.stop();
      await store.close();
      logger.info("stopped");
    },
  };
}
