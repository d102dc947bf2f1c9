import { z } from "zod";
import type { JobHandler } from "./handler.js";
import { durationMs, httpUrl } from "./schema-helpers.js";
import { text } from "./text-field.js";

const MAX_TIMER_MS = 24 * 3_600_000;

const timerParams = z.object({
  duration: durationMs({ min: 1, max: MAX_TIMER_MS }, "is required"),
  timerName: text({ max: 253 })
    .min(1, "is required")
    .regex(/^[\p{L}\p{N} _.:/-]+$/u, "may hold letters, digits, spaces and _ . : / - only"),
  completionCallbackUrl: httpUrl.optional(),
}).transform(({ duration, timerName, completionCallbackUrl }) => ({
  durationMs: duration,
  timerName,
  ...(completionCallbackUrl ? { completionCallbackUrl } : {}),
}));

const timerResult = z.object({
  timerName: z.string(),
  durationMs: z.number(),
  elapsedMs: z.number(),
  completed: z.boolean(),
  callback: z
    .object({ url: z.string(), delivered: z.boolean(), status: z.number().optional(), attempts: z.number(), error: z.string().optional() })
    .optional(),
});

export type TimerResult = z.infer<typeof timerResult>;

export const timerHandler: JobHandler<typeof timerParams> = {
  type: "timer",
  description: "Waits for a duration, then reports its result (the service POSTs it to the completion callback URL, when given).",
  paramsSchema: timerParams,
  defaultResources: { cpuRequest: "50m", cpuLimit: "200m", memoryRequest: "64Mi", memoryLimit: "128Mi" },
  defaultTimeoutMs: 3_600_000,
  maxTimeoutMs: 25 * 3_600_000,
  defaultMaxAttempts: 1,
  buildWorkload(job) {
    const { durationMs: ms, timerName } = job.params;
    return {
      collector: "timer",
      // RUNNING once its stop handler is installed, so a cancel or timeout always finds it listening.
      reportsRunning: true,
      env: {
        TIMER_DURATION_MS: String(ms),
        TIMER_NAME: timerName,
        JOB_ID: job.id,
      },
    };
  },
  completionCallback(job, result, finishedAt) {
    const url = job.params.completionCallbackUrl;
    return url ? { url, body: { jobId: job.id, ...result, finishedAt: new Date(finishedAt).toISOString() } } : null;
  },
  egressTargets(params) {
    return params.completionCallbackUrl ? [{ field: "completion_callback_url", url: params.completionCallbackUrl }] : [];
  },
  parseResult(raw) {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return { ok: false, message: "timer result is not JSON" };
    }
    const parsed = timerResult.safeParse(json);
    return parsed.success ? { ok: true, result: parsed.data } : { ok: false, message: `timer result is malformed: ${parsed.error.issues[0]?.message}` };
  },
};
