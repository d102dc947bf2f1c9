// From what the runners left (RunnerResults: each runner's compact summary, by index) to the one
// stored result of a k6 job: the parts merged (merge.ts), every threshold re-evaluated on the
// merged figures, and a verdict. A FAILED verdict, an unreachable target or a missing part make
// the job FAILED with the result kept (ParsedResult.failure). The verdict is PASSED or FAILED only
// when thresholds judged the whole test; else NOT_EVALUATED, with `verdictNote` saying why (no
// thresholds, a stopped run's partial figures, a missing part, no load sent).
import { z } from "zod";
import { TARGET_UNREACHABLE, unreachableMessage } from "../../shared/preflight.js";
import type { RunnerResults } from "../../shared/runner-results.js";
import type { ParsedResult } from "../handler.js";
import type { JobRecord } from "../job.js";
import { type CompactSummary, parseCompactSummary } from "./compact-summary.js";
import { mergeSummaries, type MergeResult } from "./merge.js";
import type { K6Params } from "./params.js";

export const THRESHOLDS_FAILED = "THRESHOLDS_FAILED";
export const RUNNER_SUMMARY_MISSING = "RUNNER_SUMMARY_MISSING";
/** The runners were stopped before the test's end (a cancelled or timed-out run ends CANCELLED / TIMED_OUT instead). */
export const RUNNERS_STOPPED = "RUNNERS_STOPPED";
/** k6's exit code when a signal stopped it (exitcodes.ExternalAbort). */
const K6_EXTERNAL_ABORT = 105;

const runnerResultsSchema = z.object({
  runners: z.array(z.object({ index: z.number().int().nonnegative(), exitCode: z.number().int().nullable(), result: z.string().nullable() })),
  preflight: z
    .object({ ok: z.boolean(), url: z.string(), status: z.number().optional(), error: z.string().optional(), durationMs: z.number() })
    .optional(),
  startedAt: z.number().optional(),
  failure: z.object({ reason: z.string(), message: z.string() }).optional(),
  stopped: z.boolean().optional(),
});

export interface RunnerReport {
  index: number;
  exitCode: number | null;
  segment: string | null;
  /** Why this runner's summary is not in the merge, if it is not. */
  problem?: string;
}

export interface ResultContext {
  /** The dashboard link template (K6_DASHBOARD_URL): {testid}, {team}, {scenario}. */
  dashboardUrl?: string;
}

export function dashboardLink(template: string | undefined, values: { testid: string; team: string | null; scenario: string }): string | null {
  if (!template) return null;
  return template
    .replaceAll("{testid}", encodeURIComponent(values.testid))
    .replaceAll("{team}", encodeURIComponent(values.team ?? ""))
    .replaceAll("{scenario}", encodeURIComponent(values.scenario));
}

function readEnvelope(raw: string): RunnerResults | string {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return "k6 result is not JSON";
  }
  const envelope = runnerResultsSchema.safeParse(json);
  if (envelope.success) return envelope.data;
  // One runner's compact summary on its own (an unsplit run read directly).
  if (json && typeof json === "object" && (json as { version?: unknown }).version === 1) return { runners: [{ index: 0, exitCode: 0, result: raw }] };
  const issue = envelope.error.issues[0];
  return `k6 result is malformed: ${issue?.path.join(".") || "(top)"} ${issue?.message}`;
}

function summaryOf(result: string | null): CompactSummary | string {
  if (result === null || result.trim() === "") return "wrote no summary";
  let json: unknown;
  try {
    json = JSON.parse(result);
  } catch {
    return `left something that is not a summary: ${result.slice(0, 120)}`;
  }
  if (json && typeof json === "object" && typeof (json as { error?: unknown }).error === "string") return (json as { error: string }).error;
  try {
    return parseCompactSummary(json);
  } catch (error) {
    return `wrote a malformed summary (${(error as Error).message.slice(0, 200)})`;
  }
}

function sumOrNull(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}

function figureValue(merged: MergeResult, metric: string, key: string): number | null {
  const figure = merged.metrics[metric]?.values[key];
  return figure?.exact ? figure.value : null;
}

