// The RPC latency histogram (src/observability/rpc-latency.ts) against prom-client's own
// Histogram fed the same observations: the exposition text must be the same, line for line.
import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { RpcLatencyHistogram } from "../src/observability/rpc-latency.js";

const NAME = "test_grpc_server_handling_seconds";
const HELP = "Time to handle a gRPC request, by method and status code.";
const BOUNDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const histogram = new RpcLatencyHistogram(NAME, HELP, BOUNDS, ours);
  const reference = new Histogram({ name: NAME, help: HELP, labelNames: ["method", "code"], buckets: BOUNDS, registers: [theirs] });
  const observe = (method: string, code: string, seconds: number) => {
    histogram.observe(method, code, seconds);
    reference.observe({ method, code }, seconds);
  };
  return { ours, theirs, histogram, observe };
}

describe("RPC latency histogram", () => {
  it("renders what prom-client's Histogram renders for the same observations", async () => {
    const { ours, theirs, observe } = pair();
    // On a bound, between bounds, below the first, above the last, and labels that need escaping.
    const samples: [string, string, number][] = [
      ["GetJobStatus", "OK", 0.0005], ["GetJobStatus", "OK", 0.0003], ["GetJobStatus", "OK", 0.0041],
      ["GetJobStatus", "NOT_FOUND", 0.002], ["ScheduleJob", "OK", 7.5], ["ScheduleJob", "OK", 1],
      ["ScheduleJob", "INVALID_ARGUMENT", 0.05], ['Odd"Method\\', "OK", 0.2],
    ];
    for (const sample of samples) observe(...sample);
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain(`${NAME}_bucket{le="0.0005",method="GetJobStatus",code="OK"} 2`);
    expect(text).toContain(`${NAME}_bucket{le="+Inf",method="ScheduleJob",code="OK"} 2`);
    expect(text).toContain(`${NAME}_bucket{le="5",method="ScheduleJob",code="OK"} 1`);
    expect(text).toContain(`${NAME}_count{method="GetJobStatus",code="OK"} 3`);
    // The JSON form too (prom-client adds an empty exemplar to each bucket).
    const json = async (registry: Registry) =>
      (await registry.getMetricsAsJSON()).map(({ values, ...metric }) => ({
        ...metric,
        values: values.map(({ value, labels, metricName }: { value: number; labels: object; metricName?: string }) => ({ value, labels, metricName })),
      }));
    expect(await json(ours)).toEqual(await json(theirs));
  });

  it("starts empty again after a registry reset", async () => {
    const { ours, theirs, observe } = pair();
    observe("ListJobs", "OK", 0.01);
    ours.resetMetrics();
    theirs.resetMetrics();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).not.toContain("ListJobs");
  });

  it("refuses bucket bounds that do not increase", () => {
    expect(() => new RpcLatencyHistogram("bad_seconds", "bad", [0.1, 0.1], new Registry())).toThrow(/increase/);
  });
});
