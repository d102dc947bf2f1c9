import type { EgressPolicy } from "../shared/egress/policy.js";
import { JobRegistry } from "./registry.js";
import { timerHandler } from "./timer.js";
import { budgetHandler } from "./budget.js";
import { gitActivityHandler, type GitActivityOptions } from "./git-activity.js";
import { httpCheckHandler, type HttpCheckOptions } from "./http-check.js";
import { judgeScoreHandler } from "./judge-score.js";
import { k6Handler, type K6Options } from "./k6/handler.js";

/** Settings some job types take from the service's configuration (e.g. the GitHub API and token). */
export interface BuiltinOptions {
  gitActivity?: GitActivityOptions;
  httpCheck?: HttpCheckOptions;
  /** Runtime, binary, image, limits and outputs of k6 jobs (src/jobs/k6/options.ts maps the configuration). */
  k6?: Partial<K6Options>;
  /** The egress policy the collectors and k6 runners apply again when they connect (default: the built-in one). */
  egress?: EgressPolicy;
}

/** The registry with every job type this build ships. */
export function builtinRegistry(options: BuiltinOptions = {}): JobRegistry {
  return new JobRegistry()
    .register(timerHandler)
    .register(httpCheckHandler({ ...options.httpCheck, egress: options.egress }))
    .register(gitActivityHandler(options.gitActivity))
    .register(budgetHandler)
    .register(judgeScoreHandler)
    .register(k6Handler({ ...options.k6, egress: options.egress }));
}