/** The stored result of a k6 run, and whether it is a failed verdict. */
export function k6Result(raw: string, job: JobRecord | undefined, context: ResultContext = {}): ParsedResult {
  const envelope = readEnvelope(raw);
  if (typeof envelope === "string") return { ok: false, message: envelope };
  const params = job?.params as Partial<K6Params> | undefined;
  const scenario = params?.scenario ?? (params?.script ? "script" : null);
  const testId = job?.id ?? null;
  const dashboardUrl = testId ? dashboardLink(context.dashboardUrl, { testid: testId, team: job?.team?.slug ?? null, scenario: scenario ?? "script" }) : null;
  const parallelism = params?.parallelism ?? Math.max(1, envelope.runners.length);
  const head = {
    testId,
    scenario,
    targetUrl: params?.targetUrl ?? null,
    parallelism,
    dashboardUrl,
    grafanaDashboardUrl: dashboardUrl,
  };

  const notEvaluated = (verdictNote: string) => ({ verdict: "NOT_EVALUATED", verdictNote });
  if (envelope.preflight && !envelope.preflight.ok) {
    const message = unreachableMessage({ ...envelope.preflight });
    return {
      ok: true,
      result: { ...head, ...notEvaluated("the target was unreachable: no load was sent"), failedThresholds: [], preflight: envelope.preflight, runners: [] },
      failure: { reason: TARGET_UNREACHABLE, message },
    };
  }

  if (envelope.failure) {
    return {
      ok: true,
      result: { ...head, ...notEvaluated("the runners never ran the test together"), failedThresholds: [], runners: envelope.runners.map(({ index, exitCode }) => ({ index, exitCode })) },
      failure: envelope.failure,
    };
  }

  // Stopped by the runtime (the program says so) or by a signal k6 answered (on Kubernetes too).
  const stopped = envelope.stopped === true || envelope.runners.some((runner) => runner.exitCode === K6_EXTERNAL_ABORT);
  const stoppedNote = "the run was stopped before the end of the test: its figures are partial and were not judged";
  const stoppedFailure = { reason: RUNNERS_STOPPED, message: "the k6 runners were stopped before the end of the test" };

  const parts: CompactSummary[] = [];
  const runners: RunnerReport[] = [];
  const byIndex = new Map(envelope.runners.map((runner) => [runner.index, runner]));
  for (let index = 0; index < parallelism; index++) {
    const runner = byIndex.get(index);
    const summary = runner ? summaryOf(runner.result) : "left nothing (it never finished)";
    if (typeof summary === "string") {
      runners.push({ index, exitCode: runner?.exitCode ?? null, segment: null, problem: summary });
    } else {
      parts.push(summary);
      runners.push({ index, exitCode: runner?.exitCode ?? null, segment: summary.segment });
    }
  }
  const missing = runners.filter((r) => r.problem);
  const describeMissing = () => missing.map((r) => `runner ${r.index}${r.exitCode !== null ? ` (exit ${r.exitCode})` : ""} ${r.problem}`).join("; ");
  if (parts.length === 0) {
    return {
      ok: true,
      result: { ...head, ...notEvaluated(stopped ? stoppedNote : "no runner left a summary"), failedThresholds: [], runners, ...(envelope.preflight ? { preflight: envelope.preflight } : {}) },
      failure: stopped ? stoppedFailure : { reason: RUNNER_SUMMARY_MISSING, message: `no k6 runner left a summary: ${describeMissing()}` },
    };
  }

  let merged: MergeResult;
  try {
    merged = mergeSummaries(parts);
  } catch (error) {
    return { ok: false, message: `the runners' summaries cannot be merged: ${(error as Error).message}` };
  }
  const booked = figureValue(merged, "booked_tickets", "count");
  const verdict = stopped
    ? notEvaluated(stoppedNote)
    : missing.length
      ? notEvaluated(`${missing.length} of ${parallelism} runners left no summary`)
      : merged.verdict === "NOT_EVALUATED"
        ? notEvaluated("no thresholds were set: nothing was judged")
        : { verdict: merged.verdict };
  const result: Record<string, unknown> = {
    ...head,
    ...verdict,
    failedThresholds: merged.failedThresholds,
    thresholds: merged.thresholds,
    wallTimeMs: merged.wallTimeMs,
    checks: { passes: parts.reduce((n, p) => n + p.checks.passes, 0), fails: parts.reduce((n, p) => n + p.checks.fails, 0) },
    vusMax: sumOrNull(parts.map((p) => p.vusMax)),
    ...(booked !== null ? { bookedTickets: booked } : {}),
    metrics: merged.metrics,
    parts: merged.parts,
    runners,
    ...(envelope.startedAt !== undefined ? { startedAt: new Date(envelope.startedAt).toISOString() } : {}),
    ...(envelope.preflight ? { preflight: envelope.preflight } : {}),
  };
  if (stopped) return { ok: true, result, failure: stoppedFailure };
  if (missing.length) {
    return {
      ok: true,
      result,
      failure: { reason: RUNNER_SUMMARY_MISSING, message: `${missing.length} of ${parallelism} k6 runners left no summary, so the run has no verdict: ${describeMissing()}` },
    };
  }
  if (verdict.verdict === "FAILED") {
    const count = merged.failedThresholds.length;
    return {
      ok: true,
      result,
      failure: { reason: THRESHOLDS_FAILED, message: `${count} threshold${count === 1 ? "" : "s"} failed: ${merged.failedThresholds.join("; ").slice(0, 900)}` },
    };
  }
  return { ok: true, result };
}
