// What a k6 job may cost against a VU × time budget (per-key and per-team quotas): its VUs
// times its length. Stages count each at its higher end (the ramp's peak); a load the
// request leaves to the scenario takes the scenario's defaults; a script that sets its own
// load is charged the most it may use: K6_MAX_VUS for the job's whole timeout.
import type { K6Params } from "./params.js";
import { findScenario } from "./scenarios/index.js";

/** VU-milliseconds. */
export function k6VuMs(params: Pick<K6Params, "scenario" | "vus" | "durationMs" | "stages">, timeoutMs: number, maxVus: number): number {
  if (params.stages.length) {
    let previous = params.vus ?? 0;
    let total = 0;
    for (const stage of params.stages) {
      total += Math.max(previous, stage.target) * stage.durationMs;
      previous = stage.target;
    }
    return total;
  }
  const scenario = params.scenario ? findScenario(params.scenario) : undefined;
  const vus = params.vus ?? scenario?.defaults.vus ?? maxVus;
  const length = params.durationMs ?? scenario?.defaults.durationMs ?? timeoutMs;
  return vus * Math.min(length, timeoutMs);
}
