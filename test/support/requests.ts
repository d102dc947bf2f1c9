import { ScheduleJobRequest } from "../../src/gen/jobscheduler/v1/jobscheduler.js";

export function ms(value: number) {
  return { seconds: Math.floor(value / 1000), nanos: (value % 1000) * 1e6 };
}

/** A timer job request; `overrides` are ScheduleJobRequest fields. */
export function timerJob(durationMs: number, overrides: Partial<ScheduleJobRequest> = {}, timerName = "t"): ScheduleJobRequest {
  return ScheduleJobRequest.fromPartial({
    name: "timer",
    spec: { $case: "timer", value: { duration: ms(durationMs), timerName, completionCallbackUrl: "" } },
    ...overrides,
  });
}
