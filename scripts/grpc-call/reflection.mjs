// A gRPC server reflection client (grpc.reflection.v1, falling back to v1alpha as grpcurl
// does) that turns what the server describes into a @bufbuild/protobuf FileRegistry, so
// requests and responses can be read and written with the proto3 JSON mapping.
// The reflection messages are small and stable, so they are encoded by hand on the wire.
import * as grpc from "@grpc/grpc-js";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as wkt from "@bufbuild/protobuf/wkt";

const VERSIONS = ["grpc.reflection.v1", "grpc.reflection.v1alpha"];

// ServerReflectionRequest fields.
const FILE_BY_FILENAME = 3;
const FILE_CONTAINING_SYMBOL = 4;
const LIST_SERVICES = 7;
// ServerReflectionResponse fields.
const FILE_DESCRIPTOR_RESPONSE = 4;
const LIST_SERVICES_RESPONSE = 6;
const ERROR_RESPONSE = 7;

/** The well-known types, for servers that do not serve the files they import (grpcurl tolerates that too). */
const WELL_KNOWN_FILES = new Map(
  Object.values(wkt)
    .filter((value) => value?.kind === "file")
    .map((file) => [file.proto.name, file.proto]),
);

/** A reflection error the server answered (error_response), or a file it does not serve. */
export class ReflectionError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** The server knows no file containing the symbol asked for. */
export class SymbolNotFound extends ReflectionError {}

function encodeRequest(field, value) {
  return new BinaryWriter().tag(field, WireType.LengthDelimited).string(value).finish();
}

function decodeResponse(bytes) {
  const reader = new BinaryReader(bytes);
  const response = {};
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === FILE_DESCRIPTOR_RESPONSE) response.files = readRepeatedBytes(reader.bytes(), 1);
    else if (field === LIST_SERVICES_RESPONSE) {
      response.services = readRepeatedBytes(reader.bytes(), 1).map((service) => readRepeatedBytes(service, 1).map(utf8).at(-1) ?? "");
    } else if (field === ERROR_RESPONSE) response.error = readError(reader.bytes());
    else reader.skip(wireType);
  }
  return response;
}

function readRepeatedBytes(bytes, wanted) {
  const reader = new BinaryReader(bytes);
  const values = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === wanted && wireType === WireType.LengthDelimited) values.push(reader.bytes());
    else reader.skip(wireType);
  }
  return values;
}

function readError(bytes) {
  const reader = new BinaryReader(bytes);
  const error = { code: 0, message: "" };
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) error.code = reader.int32();
    else if (field === 2) error.message = reader.string();
    else reader.skip(wireType);
  }
  return error;
}

function utf8(bytes) {
  return new TextDecoder().decode(bytes);
}

/**
 * One reflection conversation with a server: `client` is a grpc.Client whose channel is
 * reused for the call itself; `callOptions()` gives the deadline of each stream.
 */
export class Reflection {
  #client;
  #metadata;
  #callOptions;
  #version;
  /** File name → FileDescriptorProto, as the server described them. */
  #files = new Map();

  constructor(client, metadata, callOptions) {
    this.#client = client;
    this.#metadata = metadata;
    this.#callOptions = callOptions;
  }

  async listServices() {
    const { services } = await this.#ask(LIST_SERVICES, "*");
    return [...services].sort();
  }

  /** The registry holding `symbol` (a service, method, message, enum or field) and everything it needs. */
  async registryFor(symbol) {
    const { files } = await this.#ask(FILE_CONTAINING_SYMBOL, symbol).catch((error) => {
      throw error instanceof ReflectionError && error.code === grpc.status.NOT_FOUND ? new SymbolNotFound(error.code, error.message) : error;
    });
    const names = files.map((bytes) => this.#add(bytes));
    const ordered = [];
    const seen = new Set();
    for (const name of names) {
      await this.#fetchDependencies(name);
      this.#closure(name, ordered, seen);
    }
    return createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
  }

  #add(bytes) {
    const file = fromBinary(FileDescriptorProtoSchema, bytes);
    if (!this.#files.has(file.name)) this.#files.set(file.name, file);
    return file.name;
  }

  async #fetchDependencies(name, seen = new Set()) {
    if (seen.has(name)) return;
    seen.add(name);
    if (!this.#files.has(name)) {
      try {
        const { files } = await this.#ask(FILE_BY_FILENAME, name);
        for (const bytes of files) this.#add(bytes);
      } catch (error) {
        if (!(error instanceof ReflectionError) || !WELL_KNOWN_FILES.has(name)) throw error;
        this.#files.set(name, WELL_KNOWN_FILES.get(name));
      }
    }
    for (const dependency of this.#files.get(name)?.dependency ?? []) await this.#fetchDependencies(dependency, seen);
  }

  /** `name` and its transitive imports, dependencies first. */
  #closure(name, out = [], seen = new Set()) {
    if (seen.has(name)) return out;
    seen.add(name);
    const file = this.#files.get(name) ?? WELL_KNOWN_FILES.get(name);
    if (!file) throw new ReflectionError(grpc.status.NOT_FOUND, `File not found: ${name}`);
    for (const dependency of file.dependency) this.#closure(dependency, out, seen);
    out.push(file);
    return out;
  }

  async #ask(field, value) {
    const versions = this.#version ? [this.#version] : VERSIONS;
    for (const version of versions) {
      try {
        const response = await this.#exchange(version, encodeRequest(field, value));
        this.#version = version;
        if (response.error) throw new ReflectionError(response.error.code, response.error.message);
        return response;
      } catch (error) {
        if (error.code === grpc.status.UNIMPLEMENTED && !this.#version && version !== versions.at(-1)) continue;
        throw error;
      }
    }
    throw new Error("unreachable");
  }

  #exchange(version, request) {
    return new Promise((resolve, reject) => {
      const call = this.#client.makeBidiStreamRequest(
        `/${version}.ServerReflection/ServerReflectionInfo`,
        (bytes) => Buffer.from(bytes),
        (buffer) => decodeResponse(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)),
        this.#metadata,
        this.#callOptions(),
      );
      let answer;
      call.on("data", (response) => {
        answer ??= response;
        call.end();
      });
      call.on("error", reject);
      call.on("end", () => (answer ? resolve(answer) : reject(new Error("the reflection stream ended without an answer"))));
      call.write(request);
    });
  }
}
