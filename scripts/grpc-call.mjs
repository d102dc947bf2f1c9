#!/usr/bin/env node
// grpcurl's common arguments, for machines without grpcurl; the schema comes from the server's
// reflection only (no .proto files):
//   node scripts/grpc-call.mjs -plaintext localhost:50054 list [service]
//   node scripts/grpc-call.mjs -plaintext localhost:50054 describe [symbol]
//   node scripts/grpc-call.mjs -plaintext [-d JSON|@] [-H 'name: value'] [-max-time SECONDS] \
//     localhost:50054 package.Service/Method
// As grpcurl: requests are strict proto3 JSON (durations "1800s", RFC 3339 timestamps, enums by
// name or number, unknown fields refused); each response prints as indented proto3 JSON with
// lowerCamelCase names and without default values (-keep-proto-names, -emit-defaults); TLS unless
// -plaintext; exit code 0, 1 (connection, reflection or request data), 2 (usage), or 64 + the
// status code of a failed call, whose code and message go to stderr. `-help` lists the flags.
// Unlike grpcurl, it sends the key in JOBSCHEDULER_API_KEY (as `authorization: Bearer`) when no
// -H header carries a credential; -v does not print it.
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, fromJsonString, toBinary, toJson } from "@bufbuild/protobuf";
import { describe, findSymbol } from "./grpc-call/describe.mjs";
import { parseArgs, usage, UsageError } from "./grpc-call/flags.mjs";
import { Reflection, ReflectionError, SymbolNotFound } from "./grpc-call/reflection.mjs";

const PROGRAM = "grpc-call.mjs";
const STATUS_EXIT_OFFSET = 64;
// grpcurl prints Go's names of the status codes.
const CODE_NAMES = [
  "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
  "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
  "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
];
const ERRNO_TEXT = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by peer",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network is unreachable",
  ETIMEDOUT: "connection timed out",
  ENOTFOUND: "no such host",
  EAI_AGAIN: "no such host",
};

// grpc-js names an IP address as the TLS server name, which Node warns about on every TLS dial.
process.noDeprecation = true;

/** An error grpcurl reports in one message and exit code 1. */
class Failure extends Error {}

