#!/usr/bin/env node
// A small grpcurl stand-in that works through server reflection (no .proto files):
//   node scripts/grpc-call.mjs [-d '{"json": "body"}'] [-H 'key: value'] host:port package.Service/Method
// Requests and responses use the protobuf JSON mapping (durations "2s", RFC 3339 timestamps).
// Server-streaming methods print one JSON document per message.
import * as grpc from "@grpc/grpc-js";
import { GrpcReflection } from "grpc-js-reflection-client";

const args = process.argv.slice(2);
let body = "{}";
const headers = [];
const positional = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "-d") body = args[++i];
  else if (args[i] === "-H") headers.push(args[++i]);
  else positional.push(args[i]);
}
const [address, fullMethod] = positional;
if (!address || !fullMethod || !fullMethod.includes("/")) {
  console.error("usage: grpc-call.mjs [-d JSON] [-H 'k: v'] host:port package.Service/Method");
  process.exit(2);
}
const [serviceName, methodName] = fullMethod.split("/");

const reflection = new GrpcReflection(address, grpc.credentials.createInsecure());
const descriptor = await reflection.getDescriptorBySymbol(serviceName);
const root = descriptor.getProtobufJsRoot();
const service = root.lookupService(serviceName);
const method = service.methods[methodName] ?? Object.values(service.methods).find((m) => m.name.toLowerCase() === methodName.toLowerCase());
if (!method) {
  console.error(`${serviceName} has no method ${methodName}; it has: ${Object.keys(service.methods).join(", ")}`);
  process.exit(2);
}
method.resolve();
const requestType = method.resolvedRequestType;
const responseType = method.resolvedResponseType;

function fromJson(type, json) {
  switch (type.fullName) {
    case ".google.protobuf.Duration": {
      const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(json);
      if (!m) throw new Error(`"${json}" is not a duration like "2s"`);
      const sign = m[1] ? -1 : 1;
      return { seconds: sign * Number(m[2]), nanos: sign * Number((m[3] ?? "").padEnd(9, "0")) };
    }
    case ".google.protobuf.Timestamp": {
      const ms = Date.parse(json);
      if (Number.isNaN(ms)) throw new Error(`"${json}" is not an RFC 3339 timestamp`);
      return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
    }
    case ".google.protobuf.Struct":
      return { fields: Object.fromEntries(Object.entries(json).map(([k, v]) => [k, valueFromJson(v)])) };
  }
  const out = {};
  for (const [key, value] of Object.entries(json)) {
    const field = type.fields[key] ?? Object.values(type.fields).find((f) => f.name === key || snake(f.name) === key || f.name === camel(key));
    if (!field) throw new Error(`${type.name} has no field "${key}"`);
    field.resolve();
    const convert = (v) => (field.resolvedType && field.resolvedType.fields ? fromJson(field.resolvedType, v) : v);
    if (field.map) out[field.name] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v)]));
    else if (field.repeated) out[field.name] = value.map(convert);
    else out[field.name] = convert(value);
  }
  return type.fromObject(out);
}

function valueFromJson(v) {
  if (v === null) return { nullValue: 0 };
  if (typeof v === "number") return { numberValue: v };
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(valueFromJson) } };
  return { structValue: { fields: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, valueFromJson(x)])) } };
}

function valueToJson(v) {
  if (v.structValue) return Object.fromEntries(Object.entries(v.structValue.fields ?? {}).map(([k, x]) => [k, valueToJson(x)]));
  if (v.listValue) return (v.listValue.values ?? []).map(valueToJson);
  if ("numberValue" in v) return v.numberValue;
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  return null;
}

function toJson(type, message) {
  const object = type.toObject(message, { longs: Number, enums: String, defaults: false });
  return convertOut(type, object);
}

function convertOut(type, object) {
  switch (type.fullName) {
    case ".google.protobuf.Duration":
      return `${Number(object.seconds ?? 0) + (object.nanos ?? 0) / 1e9}s`;
    case ".google.protobuf.Timestamp":
      return new Date(Number(object.seconds ?? 0) * 1000 + (object.nanos ?? 0) / 1e6).toISOString();
    case ".google.protobuf.Struct":
      return Object.fromEntries(Object.entries(object.fields ?? {}).map(([k, x]) => [k, valueToJson(x)]));
  }
  const out = {};
  for (const [key, value] of Object.entries(object)) {
    const field = type.fields[key];
    if (!field) continue;
    field.resolve();
    const convert = (v) => (field.resolvedType && field.resolvedType.fields ? convertOut(field.resolvedType, v) : v);
    const name = camel(field.name);
    if (field.map) out[name] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convert(v)]));
    else if (field.repeated) out[name] = value.map(convert);
    else out[name] = convert(value);
  }
  return out;
}

function snake(s) {
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
function camel(s) {
  return s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

const request = fromJson(requestType, JSON.parse(body));
const metadata = new grpc.Metadata();
for (const header of headers) {
  const [k, ...rest] = header.split(":");
  metadata.set(k.trim().toLowerCase(), rest.join(":").trim());
}
const client = new grpc.Client(address, grpc.credentials.createInsecure());
const path = `/${serviceName}/${method.name}`;
const serialize = (m) => Buffer.from(requestType.encode(m).finish());
const deserialize = (b) => responseType.decode(b);
const print = (m) => console.log(JSON.stringify(toJson(responseType, m), null, 2));
const fail = (error) => {
  console.error(`ERROR:\n  Code: ${grpc.status[error.code] ?? error.code}\n  Message: ${error.details ?? error.message}`);
  process.exit(1);
};

if (method.responseStream) {
  const call = client.makeServerStreamRequest(path, serialize, deserialize, request, metadata);
  call.on("data", print);
  call.on("error", fail);
  call.on("end", () => client.close());
} else {
  client.makeUnaryRequest(path, serialize, deserialize, request, metadata, (error, response) => {
    if (error) fail(error);
    print(response);
    client.close();
  });
}
