import { JobRegistry } from "./registry.js";
import { timerHandler } from "./timer.js";

/** The registry with every job type this build ships. */
export function builtinRegistry(): JobRegistry {
  return new JobRegistry().register(timerHandler);
}
