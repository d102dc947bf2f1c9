// `npm run bench`: builds the service, then runs every benchmark module below in
// sequence and prints a summary. Targets are reported as MET / MISSED; the exit
// code is non-zero only when a benchmark failed (threw, or reported errors such
// as failed RPCs), never for a missed target.
//
// To add a benchmark: write bench/<name>.ts exporting a default BenchModule
// ({ name, description, run(): Promise<BenchReport> }, see bench/report.ts) and
// list it in BENCHMARKS. BENCH_ONLY=name[,name] runs a subset.
import admission from "./admission.js";
import auth from "./auth.js";
import grpcApi from "./grpc-api.js";
import ha from "./ha.js";
import hackathon from "./hackathon.js";
import hubRound from "./hub-round.js";
import kubernetes from "./kubernetes.js";
import scale from "./scale.js";
import { formatReport, type BenchModule, type BenchReport } from "./report.js";

const BENCHMARKS: BenchModule[] = [grpcApi, auth, admission, kubernetes, hackathon, hubRound, scale, ha];

const only = (process.env.BENCH_ONLY ?? "").split(",").map((s) => s.trim()).filter(Boolean);
const unknown = only.filter((n) => !BENCHMARKS.some((b) => b.name === n));
if (unknown.length) {
  console.error(`BENCH_ONLY names unknown benchmarks: ${unknown.join(", ")} (known: ${BENCHMARKS.map((b) => b.name).join(", ")})`);
  process.exit(2);
}
const selected = only.length ? BENCHMARKS.filter((b) => only.includes(b.name)) : BENCHMARKS;

const results: { name: string; report?: BenchReport; failure?: unknown; seconds: number }[] = [];
for (const bench of selected) {
  console.log(`\n>>> ${bench.name}: ${bench.description}`);
  const started = performance.now();
  try {
    const report = await bench.run();
    results.push({ name: bench.name, report, seconds: (performance.now() - started) / 1000 });
  } catch (failure) {
    results.push({ name: bench.name, failure, seconds: (performance.now() - started) / 1000 });
    console.error(`!!! ${bench.name} failed:`, failure);
  }
}

console.log(`\n${"=".repeat(30)} benchmark summary ${"=".repeat(30)}`);
let failed = 0;
for (const result of results) {
  console.log("");
  if (result.report) {
    console.log(formatReport(result.name, result.report));
    if (result.report.errors.length) failed++;
  } else {
    failed++;
    console.log(`== ${result.name} ==\n!!! FAILED: ${result.failure instanceof Error ? result.failure.message : String(result.failure)}`);
  }
  console.log(`(${result.seconds.toFixed(1)} s)`);
}
const missed = results.flatMap((r) => r.report?.checks.filter((c) => !c.met) ?? []).length;
console.log(`\n${results.length - failed}/${results.length} benchmarks ran cleanly; ${missed} target(s) missed.`);
process.exit(failed ? 1 : 0);