async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\nTry '${PROGRAM} -help' for more details.\n`);
    return 2;
  }
  if (parsed.verb === "help") {
    process.stderr.write(usage(PROGRAM));
    return 0;
  }
  const { options, address, verb, symbol } = parsed;
  try {
    const client = new grpc.Client(address, channelCredentials(options), channelOptions(options));
    try {
      const session = new Session(client, address, options);
      if (verb === "list") return await list(session, symbol);
      if (verb === "describe") return await describeSymbols(session, symbol);
      return await invoke(session, symbol);
    } finally {
      client.close();
    }
  } catch (error) {
    if (!(error instanceof Failure)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
}

/** The connection, the deadlines and the reflection conversation of one command. */
class Session {
  constructor(client, address, options) {
    this.client = client;
    this.address = address;
    this.options = options;
    this.deadline = options["max-time"] ? Date.now() + options["max-time"] * 1000 : Infinity;
    // Until the channel is up, reflection calls also wait at most -connect-timeout (grpcurl's dial timeout).
    const connectBy = Date.now() + (options["connect-timeout"] || 10) * 1000;
    const callOptions = () => ({ deadline: this.connected() ? this.deadline : Math.min(this.deadline, connectBy) });
    this.reflection = new Reflection(client, withApiKey(metadata([...options.H, ...options["reflect-header"]])), callOptions);
  }

  connected() {
    return this.client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
  }

  /**
   * Runs a reflection step; its failures become grpcurl's messages, prefixed with `context`
   * (`notFound` when the server does not know the symbol asked for).
   */
  async reflect(context, step, notFound = `${context}: not found`) {
    try {
      return await step(this.reflection);
    } catch (error) {
      if (error instanceof SymbolNotFound) throw new Failure(notFound);
      if (error instanceof ReflectionError) throw new Failure(`${context}: ${error.message}`);
      if (typeof error?.code !== "number") throw error;
      if (!this.connected() && (error.code === grpc.status.UNAVAILABLE || error.code === grpc.status.DEADLINE_EXCEEDED)) {
        throw new Failure(`Failed to dial target host "${this.address}": ${dialCause(error)}`);
      }
      if (error.code === grpc.status.UNIMPLEMENTED) throw new Failure(`${context}: server does not support the reflection API`);
      if (error.code === grpc.status.DEADLINE_EXCEEDED) throw new Failure(`${context}: context deadline exceeded`);
      throw new Failure(`${context}: rpc error: code = ${CODE_NAMES[error.code]} desc = ${error.details}`);
    }
  }
}

/** grpc-js's "No connection established. Last error: ..." in a few words. */
function dialCause(error) {
  if (error.code === grpc.status.DEADLINE_EXCEEDED) return "context deadline exceeded";
  const last = (/Last error: (?:Error: )?([^\n]*?)(?: \(\d{4}-\d\d-\d\dT[^)]*\))?(?:\n|$)/.exec(error.details)?.[1] ?? error.details).trim();
  const tls = /SSL routines:[^:]*:([^:]+)/.exec(last)?.[1];
  if (tls === "wrong version number") return "TLS handshake failed: the server does not speak TLS (use -plaintext)";
  if (tls) return `TLS handshake failed: ${tls}`;
  return ERRNO_TEXT[/\b(E[A-Z_]+)\b/.exec(last)?.[1]] ?? last;
}

async function list(session, service) {
  if (!service) {
    const services = await session.reflect("Failed to list services", (r) => r.listServices());
    print(services.length ? services.join("\n") : "(No services)");
    return 0;
  }
  const context = `Failed to list methods for service "${service}"`;
  const registry = await session.reflect(context, (r) => r.registryFor(service), `${context}: Symbol not found: ${service}`);
  const methods = registry.getService(service)?.methods;
  if (!methods) throw new Failure(`${context}: Service not found: ${service}`);
  print(methods.map((m) => `${service}.${m.name}`).sort().join("\n"));
  return 0;
}

async function describeSymbols(session, symbol) {
  const symbols = symbol ? [symbol.replace(/^\./, "")] : await session.reflect("Failed to list services", (r) => r.listServices());
  if (symbols.length === 0) print("Server returned an empty list of exposed services");
  for (const name of symbols) {
    const context = `Failed to resolve symbol "${name}"`;
    const registry = await session.reflect(context, (r) => r.registryFor(name), `${context}: Symbol not found: ${name}`);
    const found = findSymbol(registry, name);
    if (!found) throw new Failure(`${context}: Symbol not found: ${name}`);
    print(describe(found));
  }
  return 0;
}

async function invoke(session, symbol) {
  const { options } = session;
  const separator = symbol.includes("/") ? symbol.lastIndexOf("/") : symbol.lastIndexOf(".");
  const serviceName = symbol.slice(0, Math.max(separator, 0));
  const methodName = symbol.slice(separator + 1);
  const context = `Error invoking method "${symbol}"`;
  const notExposed = `${context}: target server does not expose service "${serviceName}"`;
  const registry = await session.reflect(context, (r) => r.registryFor(serviceName), notExposed);
  const service = registry.getService(serviceName);
  if (!service) throw new Failure(notExposed);
  const method = service.methods.find((m) => m.name === methodName);
  if (!method) throw new Failure(`${context}: service "${serviceName}" does not include a method named "${methodName}"`);
  if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
    throw new Failure(`${context}: ${PROGRAM} calls unary and server-streaming methods only (${methodName} streams requests)`);
  }

  let request;
  try {
    const text = options.d === "@" ? readFileSync(0, "utf8") : (options.d ?? "");
    request = text.trim() === ""
      ? create(method.input)
      : fromJsonString(method.input, text, { registry, ignoreUnknownFields: options["allow-unknown-fields"] });
  } catch (error) {
    throw new Failure(`${context}: error getting request data: ${error.message}`);
  }

  const verbose = options.v;
  const requestMetadata = metadata([...options.H, ...options["rpc-header"]]);
  if (verbose) print(`\nResolved method descriptor:\n${describe(method).split("\n").slice(1).join("\n")}`);
  if (verbose) print(`\nRequest metadata to send:\n${metadataText(requestMetadata)}`);
  const status = await call(session, method, request, withApiKey(requestMetadata.clone()), (response) => {
    if (verbose) print("\nResponse contents:");
    print(JSON.stringify(toJson(method.output, response, {
      registry,
      alwaysEmitImplicit: options["emit-defaults"],
      useProtoFieldName: options["keep-proto-names"],
    }), null, 2));
  });
  if (verbose) print(`Sent 1 request and received ${status.responses} response${status.responses === 1 ? "" : "s"}`);
  if (status.code === grpc.status.OK) return 0;
  process.stderr.write(`ERROR:\n  Code: ${CODE_NAMES[status.code] ?? status.code}\n  Message: ${status.details}\n`);
  return STATUS_EXIT_OFFSET + status.code;
}

/** Makes the call; resolves with its final status once every response has been handed to `onResponse`. */
function call(session, method, request, requestMetadata, onResponse) {
  const { client, deadline, options } = session;
  const path = `/${method.parent.typeName}/${method.name}`;
  const serialize = (message) => Buffer.from(toBinary(method.input, message));
  const deserialize = (bytes) => fromBinary(method.output, bytes);
  return new Promise((resolve) => {
    let responses = 0;
    let status;
    let drained = false;
    const receive = (response) => {
      responses++;
      onResponse(response);
    };
    const settle = () => status && drained && resolve({ ...status, responses });
    let stream;
    if (method.methodKind === "unary") {
      stream = client.makeUnaryRequest(path, serialize, deserialize, request, requestMetadata, { deadline }, (error, response) => {
        if (!error) receive(response);
        drained = true;
        settle();
      });
    } else {
      stream = client.makeServerStreamRequest(path, serialize, deserialize, request, requestMetadata, { deadline });
      stream.on("data", receive);
      const drain = () => {
        drained = true;
        settle();
      };
      stream.on("end", drain);
      stream.on("error", drain);
    }
    stream.on("metadata", (headers) => {
      if (options.v) print(`\nResponse headers received:\n${metadataText(headers)}`);
    });
    stream.on("status", (final) => {
      if (options.v) print(`\nResponse trailers received:\n${metadataText(final.metadata)}`);
      status = { code: final.code, details: final.details };
      settle();
    });
  });
}

function channelCredentials(options) {
  if (options.plaintext) return grpc.credentials.createInsecure();
  const read = (file) => {
    if (!file) return null;
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Failure(`Failed to create TLS config: ${error.message}`);
    }
  };
  return grpc.credentials.createSsl(read(options.cacert), read(options.key), read(options.cert), {
    rejectUnauthorized: !options.insecure,
  });
}

function channelOptions(options) {
  const channel = { "grpc.primary_user_agent": PROGRAM };
  if (options.authority) {
    channel["grpc.default_authority"] = options.authority;
    if (!options.plaintext) channel["grpc.ssl_target_name_override"] = options.authority;
  }
  return channel;
}

/** grpcurl's -H 'name: value': the name trimmed and lower-cased, the value trimmed; -bin values are base64. */
function metadata(headers) {
  const result = new grpc.Metadata();
  for (const header of headers) {
    if (!header) continue;
    const colon = header.indexOf(":");
    const name = (colon < 0 ? header : header.slice(0, colon)).trim().toLowerCase();
    const value = colon < 0 ? "" : header.slice(colon + 1).trim();
    try {
      result.add(name, name.endsWith("-bin") ? Buffer.from(value, "base64") : value);
    } catch (error) {
      throw new Failure(`Invalid header "${header}": ${error.message}`);
    }
  }
  return result;
}

/** `md` with JOBSCHEDULER_API_KEY as `authorization: Bearer`, unless a header already carries a credential. */
function withApiKey(md) {
  const key = process.env.JOBSCHEDULER_API_KEY?.trim();
  if (key && md.get("authorization").length === 0 && md.get("x-api-key").length === 0) md.set("authorization", `Bearer ${key}`);
  return md;
}

function metadataText(md) {
  const entries = Object.entries(md.getMap()).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return "(empty)";
  return entries
    .flatMap(([name]) => md.get(name).map((value) => `${name}: ${Buffer.isBuffer(value) ? value.toString("base64") : value}`))
    .join("\n");
}

function print(text) {
  process.stdout.write(`${text}\n`);
}

process.exitCode = await main(process.argv.slice(2));
