// Schedules declared in configuration (SCHEDULES_FILE): a JSON array of ScheduleSpec
// in proto JSON (camelCase or snake_case names, enums by name), upserted by name at start-up.
// The file is written in the API's own shape, so it is read here, into the domain's definitions.
import { readFileSync } from "node:fs";
import type { ScheduleDefinition } from "../dispatch/schedules/definition.js";
import { ScheduleSpec } from "../gen/jobscheduler/v1/jobscheduler.js";
import { scheduleSpecFromWire } from "./schedule-wire.js";

export class DeclaredSchedulesError extends Error {}

/** Names of Duration fields anywhere in a spec; their values may be written "90s", "5m", "1h" or {"seconds": 90}. */
const DURATION_FIELDS = new Set([
  "catchupWindow", "catchup_window", "jitter", "timeout", "queueTimeout", "queue_timeout", "initialBackoff", "initial_backoff",
  "maxBackoff", "max_backoff", "duration", "requestTimeout", "request_timeout", "activityWindow", "activity_window",
  "thinkTime", "think_time",
]);
const DURATION_TEXT = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

function durationsAsMessages(value: unknown, path: string): unknown {
  if (Array.isArray(value)) return value.map((item, i) => durationsAsMessages(item, `${path}[${i}]`));
  if (!value || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => {
      if (DURATION_FIELDS.has(key) && typeof inner === "string") {
        const match = DURATION_TEXT.exec(inner.trim());
        if (!match) throw new DeclaredSchedulesError(`${path}.${key}: "${inner}" is not a duration like 90s, 5m or 1h`);
        const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]);
        return [key, { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }];
      }
      return [key, durationsAsMessages(inner, `${path}.${key}`)];
    }),
  );
}

/** Parses the document; errors name SCHEDULES_FILE and the entry at fault. */
export function parseDeclaredSchedules(text: string): ScheduleSpec[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DeclaredSchedulesError(`SCHEDULES_FILE: must be JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(value)) throw new DeclaredSchedulesError("SCHEDULES_FILE: must be a JSON array of schedule specs");
  const specs = value.map((entry, i) => {
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) {
      throw new DeclaredSchedulesError(`SCHEDULES_FILE: [${i}] must be an object (a ScheduleSpec)`);
    }
    try {
      return ScheduleSpec.fromJSON(durationsAsMessages(entry, `[${i}]`));
    } catch (error) {
      const message = (error as Error).message;
      throw new DeclaredSchedulesError(`SCHEDULES_FILE: ${message.startsWith("[") ? message : `[${i}]: ${message}`}`);
    }
  });
  const seen = new Set<string>();
  specs.forEach((spec, i) => {
    if (seen.has(spec.name)) throw new DeclaredSchedulesError(`SCHEDULES_FILE: [${i}].name: "${spec.name}" is declared more than once`);
    seen.add(spec.name);
  });
  return specs;
}

export function loadDeclaredSchedules(path: string): ScheduleDefinition[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DeclaredSchedulesError(`SCHEDULES_FILE: cannot read ${path}: ${(error as Error).message}`);
  }
  return parseDeclaredSchedules(text).map(scheduleSpecFromWire);
}
