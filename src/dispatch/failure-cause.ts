// The line of a failed run's output that says why it failed. A program that dies prints
// its error first and noise after it (Node's stack frames, the code excerpt, the error's
// properties, "Node.js v20.20.2"), so the last line is rarely the cause.

const MAX_CAUSE_CHARS = 300;

/** Lines that name a failure: a JS error header, a Go panic, a log line at error level. */
const CAUSE_LINE = [
  /^(?:Uncaught\s+)?(?:[A-Z][\w.]*)?(?:Error|Exception)\b(?:\s*\[[\w-]+\])?:/,
  /^(?:panic|fatal|error)\b[:\s]/i,
  /\blevel=(?:error|fatal)\b/,
];

/** Lines that never say why: stack frames, code excerpts, the error's own properties, the runtime's version. */
const NOISE_LINE = [
  /^at\s/,
  /^\^+$/,
  /^Node\.js v\d/,
  /^node:internal\//,
  /^[{}[\]]+,?$/,
  /^\w+: .*,$/,
  /^throw\b/,
  /^file:\/\/.*:\d+$/,
  /^\/.*:\d+$/,
];

/** The most informative line of `outputTail`, at most 300 characters, or "" when there is none. */
export function failureCause(outputTail: string): string {
  const lines = outputTail.split("\n").map((line) => line.trim()).filter(Boolean);
  const pick = findLast(lines, (line) => CAUSE_LINE.some((pattern) => pattern.test(line)))
    ?? findLast(lines, (line) => !NOISE_LINE.some((pattern) => pattern.test(line)))
    ?? lines.at(-1)
    ?? "";
  return pick.length > MAX_CAUSE_CHARS ? `${pick.slice(0, MAX_CAUSE_CHARS)}…` : pick;
}

function findLast(lines: string[], test: (line: string) => boolean): string | undefined {
  for (let i = lines.length - 1; i >= 0; i--) if (test(lines[i]!)) return lines[i];
  return undefined;
}
