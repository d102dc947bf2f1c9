// budget (BUDGET_TRACKING): reports a team's declared spend (its MONEY_SPEND environment value,
// KZT) through a small program (src/collectors/budget.ts), so it runs, is recorded and is
// reported like every other criterion. Informational: never FAILED for lack of data; an empty
// or unreadable value is a result saying "no data".
import { z } from "zod";
import type { JobHandler } from "./handler.js";
import { zodResultParser } from "./result-parser.js";
import { text } from "./text-field.js";

const budgetParams = z.object({
  moneySpend: text({ max: 200 }).default(""),
});

const budgetResult = z.object({
  hasSpendingData: z.boolean(),
  totalSpent: z.number().nullable(),
  currency: z.string(),
  rawValue: z.string(),
  reason: z.string().optional(),
});

export const budgetHandler: JobHandler<typeof budgetParams> = {
  type: "budget",
  description: "Reports a team's declared spend (the MONEY_SPEND environment value, KZT); no value is no data.",
  paramsSchema: budgetParams,
  defaultResources: { cpuRequest: "10m", cpuLimit: "100m", memoryRequest: "32Mi", memoryLimit: "64Mi" },
  defaultTimeoutMs: 60_000,
  maxTimeoutMs: 10 * 60_000,
  defaultMaxAttempts: 2,
  buildWorkload(job) {
    return { collector: "budget", env: { BUDGET_MONEY_SPEND: job.params.moneySpend } };
  },
  parseResult: zodResultParser("budget", budgetResult),
};
