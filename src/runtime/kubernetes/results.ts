// Where a run's result comes from on Kubernetes: the collector's termination message (4 KiB at
// most), else the last JSON document in its log (bounded), the same one document the local
// runtime reads from the result file.
import type { V1ContainerStateTerminated, V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import { COLLECTOR_CONTAINER } from "./job-builder.js";

/** The kubelet keeps at most this much of a termination message. */
export const TERMINATION_MESSAGE_LIMIT = 4096;

export function collectorStatus(pod: V1Pod | undefined): V1ContainerStatus | undefined {
  const statuses = pod?.status?.containerStatuses ?? [];
  return statuses.find((s) => s.name === COLLECTOR_CONTAINER) ?? statuses[0];
}

/** The collector's terminated state (the current one, or the last one before a restart). */
export function terminatedState(pod: V1Pod | undefined): V1ContainerStateTerminated | undefined {
  const status = collectorStatus(pod);
  return status?.state?.terminated ?? status?.lastState?.terminated;
}

export function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** The last line of the text that is a whole JSON object, if any. */
export function lastJsonObject(text: string): string | null {
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (line.startsWith("{") && line.endsWith("}") && isJsonObject(line)) return line;
  }
  return null;
}

/** The last `bytes` bytes of the text, cut at a line start when possible. */
export function tailBytes(text: string, bytes: number): string {
  const buffer = Buffer.from(text);
  if (buffer.length <= bytes) return text;
  const cut = buffer.subarray(buffer.length - bytes).toString("utf8");
  const newline = cut.indexOf("\n");
  return newline >= 0 && newline < cut.length - 1 ? cut.slice(newline + 1) : cut;
}

/**
 * The raw result: the termination message when it is a whole JSON object; otherwise (missing,
 * truncated at 4 KiB, or the log tail that FallbackToLogsOnError put there) the last JSON object
 * line of the log. A success whose message is neither keeps the message, so the handler can say
 * why it is not a result; a failure without a JSON result has none.
 */
export function pickResult(message: string | undefined, log: string | null, exitCode: number | undefined): string | null {
  if (message && isJsonObject(message)) return message;
  const fromLog = log ? lastJsonObject(log) : null;
  if (fromLog) return fromLog;
  if (exitCode === 0 && message) return message;
  return null;
}
