// `describe <symbol>`: a service, method, message, enum or field printed as proto source
// with its leading comments, as grpcurl prints it ("<name> is a service:" and the element).
const SCALARS = {
  1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32", 8: "bool",
  9: "string", 10: "group", 11: "message", 12: "bytes", 13: "uint32", 14: "enum", 15: "sfixed32",
  16: "sfixed64", 17: "sint32", 18: "sint64",
};

/** Finds `symbol` in the registry: "pkg.Service", "pkg.Service.Method", "pkg.Message", "pkg.Message.field", "pkg.Enum". */
export function findSymbol(registry, symbol) {
  const name = symbol.replace(/^\./, "");
  const found = registry.get(name);
  if (found) return found;
  const dot = name.lastIndexOf(".");
  const parent = dot > 0 ? registry.get(name.slice(0, dot)) : undefined;
  const member = name.slice(dot + 1);
  if (parent?.kind === "service") return parent.methods.find((m) => m.name === member);
  if (parent?.kind === "message") return parent.fields.find((f) => f.name === member);
  return undefined;
}

const KINDS = { service: "a service", rpc: "a method", message: "a message", enum: "an enum", field: "a field" };

export function describe(desc) {
  return `${desc.typeName ?? fullName(desc)} is ${KINDS[desc.kind]}:\n${print(desc, "").join("\n")}`;
}

function fullName(desc) {
  return `${desc.parent.typeName}.${desc.name}`;
}

function print(desc, indent) {
  const lines = comments(desc, indent);
  switch (desc.kind) {
    case "service":
      lines.push(`${indent}service ${desc.name} {`);
      for (const method of desc.methods) lines.push(...print(method, `${indent}  `));
      lines.push(`${indent}}`);
      break;
    case "rpc": {
      const stream = (yes) => (yes ? "stream " : "");
      const client = desc.methodKind === "client_streaming" || desc.methodKind === "bidi_streaming";
      const server = desc.methodKind === "server_streaming" || desc.methodKind === "bidi_streaming";
      lines.push(`${indent}rpc ${desc.name} ( ${stream(client)}.${desc.input.typeName} ) returns ( ${stream(server)}.${desc.output.typeName} );`);
      break;
    }
    case "message":
      lines.push(`${indent}message ${desc.name} {`);
      for (const member of desc.members) {
        if (member.kind === "field") lines.push(...print(member, `${indent}  `));
        else {
          lines.push(...comments(member, `${indent}  `), `${indent}  oneof ${member.name} {`);
          for (const field of member.fields) lines.push(...print(field, `${indent}    `));
          lines.push(`${indent}  }`);
        }
      }
      for (const nested of [...desc.nestedMessages.filter((m) => !m.proto.options?.mapEntry), ...desc.nestedEnums]) {
        lines.push(...print(nested, `${indent}  `));
      }
      lines.push(`${indent}}`);
      break;
    case "enum":
      lines.push(`${indent}enum ${desc.name} {`);
      for (const value of desc.values) lines.push(...comments(value, `${indent}  `), `${indent}  ${value.name} = ${value.number};`);
      lines.push(`${indent}}`);
      break;
    case "field":
      lines.push(`${indent}${fieldType(desc)} ${desc.name} = ${desc.number};`);
      break;
  }
  return lines;
}

function fieldType(field) {
  const single = (proto) => (proto.type === 11 || proto.type === 14 ? proto.typeName : SCALARS[proto.type]);
  if (field.fieldKind === "map") {
    // ScalarType numbers are FieldDescriptorProto.Type numbers.
    const value = field.mapKind === "scalar" ? SCALARS[field.scalar] : `.${(field.message ?? field.enum).typeName}`;
    return `map<${SCALARS[field.mapKey]}, ${value}>`;
  }
  if (field.fieldKind === "list") return `repeated ${single(field.proto)}`;
  return `${field.proto.proto3Optional ? "optional " : ""}${single(field.proto)}`;
}

/** The element's leading comments from the file's source info, as `//` lines. */
function comments(desc, indent) {
  const path = sourcePath(desc);
  const location = path && fileOf(desc).proto.sourceCodeInfo?.location.find((l) => l.path.join(".") === path.join("."));
  const text = location?.leadingComments?.replace(/\n$/, "");
  return text ? text.split("\n").map((line) => `${indent}//${line}`) : [];
}

function fileOf(desc) {
  return desc.file ?? fileOf(desc.parent);
}

// Paths as descriptor.proto numbers them: FileDescriptorProto.message_type = 4, enum_type = 5,
// service = 6; DescriptorProto.field = 2, nested_type = 3, enum_type = 4, oneof_decl = 8;
// EnumDescriptorProto.value = 2; ServiceDescriptorProto.method = 2.
function sourcePath(desc) {
  const within = (parent, list, number) => {
    const base = sourcePath(parent);
    return base && [...base, number, list.indexOf(desc.proto)];
  };
  switch (desc.kind) {
    case "service":
      return [6, fileOf(desc).proto.service.indexOf(desc.proto)];
    case "rpc":
      return within(desc.parent, desc.parent.proto.method, 2);
    case "message":
      return desc.parent ? within(desc.parent, desc.parent.proto.nestedType, 3) : [4, fileOf(desc).proto.messageType.indexOf(desc.proto)];
    case "enum":
      return desc.parent ? within(desc.parent, desc.parent.proto.enumType, 4) : [5, fileOf(desc).proto.enumType.indexOf(desc.proto)];
    case "field":
      return desc.parent ? within(desc.parent, desc.parent.proto.field, 2) : undefined;
    case "oneof":
      return within(desc.parent, desc.parent.proto.oneofDecl, 8);
    case "enum_value":
      return within(desc.parent, desc.parent.proto.value, 2);
    default:
      return undefined;
  }
}
