// The baseline: a bare @grpc/grpc-js server, run as its own child process
// (`node --import tsx bench/echo-server.ts`), with one unary method that has
// GetJobStatus's exact path, request and response types and the generated
// codecs. Per call it does only what any server must: decode the request, put
// the requested id into a ready-made Job, encode the response.
//
// ECHO_JOB_B64: an encoded Job to answer with (the bench builds it with the
// service's own mapping, so its size matches a real GetJobStatus response).
// Prints {"msg":"echo ready","port":N} on stdout once listening.
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { Job, JobSchedulerService, type GetJobStatusRequest } from "../src/gen/jobscheduler/v1/jobscheduler.js";

// The same server options as src/api/server.ts startGrpcServer().
const SERVER_OPTIONS = {
  "grpc.max_receive_message_length": 4 * 1024 * 1024,
  "grpc.keepalive_permit_without_calls": 1,
};

const encoded = process.env.ECHO_JOB_B64;
if (!encoded) {
  console.error("ECHO_JOB_B64 is required");
  process.exit(2);
}
const template: Job = Job.decode(Buffer.from(encoded, "base64"));

const server = new Server(SERVER_OPTIONS);
server.addService(
  { getJobStatus: JobSchedulerService.getJobStatus },
  {
    getJobStatus(call: ServerUnaryCall<GetJobStatusRequest, Job>, callback: sendUnaryData<Job>) {
      callback(null, { ...template, id: call.request.jobId });
    },
  },
);

const host = process.env.ECHO_HOST ?? "127.0.0.1";
server.bindAsync(`${host}:${process.env.ECHO_PORT ?? "0"}`, ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    console.error(`bind failed: ${error.message}`);
    process.exit(1);
  }
  console.log(JSON.stringify({ msg: "echo ready", port, bytes: Job.encode(template).finish().length }));
});

const stop = () => {
  server.tryShutdown(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
