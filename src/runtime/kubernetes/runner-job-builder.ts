// The Job of a runner group (Workload.program). Pure, like job-builder.ts, whose Job it starts
// from so every safety setting is the same (service account without token, non-root, read-only
// root filesystem, dropped capabilities, seccomp, deadline, TTL, labels, the files ConfigMap
// mounted at JOB_FILES_DIR); then it becomes one Indexed Job of N runners in the program's image:
// completions = parallelism = N, backoffLimit 0, requests = limits.
import type { V1Job } from "@kubernetes/client-node";
import { parseQuantity } from "../quantity.js";
import type { RunnerProgram } from "../runtime.js";
import { buildJob, effectiveResources, JobBuildError, type JobBuildInput, type JobBuilderSettings } from "./job-builder.js";

/** The runners' container, unless the program names it. */
export const DEFAULT_RUNNER_CONTAINER = "runner";

export function runnerContainerName(program: RunnerProgram): string {
  return program.container ?? DEFAULT_RUNNER_CONTAINER;
}

function smaller(a: string, b: string): string {
  return parseQuantity(a)! <= parseQuantity(b)! ? a : b;
}

/** Per runner: the program's resources (else the job's limits), clamped to the maximum; requests = limits. */
export function runnerResources(input: JobBuildInput, settings: JobBuilderSettings): { cpu: string; memory: string } {
  const program = input.workload.program!;
  const wanted = program.resources ?? effectiveResources(input, settings.maxLimits).limits;
  for (const [name, value] of Object.entries(wanted)) {
    if (parseQuantity(value) === null) throw new JobBuildError(`runner ${name} "${value}" is not a resource quantity`);
  }
  return { cpu: smaller(wanted.cpu, settings.maxLimits.cpu), memory: smaller(wanted.memory, settings.maxLimits.memory) };
}

export function buildProgramJob(input: JobBuildInput, settings: JobBuilderSettings): V1Job {
  const program = input.workload.program;
  if (!program) throw new JobBuildError("the workload has no program");
  if (!Number.isInteger(program.parallelism) || program.parallelism < 1) throw new JobBuildError(`program parallelism ${program.parallelism} is not a positive whole number`);
  if (!program.image || /\s/.test(program.image)) throw new JobBuildError(`program image "${program.image}" is not an image reference`);
  if (!program.command.length) throw new JobBuildError("the program has no command");

  const job = buildJob({ ...input, workload: { ...input.workload, program: undefined } }, settings);
  const spec = job.spec!;
  const pod = spec.template.spec!;
  const container = pod.containers[0];
  const resources = runnerResources(input, settings);

  const name = runnerContainerName(program);
  container.name = name;
  container.image = program.image;
  container.command = [...program.command];
  // NODE_OPTIONS is for our node collectors; a runner is not one.
  container.env = (container.env ?? []).filter((variable) => variable.name !== "NODE_OPTIONS");
  container.resources = { requests: { ...resources }, limits: { ...resources } };
  if (program.heldStart) container.ports = [{ name: program.heldStart.portName, containerPort: program.heldStart.port, protocol: "TCP" }];

  spec.completions = program.parallelism;
  spec.parallelism = program.parallelism;
  spec.completionMode = "Indexed";
  // Runners run one test together, never re-run: any runner that fails (or is disrupted) fails the Job, which stops the others.
  spec.backoffLimit = 0;
  spec.podFailurePolicy = {
    rules: [
      { action: "FailJob", onExitCodes: { containerName: name, operator: "NotIn", values: [0] } },
      { action: "FailJob", onPodConditions: [{ type: "DisruptionTarget", status: "True" }] },
    ],
  };
  return job;
}
