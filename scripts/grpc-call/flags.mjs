// grpcurl's command line, parsed as Go's flag package parses it: flags come first ("-name",
// "--name", "-name=value" or "-name value"; booleans only take "=value"), the first argument
// that is not a flag ends them, then `[address] [list|describe] [symbol]` or `address symbol`.

/** The grpcurl flags grpc-call.mjs understands; any other is refused as grpcurl refuses unknown flags. */
export const FLAGS = {
  plaintext: { kind: "bool", help: "Use plain-text HTTP/2 (no TLS)." },
  insecure: { kind: "bool", help: "Skip server certificate verification (TLS only)." },
  cacert: { kind: "string", help: "File of trusted root certificates (PEM) for verifying the server." },
  cert: { kind: "string", help: "Client certificate (PEM), with -key." },
  key: { kind: "string", help: "Client private key (PEM), with -cert." },
  authority: { kind: "string", help: "Value of the :authority pseudo-header (and the TLS server name)." },
  d: { kind: "string", help: "Request as proto3 JSON; '@' reads it from stdin. Absent: an empty request." },
  H: { kind: "list", help: "Header 'name: value', for reflection and the call (repeatable)." },
  "rpc-header": { kind: "list", help: "Header 'name: value' for the call only (repeatable)." },
  "reflect-header": { kind: "list", help: "Header 'name: value' for reflection requests only (repeatable)." },
  "max-time": { kind: "float", help: "Deadline of the whole operation, in seconds." },
  "connect-timeout": { kind: "float", help: "How long to wait for the connection, in seconds (default 10)." },
  format: { kind: "string", help: "Request and response format: only 'json' (grpcurl also has 'text')." },
  "emit-defaults": { kind: "bool", help: "Print fields with default values too." },
  "keep-proto-names": { kind: "bool", help: "Print the proto field names instead of lowerCamelCase." },
  "allow-unknown-fields": { kind: "bool", help: "Ignore unknown fields in the request JSON." },
  v: { kind: "bool", help: "Verbose: the method, request metadata, response headers and trailers." },
  help: { kind: "bool", help: "Print this help." },
};

/** A command line grpcurl would refuse (exit code 2, as Go's flag package and grpcurl use). */
export class UsageError extends Error {}

export function parseArgs(argv) {
  const options = { H: [], "rpc-header": [], "reflect-header": [], format: "json" };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    const [, name, inline] = /^--?([^=]*)(?:=(.*))?$/s.exec(arg);
    const flag = FLAGS[name];
    if (!flag) throw new UsageError(`flag provided but not defined: -${name}`);
    if (flag.kind === "bool") {
      if (inline !== undefined && !/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(inline)) {
        throw new UsageError(`invalid boolean value "${inline}" for -${name}: parse error`);
      }
      options[name] = inline === undefined || /^(1|t|T|TRUE|true|True)$/.test(inline);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: -${name}`);
      value = argv[++i];
    }
    if (flag.kind === "list") options[name].push(value);
    else if (flag.kind === "float") {
      const number = Number(value);
      if (value.trim() === "" || !Number.isFinite(number)) throw new UsageError(`invalid value "${value}" for flag -${name}: parse error`);
      if (number < 0) throw new UsageError(`The -${name} argument must not be negative.`);
      options[name] = number;
    } else options[name] = value;
  }
  if (options.help) return { options, verb: "help" };
  if (options.format !== "json") throw new UsageError(`The -format option must be 'json' (grpc-call.mjs does not read or print the text format).`);
  if (options.insecure && options.plaintext) throw new UsageError("The -insecure argument can only be used with TLS.");
  if ((options.cert || options.key) && options.plaintext) throw new UsageError("The -cert and -key arguments can only be used with TLS.");
  if (Boolean(options.cert) !== Boolean(options.key)) throw new UsageError("The -cert and -key arguments must be used together and both be present.");

  const args = argv.slice(i);
  const address = args[0] === "list" || args[0] === "describe" ? undefined : args.shift();
  if (args.length === 0) throw new UsageError("Too few arguments.");
  const verb = args[0] === "list" || args[0] === "describe" ? args.shift() : "invoke";
  const symbol = args.shift();
  if (verb === "invoke" && !symbol) throw new UsageError("Too few arguments.");
  if (args.length > 0) throw new UsageError("Too many arguments.");
  if (!address) throw new UsageError("No host:port specified (grpc-call.mjs reads the schema from the server's reflection only).");
  if (verb !== "invoke" && options.d !== undefined) process.stderr.write("Warning: The -d argument is not used with 'list' or 'describe' verb.\n");
  return { options, address, verb, symbol };
}

export function usage(program) {
  const width = Math.max(...Object.keys(FLAGS).map((name) => name.length)) + 3;
  const lines = Object.entries(FLAGS).map(([name, flag]) => {
    const argument = flag.kind === "bool" ? "" : flag.kind === "float" ? " seconds" : " value";
    return `  -${(name + argument).padEnd(width + 8)} ${flag.help}`;
  });
  return [
    `Usage: ${program} [flags] address [list|describe] [symbol]`,
    `       ${program} [flags] address service/Method`,
    "",
    "grpcurl's arguments, through server reflection. Without -plaintext it connects with TLS, as grpcurl does.",
    "Flags:",
    ...lines,
    "",
  ].join("\n");
}
