// What server reflection serves: the FileDescriptorProtos protoc compiled (src/gen/descriptors.ts),
// not the ones @grpc/proto-loader rebuilds through protobufjs. Those rename fields to camelCase,
// use relative type names, misname map entries and declare no imports, so strict clients (grpcurl,
// buf, Postman) cannot build a schema from them, or reject snake_case JSON fields.
import type { PackageDefinition, ProtobufTypeDefinition } from "@grpc/proto-loader";
import { FILE_DESCRIPTOR_PROTOS } from "../gen/descriptors.js";

export function reflectionPackageDefinition(): PackageDefinition {
  const files: ProtobufTypeDefinition = {
    format: "FileDescriptorProtos",
    type: {},
    fileDescriptorProtos: FILE_DESCRIPTOR_PROTOS.map((file) => Buffer.from(file, "base64")),
  };
  // @grpc/reflection reads only fileDescriptorProtos from the entries, and indexes every
  // service, message and enum of those files itself: one entry that is no real type suffices.
  return { "": files } as PackageDefinition;
}
