import { status } from "@grpc/grpc-js";
import type { ScheduleRpcs } from "./job-scheduler-service.js";
import { ApiError } from "./errors.js";
import type { RpcInstrumentation } from "./rpc.js";

// Replaced by the schedule implementation; until then these RPCs answer UNIMPLEMENTED.
export function scheduleService(rpc: RpcInstrumentation): ScheduleRpcs {
  const unimplemented = (name: string) =>
    rpc.unary(name, async () => {
      throw new ApiError(status.UNIMPLEMENTED, `${name} is not available in this build`);
    });
  return {
    createSchedule: unimplemented("CreateSchedule"),
    getSchedule: unimplemented("GetSchedule"),
    listSchedules: unimplemented("ListSchedules"),
    updateSchedule: unimplemented("UpdateSchedule"),
    pauseSchedule: unimplemented("PauseSchedule"),
    resumeSchedule: unimplemented("ResumeSchedule"),
    deleteSchedule: unimplemented("DeleteSchedule"),
    triggerSchedule: unimplemented("TriggerSchedule"),
  };
}
