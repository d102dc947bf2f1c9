// Requests written in proto3 JSON, encoded as grpcurl encodes them: with the real descriptors
// (protoc's descriptor set of proto/) and @bufbuild/protobuf's proto3 JSON rules, so "1s"
// durations, int64 strings, enum names and numbers and any map key reach the server as bytes.
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createFileRegistry, fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { ROOT, tempDir } from "./service.js";

function loadRegistry() {
  const dir = tempDir("jobscheduler-descriptors-");
  try {
    const out = join(dir, "set.binpb");
    execFileSync(process.execPath, [
      join(ROOT, "node_modules/protoc/protoc.cjs"), `--proto_path=${join(ROOT, "proto")}`, "--include_imports",
      `--descriptor_set_out=${out}`, "jobscheduler/v1/jobscheduler.proto",
    ]);
    return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(out)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let registry: ReturnType<typeof createFileRegistry> | undefined;

export function messageType(name: string): DescMessage {
  registry ??= loadRegistry();
  const type = registry.getMessage(name.includes(".") ? name : `jobscheduler.v1.${name}`);
  if (!type) throw new Error(`no message ${name}`);
  return type;
}

/** The request type of an RPC of jobscheduler.v1.JobScheduler. */
export function requestTypeOf(rpc: string): DescMessage {
  registry ??= loadRegistry();
  const service = registry.getService("jobscheduler.v1.JobScheduler")!;
  const method = service.methods.find((m) => m.name === rpc);
  if (!method) throw new Error(`no RPC ${rpc}`);
  return method.input;
}

/** proto3 JSON → protobuf bytes, as grpcurl -d sends it. Throws when the JSON does not fit the type. */
export function encodeJson(type: DescMessage | string, json: JsonValue): Uint8Array {
  const desc = typeof type === "string" ? messageType(type) : type;
  return toBinary(desc, fromJson(desc, json));
}

export function decodeToJson(type: DescMessage | string, bytes: Uint8Array): JsonValue {
  const desc = typeof type === "string" ? messageType(type) : type;
  return toJson(desc, fromBinary(desc, bytes));
}
