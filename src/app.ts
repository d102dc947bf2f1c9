import { join } from "node:path";
import type { Logger } from "pino";
import { jobSchedulerService } from "./api/job-scheduler-service.js";
import { RpcInstrumentation } from "./api/rpc.js";
import { outboxService } from "./api/outbox-service.js";
import { scheduleService } from "./api/schedule-service.js";
import { setServing, startGrpcServer, stopGrpcServer } from "./api/server.js";
import type { Config } from "./config.js";
import { systemClock, type Clock } from "./dispatch/clock.js";
import { CallbackDelivery, DEFAULT_CALLBACK_DELIVERY } from "./dispatch/callback-delivery.js";
import { CallbackMetrics } from "./dispatch/callback-metrics.js";
import { Dispatcher } from "./dispatch/dispatcher.js";
import { LimitsStore } from "./dispatch/limits-store.js";
import { JobLifecycle } from "./dispatch/lifecycle.js";
import { loadDeclaredSchedules } from "./dispatch/schedules/declared.js";
import { ScheduleMetrics } from "./dispatch/schedules/metrics.js";
import { Scheduler } from "./dispatch/schedules/scheduler.js";
import { builtinRegistry } from "./jobs/builtin.js";
import { k6OptionsFromConfig } from "./jobs/k6/options.js";
import { createHubReporting, hubJobOptions, roundTypeLimits } from "./hub/reporting.js";
import { JobEvents } from "./jobs/job-events.js";
import { closeServer, startHealthServer, startMetricsServer } from "./observability/http-servers.js";
import { Metrics } from "./observability/metrics.js";
import { LocalRuntime } from "./runtime/local/local-runtime.js";
import type { Runtime } from "./runtime/runtime.js";
import { openStore } from "./store/open-store.js";

export interface RunningApp {
  grpcPort: number;
  httpPort: number;
  metricsPort: number;
  /** Graceful stop: stop accepting, let runs finish or hand them back, close the store. */
  stop(): Promise<void>;
}

export interface AppOptions {
  /** Tests drive dispatching and schedules with a manual clock. */
  clock?: Clock;
}

/** Wires the service together and starts it; main.ts and the tests both use this. */
export async function startApp(config: Config, logger: Logger, options: AppOptions = {}): Promise<RunningApp> {
  const clock = options.clock ?? systemClock;
  const declaredSchedules = config.SCHEDULES_FILE ? loadDeclaredSchedules(config.SCHEDULES_FILE) : [];
  const store = await openStore(config);
  const registry = builtinRegistry({ ...hubJobOptions(config), k6: k6OptionsFromConfig(config) });
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
  const lifecycle = new JobLifecycle(store, registry, runtime, events, logger.child({ component: "lifecycle" }), clock);
  const limits = new LimitsStore(store, {
    maxRunning: config.MAX_RUNNING_JOBS,
    maxRunningPerType: { ...roundTypeLimits(config), ...config.MAX_RUNNING_PER_TYPE },
    maxRunningPerKey: config.MAX_RUNNING_PER_KEY,
    maxRunningPerKeyOverrides: {},
  });
  const dispatcher = new Dispatcher(
    store, registry, runtime, lifecycle, limits,
    { pollIntervalMs: config.DISPATCH_POLL_INTERVAL, clock },
    logger.child({ component: "dispatcher" }),
  );
  const metrics = new Metrics(store, events, () => dispatcher.state(), clock);
  dispatcher.observe(metrics);
  // A run that ends frees a slot; a job back in the queue may be admissible.
  events.subscribeAll(({ job }) => {
    if (job.state !== "STARTING" && job.state !== "RUNNING") dispatcher.wake();
  });

  const hub = createHubReporting({ config, store, registry, lifecycle, events, metricsRegistry: metrics.registry, clock, logger });

  const scheduler = new Scheduler({
    store, registry, lifecycle, dispatcher, clock, logger: logger.child({ component: "scheduler" }),
    defaultQueueTimeoutMs: config.DEFAULT_QUEUE_TIMEOUT, observer: new ScheduleMetrics(metrics.registry),
    fanOut: hub.fanOut,
  });

  // Completion callbacks leave through the outbox, written with the job's end (callback-outbox.ts).
  const callbacks = new CallbackDelivery(
    store.outbox, DEFAULT_CALLBACK_DELIVERY, logger.child({ component: "callback-delivery" }), clock, new CallbackMetrics(metrics.registry, store.outbox),
  );
  events.subscribeAll(({ job }) => {
    if (job.state === "SUCCEEDED") callbacks.wake();
  });

  await lifecycle.recover();
  // Declared schedules are checked here; a bad SCHEDULES_FILE stops the start-up.
  const teamSchedules = hub.defaultSchedules.filter((d) => !declaredSchedules.some((s) => s.name === d.name));
  await scheduler.start([...declaredSchedules, ...teamSchedules]).catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  await dispatcher.start();
  hub.start();
  callbacks.start();

  const rpc = new RpcInstrumentation(logger, metrics);
  const service = jobSchedulerService(
    { store, registry, lifecycle, dispatcher, events, cancelWaitMs: config.CANCEL_WAIT, defaultQueueTimeoutMs: config.DEFAULT_QUEUE_TIMEOUT, maxScheduleHorizonMs: config.MAX_SCHEDULE_HORIZON, clock },
    rpc,
    scheduleService(scheduler, rpc),
    outboxService(rpc, { outbox: store.outbox, delivery: { wake: () => { hub.delivery?.wake(); callbacks.wake(); } }, clock }),
  );
  const grpc = await startGrpcServer(service, config.GRPC_HOST, config.GRPC_PORT);
  let stopping = false;
  const health = await startHealthServer(config.HTTP_PORT, config.HTTP_HOST, {
    async check() {
      if (stopping) return "shutting down";
      await store.ping();
      return null;
    },
    notes: () => [hub.readinessNote()].filter((note): note is string => note !== null),
  });
  const metricsServer = await startMetricsServer(config.METRICS_PORT, config.HTTP_HOST, metrics.registry);
  setServing(grpc.health, true);
  logger.info(
    { grpcPort: grpc.port, httpPort: health.port, metricsPort: metricsServer.port, store: store.kind, runtime: runtime.name },
    "jobscheduler ready",
  );

  return {
    grpcPort: grpc.port,
    httpPort: health.port,
    metricsPort: metricsServer.port,
    async stop() {
      if (stopping) return;
      stopping = true;
      logger.info("shutting down");
      setServing(grpc.health, false);
      await stopGrpcServer(grpc.server, 2000);
      await scheduler.stop();
      await dispatcher.stop();
      await runtime.shutdown(config.SHUTDOWN_TIMEOUT);
      await hub.stop();
      await callbacks.stop();
      await Promise.all([closeServer(health.server), closeServer(metricsServer.server)]);
      await store.close();
      logger.info("stopped");
    },
  };
}
