// The `grpc-status-details-bin` trailer of a refusal over a quota: a google.rpc.Status whose
// details hold a google.rpc.RetryInfo (when to try again) and a google.rpc.QuotaFailure (which
// limit), as Google APIs and the gRPC richer error model send them. Encoded by hand: three
// small messages do not warrant the googleapis protos in src/gen.
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

function any(typeName: string, value: Uint8Array): Uint8Array {
  return new BinaryWriter()
    .tag(1, WireType.LengthDelimited).string(`type.googleapis.com/${typeName}`)
    .tag(2, WireType.LengthDelimited).bytes(value)
    .finish();
}

function retryInfo(delayMs: number): Uint8Array {
  const duration = new BinaryWriter()
    .tag(1, WireType.Varint).int64(Math.floor(delayMs / 1000))
    .tag(2, WireType.Varint).int32((delayMs % 1000) * 1_000_000)
    .finish();
  return new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(duration).finish();
}

function quotaFailure(subject: string, description: string): Uint8Array {
  const violation = new BinaryWriter()
    .tag(1, WireType.LengthDelimited).string(subject)
    .tag(2, WireType.LengthDelimited).string(description)
    .finish();
  return new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(violation).finish();
}

/** google.rpc.Status{code, message, details: [RetryInfo, QuotaFailure]}, serialized. */
export function quotaStatusDetails(code: number, message: string, retryAfterMs: number, subject: string): Buffer {
  const writer = new BinaryWriter()
    .tag(1, WireType.Varint).int32(code)
    .tag(2, WireType.LengthDelimited).string(message)
    .tag(3, WireType.LengthDelimited).bytes(any("google.rpc.RetryInfo", retryInfo(retryAfterMs)))
    .tag(3, WireType.LengthDelimited).bytes(any("google.rpc.QuotaFailure", quotaFailure(subject, message)));
  return Buffer.from(writer.finish());
}
