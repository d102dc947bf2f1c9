// Cron expressions evaluated in an IANA time zone (croner does the calendar and
// DST arithmetic). Times in and out are epoch milliseconds.
import { Cron } from "croner";
import { InvalidField } from "../../jobs/errors.js";

export const DEFAULT_TIME_ZONE = "UTC";

/** A compiled cron expression in a time zone. */
export interface CronSchedule {
  readonly expression: string;
  readonly timeZone: string;
  /** The first fire time strictly after `after`, or null when there is none. */
  nextAfter(after: number): number | null;
  /** Fire times in (after, until], oldest first, at most `limit` of them. */
  between(after: number, until: number, limit: number): number[];
}

/** The zone's canonical IANA name ("europe/berlin" → "Europe/Berlin"); "" means UTC. */
export function validateTimeZone(timeZone: string, field = "spec.time_zone"): string {
  if (!timeZone) return DEFAULT_TIME_ZONE;
  if (timeZone.length > 64 || !/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(timeZone)) {
    throw new InvalidField(field, `"${timeZone.slice(0, 64)}" is not an IANA time zone name (e.g. "Europe/Berlin" or "UTC")`);
  }
  try {
    return new Intl.DateTimeFormat("en-US", { timeZone }).resolvedOptions().timeZone;
  } catch {
    throw new InvalidField(field, `"${timeZone}" is not an IANA time zone known to this server (e.g. "Europe/Berlin" or "UTC")`);
  }
}

const NICKNAMES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]);

/**
 * Compiles `expression` (five fields, minute first, or six with seconds first; or a
 * nickname such as @daily) for `timeZone`. Bad input is INVALID_ARGUMENT naming the field.
 */
export function compileCron(expression: string, timeZone: string, fields = { cron: "spec.cron", timeZone: "spec.time_zone" }): CronSchedule {
  const zone = validateTimeZone(timeZone, fields.timeZone);
  const text = expression.trim();
  if (!text) throw new InvalidField(fields.cron, 'is required (e.g. "0 * * * *" for every hour)');
  if (text.length > 256) throw new InvalidField(fields.cron, "must be at most 256 characters");
  const parts = text.split(/\s+/);
  if (text.startsWith("@") ? !NICKNAMES.has(text.toLowerCase()) : parts.length !== 5 && parts.length !== 6) {
    throw new InvalidField(
      fields.cron,
      `"${text}" is not a cron expression: use five fields (minute hour day-of-month month day-of-week), six with seconds first, or one of ${[...NICKNAMES].join(", ")}`,
    );
  }
  let cron: Cron;
  try {
    cron = new Cron(text, { timezone: zone, mode: "5-or-6-parts", paused: true });
  } catch (error) {
    const message = (error as Error).message.replace(/^Cron(Pattern)?:\s*/, "");
    throw new InvalidField(fields.cron, `"${text}" is not a valid cron expression: ${message}`);
  }
  const nextAfter = (after: number): number | null => cron.nextRun(new Date(after))?.getTime() ?? null;
  if (nextAfter(Date.UTC(2000, 0, 1)) === null) {
    throw new InvalidField(fields.cron, `"${text}" never fires`);
  }
  return {
    expression: text,
    timeZone: zone,
    nextAfter,
    between(after, until, limit) {
      const times: number[] = [];
      let t = after;
      while (times.length < limit) {
        const next = nextAfter(t);
        if (next === null || next > until) break;
        times.push(next);
        t = next;
      }
      return times;
    },
  };
}
