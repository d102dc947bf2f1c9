import { JobRegistry } from "./registry.js";
import { timerHandler } from "./timer.js";
import { budgetHandler } from "./budget.js";
import { gitActivityHandler, type GitActivityOptions } from "./git-activity.js";
import { httpCheckHandler, type HttpCheckOptions } from "./http-check.js";
import { judgeScoreHandler } from "./judge-score.js";

/** Settings some job types take from the service's configuration (e.g. the GitHub API and token). */
export interface BuiltinOptions {
  gitActivity?: GitActivityOptions;
  httpCheck?: HttpCheckOptions;
}

/** The registry with every job type this build ships. */
export function builtinRegistry(options: BuiltinOptions = {}): JobRegistry {
  return new JobRegistry()
    .register(timerHandler)
    .register(httpCheckHandler(options.httpCheck))
    .register(gitActivityHandler(options.gitActivity))
    .register(budgetHandler)
    .register(judgeScoreHandler);
}
