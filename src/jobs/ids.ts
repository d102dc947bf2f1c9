import { randomBytes } from "node:crypto";

// The last id's millisecond and 12-bit sequence (RFC 9562's rand_a used as a counter), so the ids
// of one process sort in the order they were made, also within a millisecond: the queue's
// "first in, first out within a priority" orders by (created_at, id).
let lastMs = -1;
let sequence = 0;

/** A UUIDv7: time-ordered, and strictly increasing across the calls of this process. */
export function newJobId(now = Date.now()): string {
  let ms = Math.max(0, Math.floor(now));
  const bytes = randomBytes(16);
  if (ms > lastMs) {
    // A random start below half the range leaves room for 2048+ ids in the same millisecond.
    sequence = bytes.readUInt16BE(6) & 0x7ff;
  } else {
    ms = lastMs;
    sequence += 1;
    if (sequence > 0xfff) {
      // More ids in one millisecond than the counter holds: borrow the next millisecond.
      ms += 1;
      sequence = 0;
    }
  }
  lastMs = ms;
  bytes.writeUIntBE(ms, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8] & 0x3f);
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
