// What a runtime is given for one attempt of a job: the handler's workload with what the runtime
// needs of the job type as a whole (its Kubernetes hints, its default resources), and, for an
// attempt found in flight at start-up, the way to build that workload again.
import type { InFlightRun, Workload } from "../runtime/runtime.js";
import type { JobHandler } from "./handler.js";
import type { JobRecord } from "./job.js";
import type { JobRegistry } from "./registry.js";

export function workloadFor(handler: JobHandler, job: JobRecord): Workload {
  return { ...handler.buildWorkload(job as never), kubernetes: handler.kubernetes, defaultResources: handler.defaultResources };
}

/** A job the store holds as STARTING or RUNNING, as the runtime reconciles it. */
export function inFlightRun(registry: JobRegistry, job: JobRecord): InFlightRun {
  return { ...job, workload: () => workloadFor(registry.require(job.type), job) };
}
