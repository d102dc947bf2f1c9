// Moved to src/shared/ (the runtime uses it too); this re-export keeps the remaining importers
// (src/api/job-scheduler-service.ts, src/dispatch/schedules/scheduler.ts) working until they import it from there.
export { KeyedSerial } from "../shared/keyed-serial.js";
