// What a pod's containers do when the simulated kubelet runs them, as scripted by a test.
import { COMPLETION_INDEX, LABEL_JOB_NAME } from "./defaults.js";
import type { StoredPod } from "./types.js";

interface RunTiming {
  /** Overrides timing.podStartMs for this pod. */
  startMs?: number;
  /** Overrides timing.podRunMs: how long the containers run. */
  runMs?: number;
  /** What pods/log returns once the container started. */
  log?: string;
}

export type PodOutcome =
  | (RunTiming & { type: "succeed"; terminationMessage?: string })
  | (RunTiming & { type: "fail"; exitCode: number; reason?: string; terminationMessage?: string })
  | (RunTiming & { type: "oomKilled"; terminationMessage?: string })
  /**
   * Runs until deleted or the Job's deadline; with ignoreSigterm it survives SIGTERM until the grace
   * period ends (then exit 137). sigtermMessage: the termination message it writes when it stops on
   * SIGTERM (a partial result), as our collectors do; sigtermLog: what it logs on SIGTERM.
   */
  | (Omit<RunTiming, "runMs"> & { type: "hang"; ignoreSigterm?: boolean; sigtermMessage?: string; sigtermLog?: string })
  /** Stays Pending: ErrImagePull, then ImagePullBackOff. */
  | { type: "imagePullFailure"; message?: string }
  /** Stays Pending: PodScheduled=False, reason Unschedulable. */
  | { type: "unschedulable"; message?: string };

/** Constructors for the outcomes a test scripts. */
export const outcome = {
  succeed: (terminationMessage?: string, extra: RunTiming = {}): PodOutcome => ({ type: "succeed", terminationMessage, ...extra }),
  fail: (exitCode: number, extra: RunTiming & { terminationMessage?: string; reason?: string } = {}): PodOutcome => ({
    type: "fail",
    exitCode,
    ...extra,
  }),
  oomKilled: (extra: RunTiming & { terminationMessage?: string } = {}): PodOutcome => ({ type: "oomKilled", ...extra }),
  hang: (extra: Omit<RunTiming, "runMs"> & { ignoreSigterm?: boolean; sigtermMessage?: string; sigtermLog?: string } = {}): PodOutcome => ({ type: "hang", ...extra }),
  imagePullFailure: (message?: string): PodOutcome => ({ type: "imagePullFailure", message }),
  unschedulable: (message = "0/3 nodes are available: 3 Insufficient cpu."): PodOutcome => ({ type: "unschedulable", message }),
};

/** Which pods a script applies to: every given field must match, or a predicate. */
export type PodMatcher =
  | { namespace?: string; job?: string; index?: number; labels?: Record<string, string> }
  | ((pod: StoredPod) => boolean);

/**
 * Where outcomes come from: one outcome for every run, a list consumed one run at a time (the last
 * repeats), or a function of the pod and the run number (0 for the script's first run).
 */
export type OutcomeSource = PodOutcome | PodOutcome[] | ((pod: StoredPod, run: number) => PodOutcome);

export interface ScriptHandle {
  remove(): void;
}

interface Script {
  matcher: PodMatcher;
  source: OutcomeSource;
  runs: number;
}

function podMatches(matcher: PodMatcher, pod: StoredPod): boolean {
  if (typeof matcher === "function") return matcher(pod);
  const labels = pod.metadata.labels ?? {};
  if (matcher.namespace !== undefined && pod.metadata.namespace !== matcher.namespace) return false;
  if (matcher.job !== undefined && labels[LABEL_JOB_NAME] !== matcher.job) return false;
  if (matcher.index !== undefined && labels[COMPLETION_INDEX] !== String(matcher.index)) return false;
  return Object.entries(matcher.labels ?? {}).every(([k, v]) => labels[k] === v);
}

function take(script: Script, pod: StoredPod): PodOutcome {
  const run = script.runs++;
  const { source } = script;
  if (typeof source === "function") return source(pod, run);
  if (Array.isArray(source)) return source[Math.min(run, source.length - 1)];
  return source;
}

export class PodScripts {
  private scripts: Script[] = [];
  private fallback: Script;

  constructor(defaultSource: OutcomeSource = outcome.succeed()) {
    this.fallback = { matcher: () => true, source: defaultSource, runs: 0 };
  }

  /** Scripts the pods the matcher selects; the most recent matching script wins. */
  script(matcher: PodMatcher, source: OutcomeSource): ScriptHandle {
    const script: Script = { matcher, source, runs: 0 };
    this.scripts.unshift(script);
    return { remove: () => (this.scripts = this.scripts.filter((s) => s !== script)) };
  }

  setDefault(source: OutcomeSource): void {
    this.fallback = { matcher: () => true, source, runs: 0 };
  }

  clear(): void {
    this.scripts = [];
  }

  /** The outcome for the pod's next run of its containers. */
  next(pod: StoredPod): PodOutcome {
    const script = this.scripts.find((s) => podMatches(s.matcher, pod)) ?? this.fallback;
    return take(script, pod);
  }
}
