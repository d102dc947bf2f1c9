// Server reflection must describe the API exactly as protoc compiles it: strict clients
// (grpcurl, buf, Postman) build their schema from these descriptors, and read and write
// proto3 JSON with the field names they carry.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { create, createFileRegistry, fromBinary, toJson } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanup, ROOT, startService, tempDir, type TestService } from "./support/service.js";

let service: TestService;
let client: Client;
let scratch: string;

beforeAll(async () => {
  service = await startService();
  client = new Client(`127.0.0.1:${service.app.grpcPort}`, credentials.createInsecure());
  scratch = tempDir();
});

afterAll(async () => {
  client.close();
  await service.stop();
  cleanup(scratch);
});

/** The files one grpc.reflection.v1 request answers with (file_containing_symbol = 4, file_by_filename = 3). */
function reflect(field: 3 | 4, value: string): Promise<FileDescriptorProto[]> {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest(
      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
      (request: Uint8Array) => Buffer.from(request),
      (response: Buffer) => response,
      new Metadata(),
      {},
    );
    call.on("error", reject);
    call.on("data", (response: Buffer) => {
      const files: FileDescriptorProto[] = [];
      const reader = new BinaryReader(response);
      while (reader.pos < reader.len) {
        const [number, wireType] = reader.tag();
        if (number === 7) return reject(new Error(`reflection error for ${value}`));
        if (number !== 4) {
          reader.skip(wireType);
          continue;
        }
        const list = new BinaryReader(reader.bytes());
        while (list.pos < list.len) {
          list.tag();
          files.push(fromBinary(FileDescriptorProtoSchema, list.bytes()));
        }
      }
      call.end();
      resolve(files);
    });
    call.write(new BinaryWriter().tag(field, WireType.LengthDelimited).string(value).finish());
  });
}

function protocDescriptors(): FileDescriptorProto[] {
  const out = join(scratch, "set.binpb");
  execFileSync(process.execPath, [
    join(ROOT, "node_modules/protoc/protoc.cjs"),
    `--proto_path=${join(ROOT, "proto")}`,
    `--proto_path=${join(ROOT, "node_modules/grpc-health-check/proto")}`,
    "--include_imports",
    "--include_source_info",
    `--descriptor_set_out=${out}`,
    "jobscheduler/v1/jobscheduler.proto",
    "health/v1/health.proto",
  ]);
  return fromBinary(FileDescriptorSetSchema, readFileSync(out)).file;
}

const json = (file: FileDescriptorProto) => toJson(FileDescriptorProtoSchema, file);

describe("server reflection", () => {
  it("serves the FileDescriptorProtos protoc compiles, imports and comments included", async () => {
    const expected = protocDescriptors();
    const served = new Map<string, FileDescriptorProto>();
    for (const symbol of ["jobscheduler.v1.JobScheduler", "grpc.health.v1.Health"]) {
      for (const file of await reflect(4, symbol)) served.set(file.name, file);
    }
    for (const file of expected) {
      const byName = served.get(file.name) ?? (await reflect(3, file.name))[0];
      expect(byName && json(byName), file.name).toEqual(json(file));
    }
  });

  it("gives a schema a strict proto3 JSON reader accepts, with the proto's field names", async () => {
    const files = await reflect(4, "jobscheduler.v1.JobScheduler");
    const byName = new Map(files.map((file) => [file.name, file]));
    const ordered: FileDescriptorProto[] = [];
    const visit = (name: string) => {
      const file = byName.get(name);
      if (!file || ordered.includes(file)) return;
      file.dependency.forEach(visit);
      ordered.push(file);
    };
    files.forEach((file) => visit(file.name));
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
    const fields = registry.getMessage("jobscheduler.v1.ScheduleJobRequest")?.fields ?? [];
    const field = (name: string) => fields.find((f) => f.name === name);
    expect(field("idempotency_key")?.jsonName).toBe("idempotencyKey");
    expect(field("labels")?.fieldKind).toBe("map");
    expect(field("queue_timeout")?.message?.typeName).toBe("google.protobuf.Duration");
  });
});
