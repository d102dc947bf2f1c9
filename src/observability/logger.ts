import pino, { type Logger } from "pino";

/** Keys whose values never reach the logs, wherever they appear in a log object. */
const REDACTED = [
  "*.token", "*.password", "*.apiKey", "*.api_key", "*.authorization", "*.databaseUrl", "*.DATABASE_URL",
  "*.HUB_API_KEY", "*.GITHUB_TOKEN", "headers.authorization", 'headers["x-api-key"]',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "jobscheduler" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED, censor: "[redacted]" },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
