// Request bytes → request messages, for every RPC of the service, without ever throwing: grpc-js
// answers a deserializer that throws with INTERNAL ("Error deserializing request"), so bytes
// that are no valid message of the RPC's request type come out as an UndecodableRequest, which
// the RPC layer (rpc.ts) answers with INVALID_ARGUMENT instead of calling the handler.
import type { MethodDefinition } from "@grpc/grpc-js";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { InvalidField } from "../jobs/errors.js";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function saturate(value: bigint | string): bigint {
  const big = BigInt(value);
  return big > MAX_SAFE ? MAX_SAFE : big < -MAX_SAFE ? -MAX_SAFE : big;
}

/**
 * The generated codecs' reader, with two changes:
 * - 64-bit integers beyond ±(2^53 - 1) read as ±(2^53 - 1). The codecs are generated with
 *   forceLong=number and throw on such values; every 64-bit field a request carries (WatchJob's
 *   after_sequence, the seconds of a Duration or Timestamp) is bounded far below that, so the
 *   saturated value fails the field's own range check, which names the field.
 * - strings must be valid UTF-8 (proto3 requires it), rather than getting U+FFFD in place of
 *   the bad bytes.
 */
class RequestReader extends BinaryReader {
  override int64(): bigint { return saturate(super.int64()); }
  override uint64(): bigint { return saturate(super.uint64()); }
  override sint64(): bigint { return saturate(super.sint64()); }
  override fixed64(): bigint { return saturate(super.fixed64()); }
  override sfixed64(): bigint { return saturate(super.sfixed64()); }
  override string(): string { return super.string(true); }
}

/** Stands in for the request when its bytes are not a valid message; `error` is the answer. */
export class UndecodableRequest {
  constructor(readonly error: InvalidField) {}
}

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
const MIN_TIMESTAMP_MS = -62_135_596_800_000;
const MAX_TIMESTAMP_MS = 253_402_300_799_999;

const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The path of the first Timestamp in `value` outside google.protobuf.Timestamp's range (the
 * codecs turn Timestamps into Dates, which are Invalid Dates past ±8.64e15 ms), or null.
 * A oneof ({$case, value}) is named by its member, as in the request's JSON form.
 */
function badTimestampPath(value: unknown, path: string): string | null {
  if (value instanceof Date) {
    const ms = value.getTime();
    return ms >= MIN_TIMESTAMP_MS && ms <= MAX_TIMESTAMP_MS ? null : path;
  }
  if (typeof value !== "object" || value === null) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = typeof value[i] === "object" ? badTimestampPath(value[i], `${path}[${i}]`) : null;
      if (found) return found;
    }
    return null;
  }
  for (const [key, member] of Object.entries(value)) {
    if (typeof member !== "object" || member === null) continue;
    const oneof = "$case" in member && "value" in member;
    const name = snakeCase(oneof ? String(member.$case) : key);
    const found = badTimestampPath(oneof ? member.value : member, path ? `${path}.${name}` : name);
    if (found) return found;
  }
  return null;
}

/** A deserializer for `rpc` that returns the decoded request or an UndecodableRequest, never throwing. */
export function safeRequestDeserializer<Req>(rpc: string, decode: (bytes: Buffer) => Req): (bytes: Buffer) => Req | UndecodableRequest {
  const invalid = (problem: string) => new UndecodableRequest(new InvalidField("request", `is not a valid protobuf message for ${rpc} (${problem})`));
  return (bytes) => {
    const reader = new RequestReader(bytes);
    let message: Req;
    try {
      // The generated decode takes a reader as well as bytes (the type says Buffer).
      message = decode(reader as unknown as Buffer);
    } catch (error) {
      return invalid(error instanceof Error ? error.message : String(error));
    }
    // The codecs stop quietly at a tag of field 0 or an end-group: what follows is not part of any field.
    if (reader.pos !== reader.len) return invalid(`unexpected bytes at offset ${reader.pos}`);
    const timestamp = badTimestampPath(message, "");
    if (timestamp) {
      return new UndecodableRequest(new InvalidField(timestamp, "is not a valid timestamp (google.protobuf.Timestamp spans 0001-01-01 to 9999-12-31)"));
    }
    return message;
  };
}

/** `definition` with every method's request deserializer made safe (see safeRequestDeserializer). */
export function withSafeRequestDecoding<D extends Record<string, MethodDefinition<any, any>>>(definition: D): D {
  return Object.fromEntries(
    Object.entries(definition).map(([name, method]: [string, MethodDefinition<unknown, unknown>]) => [
      name,
      { ...method, requestDeserialize: safeRequestDeserializer(method.path.split("/").pop()!, method.requestDeserialize) },
    ]),
  ) as D;
}
