// judge_score (JUDGE_SCORE): reports a team's jury mark (its JUDJE_SCORE environment value,
// 0-10) through a small program (src/collectors/judge-score.ts). Never FAILED for lack of
// data: an empty, unreadable or out-of-range value is a result saying "no data".
import { z } from "zod";
import type { JobHandler } from "./handler.js";
import { zodResultParser } from "./result-parser.js";
import { text } from "./text-field.js";

export const JUDGE_SCORE_MAX = 10;

const judgeScoreParams = z.object({
  judgeScore: text({ max: 200 }).default(""),
});

const judgeScoreResult = z.object({
  hasJudgeScore: z.boolean(),
  judgeScore: z.number().nullable(),
  rawValue: z.string(),
  reason: z.string().optional(),
});

export const judgeScoreHandler: JobHandler<typeof judgeScoreParams> = {
  type: "judge_score",
  description: "Reports a team's jury score (the JUDJE_SCORE environment value, 0-10); no value is no data.",
  paramsSchema: judgeScoreParams,
  defaultResources: { cpuRequest: "10m", cpuLimit: "100m", memoryRequest: "32Mi", memoryLimit: "64Mi" },
  defaultTimeoutMs: 60_000,
  maxTimeoutMs: 10 * 60_000,
  defaultMaxAttempts: 2,
  buildWorkload(job) {
    return { collector: "judge-score", env: { JUDGE_SCORE_VALUE: job.params.judgeScore, JUDGE_SCORE_MAX: String(JUDGE_SCORE_MAX) } };
  },
  parseResult: zodResultParser("judge_score", judgeScoreResult),
};
