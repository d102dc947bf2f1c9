import type { JobStore } from "../store/store.js";
import { dispatchLimitsSchema, type DispatchLimits } from "./limits.js";

const LIMITS_SETTING = "dispatch.limits";

/**
 * The admission limits in force: the configured defaults until an operator
 * changes them through the API; changes are stored, so they outlive restarts.
 */
export class LimitsStore {
  private current: DispatchLimits;

  constructor(
    private readonly store: JobStore,
    private readonly defaults: DispatchLimits,
  ) {
    this.current = defaults;
  }

  async load(): Promise<DispatchLimits> {
    const saved = await this.store.getSetting(LIMITS_SETTING);
    const parsed = saved === null ? null : dispatchLimitsSchema.safeParse(JSON.parse(saved));
    this.current = parsed?.success ? parsed.data : this.defaults;
    return this.current;
  }

  get(): DispatchLimits {
    return this.current;
  }

  async set(limits: DispatchLimits): Promise<DispatchLimits> {
    const valid = dispatchLimitsSchema.parse(limits);
    await this.store.setSetting(LIMITS_SETTING, JSON.stringify(valid));
    this.current = valid;
    return valid;
  }
}
