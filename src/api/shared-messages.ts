// Job messages that several calls hand out as the same object (built once from a cached,
// immutable job row) are encoded once too: grpc-js copies the bytes into each frame, and a
// status poll of an unchanged job then costs no protobuf encoding at all.
import { Job, JobSchedulerService } from "../gen/jobscheduler/v1/jobscheduler.js";

/** A registered message -> its encoding, null until first sent. */
const encodings = new WeakMap<Job, Buffer | null>();

/**
 * Marks `message` as shared: whoever receives it must not change it (it is frozen), so its
 * encoding can be kept for the message's lifetime.
 */
export function shareMessage(message: Job): Job {
  encodings.set(message, null);
  return Object.freeze(message);
}

/** The protobuf encoding of a Job response, from the memo when the message is shared. */
export function encodeJobResponse(message: Job): Buffer {
  const known = encodings.get(message);
  if (known) return known;
  const bytes = Buffer.from(Job.encode(message).finish());
  if (known === null) encodings.set(message, bytes);
  return bytes;
}

/** The generated service definition, its methods that answer with a Job encoding through the memo. */
export const JobSchedulerServiceDefinition: typeof JobSchedulerService = {
  ...JobSchedulerService,
  getJobStatus: { ...JobSchedulerService.getJobStatus, responseSerialize: encodeJobResponse },
  cancelJob: { ...JobSchedulerService.cancelJob, responseSerialize: encodeJobResponse },
  retryJob: { ...JobSchedulerService.retryJob, responseSerialize: encodeJobResponse },
};
