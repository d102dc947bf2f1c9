// A WatchJob client on its own thread, for bench/kubernetes.ts: the burst case's fake API server
// keeps the benchmark's main event loop busy for hundreds of milliseconds at a time, and a client
// on that loop would time the events when the loop gets to them, not when they arrive.
// In: { address, jobs: [{ id, sequence }] }. Out: "subscribed", then { arrivals: { [id]: epochMs } }
// (performance.timeOrigin + now(), comparable across threads) or { error }.
import { credentials } from "@grpc/grpc-js";
import { parentPort, workerData } from "node:worker_threads";
import { JobSchedulerClient, JobState, type JobEvent } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { apiKeyInterceptor, TEST_ADMIN_KEY } from "../test/support/auth.js";

interface Input {
  address: string;
  jobs: Array<{ id: string; sequence: number }>;
}

const { address, jobs } = workerData as Input;
const client = new JobSchedulerClient(address, credentials.createInsecure(), { interceptors: [apiKeyInterceptor(TEST_ADMIN_KEY)] });
const arrivals: Record<string, number> = {};
let left = jobs.length;
const streams = jobs.map((job) => {
  const stream = client.watchJob({ jobId: job.id, afterSequence: job.sequence });
  stream.on("data", (event: JobEvent) => {
    if (event.state === JobState.JOB_STATE_SUCCEEDED && arrivals[job.id] === undefined) {
      arrivals[job.id] = performance.timeOrigin + performance.now();
      if (--left === 0) finish();
    } else if (event.state === JobState.JOB_STATE_FAILED || event.state === JobState.JOB_STATE_CANCELLED) {
      parentPort!.postMessage({ error: `${job.id} ended ${JobState[event.state]}: ${event.reason} ${event.message}` });
    }
  });
  stream.on("error", (error: Error & { code?: number }) => {
    if (error.code !== 1) parentPort!.postMessage({ error: `${job.id}: ${error.message}` });
  });
  return stream;
});

function finish(): void {
  parentPort!.postMessage({ arrivals });
  for (const stream of streams) stream.cancel();
  client.close();
}

// The streams subscribe on the server when their calls start; give them a moment.
setTimeout(() => parentPort!.postMessage("subscribed"), 300);
