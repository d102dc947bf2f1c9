// What a benchmark module hands back to bench/run.ts, and how it is printed.

/** One printed cell: a number (formatted per column) or text. */
export type Figure = number | string | null;

export interface BenchRow {
  /** What was measured, e.g. "GetJobStatus (service)". */
  label: string;
  /** Column name -> value, printed in insertion order (columns are the union over rows). */
  figures: Record<string, Figure>;
}

/** A target from the issue: reported as MET / MISSED, never asserted. */
export interface BenchCheck {
  label: string;
  value: number;
  /** Human form of the target, e.g. ">= 80%". */
  target: string;
  met: boolean;
  /** How `value` is printed. */
  format?: "percent" | "number";
  /** Printed after the check, e.g. why the figure may not be trustworthy. */
  note?: string;
}

export interface BenchReport {
  rows: BenchRow[];
  checks: BenchCheck[];
  notes: string[];
  /** Anything that makes the figures untrustworthy (failed RPCs, sanity checks). Non-empty => exit code 1. */
  errors: string[];
}

/** A benchmark module: bench/run.ts runs each in sequence. */
export interface BenchModule {
  name: string;
  description: string;
  run(): Promise<BenchReport>;
}

export function emptyReport(): BenchReport {
  return { rows: [], checks: [], notes: [], errors: [] };
}

function formatFigure(value: Figure, column: string): string {
  if (value === null) return "-";
  if (typeof value === "string") return value;
  if (/%$/.test(column) || /ratio/i.test(column)) return `${value.toFixed(1)}`;
  if (/ms$/.test(column)) return value < 10 ? value.toFixed(3) : value.toFixed(1);
  if (Number.isInteger(value)) return String(value);
  return value >= 100 ? value.toFixed(0) : value.toFixed(2);
}

export function formatTable(rows: BenchRow[]): string {
  if (rows.length === 0) return "(no rows)";
  const columns: string[] = [];
  for (const row of rows) for (const column of Object.keys(row.figures)) if (!columns.includes(column)) columns.push(column);
  const header = ["", ...columns];
  const body = rows.map((row) => [row.label, ...columns.map((c) => formatFigure(row.figures[c] ?? null, c))]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((line) => line[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

export function formatCheck(check: BenchCheck): string {
  const value = check.format === "number" ? check.value.toFixed(2) : `${(check.value * 100).toFixed(1)}%`;
  return `${check.met ? "MET   " : "MISSED"}  ${check.label}: ${value} (target ${check.target})${check.note ? ` - ${check.note}` : ""}`;
}

export function formatReport(name: string, report: BenchReport): string {
  const parts = [`== ${name} ==`, formatTable(report.rows)];
  if (report.checks.length) parts.push("", ...report.checks.map(formatCheck));
  if (report.notes.length) parts.push("", ...report.notes.map((n) => `note: ${n}`));
  if (report.errors.length) parts.push("", ...report.errors.map((e) => `!!! ERROR: ${e}`));
  return parts.join("\n");
}
