import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Clock } from "../dispatch/clock.js";
import type { AdmissionObserver } from "../dispatch/dispatcher.js";
import type { JobRecord } from "../jobs/job.js";
import type { JobEvents } from "../jobs/job-events.js";
import type { JobStore } from "../store/store.js";
import { RpcLatencyHistogram } from "./rpc-latency.js";

/** The service's Prometheus metrics; one instance per process (tests may make several). */
export class Metrics implements AdmissionObserver {
  readonly registry = new Registry();
  private readonly rpcDuration = new RpcLatencyHistogram(
    "jobscheduler_grpc_server_handling_seconds",
    "Time to handle a gRPC request, by method and status code.",
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    this.registry,
  );
  private readonly transitions = new Counter({
    name: "jobscheduler_job_transitions_total",
    help: "Job state transitions, by job type, new state and reason.",
    labelNames: ["type", "state", "reason"] as const,
    registers: [this.registry],
  });
  private readonly runDuration = new Histogram({
    name: "jobscheduler_job_run_duration_seconds",
    help: "Run time of finished jobs (start to end), by job type and final state.",
    labelNames: ["type", "state"] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: "jobscheduler_job_queue_wait_seconds",
    help: "Time from creation to start, by job type.",
    labelNames: ["type"] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900],
    registers: [this.registry],
  });

  private readonly admissionWait = new Histogram({
    name: "jobscheduler_admission_wait_seconds",
    help: "Time a job waited in the queue after it became due, until admitted, by job type.",
    labelNames: ["type"] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
    registers: [this.registry],
  });
  private readonly passes = new Counter({
    name: "jobscheduler_dispatch_passes_total",
    help: "Admission passes the dispatcher completed (each read the due queue, or found dispatching paused).",
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: "jobscheduler_job_retries_total",
    help: "Attempts re-queued after a retryable failure, by job type and the failure's reason.",
    labelNames: ["type", "reason"] as const,
    registers: [this.registry],
  });

  constructor(store: JobStore, events: JobEvents, dispatching: () => { paused: boolean; running: number }, clock: Clock) {
    collectDefaultMetrics({ register: this.registry, prefix: "jobscheduler_" });
    new Gauge({
      name: "jobscheduler_jobs",
      help: "Jobs in the store, by job type and state.",
      labelNames: ["type", "state"] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const { type, state, count } of await store.countByTypeAndState()) this.set({ type, state }, count);
      },
    });
    new Gauge({
      name: "jobscheduler_queue_depth",
      help: "QUEUED jobs by job type and what they wait for (DUE, DELAYED, RETRY_BACKOFF).",
      labelNames: ["type", "reason"] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const { type, wait, count } of await store.queuedCounts(clock.now())) this.set({ type, reason: wait }, count);
      },
    });
    new Gauge({
      name: "jobscheduler_thread_heap_bytes",
      help: "V8 heap of the service's worker threads (the main thread's is nodejs_heap_*), by thread and kind (used, total, external).",
      labelNames: ["thread", "kind"] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const { thread, used, total, external } of (await store.threadHeaps?.()) ?? []) {
          this.set({ thread, kind: "used" }, used);
          this.set({ thread, kind: "total" }, total);
          this.set({ thread, kind: "external" }, external);
        }
      },
    });
    new Gauge({
      name: "jobscheduler_dispatch_paused",
      help: "1 while dispatching is paused.",
      registers: [this.registry],
      collect() {
        this.set(dispatching().paused ? 1 : 0);
      },
    });
    new Gauge({
      name: "jobscheduler_runs_active",
      help: "Runs launched and not yet finished.",
      registers: [this.registry],
      collect() {
        this.set(dispatching().running);
      },
    });
    events.subscribeAll(({ job, event }) => {
      this.transitions.inc({ type: job.type, state: event.state, reason: event.reason });
      if (event.state === "QUEUED" && event.attempt > 1) this.retries.inc({ type: job.type, reason: event.reason });
      if (event.state === "RUNNING" && job.startedAt !== null) this.queueWait.observe({ type: job.type }, (job.startedAt - job.createdAt) / 1000);
      if (job.finishedAt !== null && job.startedAt !== null && ["SUCCEEDED", "FAILED", "CANCELLED"].includes(event.state)) {
        this.runDuration.observe({ type: job.type, state: event.state }, (job.finishedAt - job.startedAt) / 1000);
      }
    });
  }

  admitted(job: JobRecord, waitedMs: number): void {
    this.admissionWait.observe({ type: job.type }, Math.max(0, waitedMs) / 1000);
  }

  passed(): void {
    this.passes.inc();
  }

  /** Starts timing a request; call the result with the status code name when it ends. */
  rpcStarted(method: string): (code: string) => void {
    const started = performance.now();
    return (code) => this.rpcDuration.observe(method, code, (performance.now() - started) / 1000);
  }
}
