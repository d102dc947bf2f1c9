// The encoding memo behind GetJobStatus: a shared Job message is encoded once and can no
// longer be changed; any other message is encoded afresh on every send.
import { describe, expect, it } from "vitest";
import { Job, JobSchedulerService, JobState } from "../src/gen/jobscheduler/v1/jobscheduler.js";
import { encodeJobResponse, JobSchedulerServiceDefinition, shareMessage } from "../src/api/shared-messages.js";

const job = (id: string): Job => Job.fromPartial({ id, name: "memo", type: "timer", state: JobState.JOB_STATE_QUEUED, labels: { team: "a" } });

describe("shared Job messages", () => {
  it("encode once: the same bytes, decoding to the message, on every send", () => {
    const message = shareMessage(job("one"));
    const first = encodeJobResponse(message);
    expect(Job.decode(first)).toEqual(job("one"));
    expect(encodeJobResponse(message)).toBe(first);
  });

  it("are frozen, so no holder can make the kept encoding stale", () => {
    const message = shareMessage(job("two"));
    expect(() => {
      (message as { name: string }).name = "changed";
    }).toThrow(TypeError);
  });

  it("leave messages that are not shared to be encoded on each send", () => {
    const message = job("three");
    const first = encodeJobResponse(message);
    message.name = "renamed";
    const second = encodeJobResponse(message);
    expect(second).not.toBe(first);
    expect(Job.decode(second).name).toBe("renamed");
  });

  it("serve the Job-answering methods of the service definition, the rest as generated", () => {
    for (const method of ["getJobStatus", "cancelJob", "retryJob"] as const) {
      expect(JobSchedulerServiceDefinition[method].responseSerialize).toBe(encodeJobResponse);
    }
    expect(JobSchedulerServiceDefinition.listJobs).toBe(JobSchedulerService.listJobs);
    expect(Object.keys(JobSchedulerServiceDefinition).sort()).toEqual(Object.keys(JobSchedulerService).sort());
  });
});
