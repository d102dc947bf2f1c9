// Seeded request mutations for the API fuzz test: on proto3 JSON, guided by the message
// descriptors (so a mutated value still has its field's type and encodes: the mutation reaches
// the server, not a client-side error), and on the encoded bytes (what no encoder produces).
import { ScalarType, type DescField, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

import { Rng } from "./rng.js";

export { Rng };

/** An independent stream per request: the same seed and index always make the same request. */
export function rngFor(seed: number, index: number): Rng {
  return new Rng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

const WEIRD_TEXT = [
  "", " ", "ключ", "é", "\u0000", "a\u0000b", "\u007f", "a\u007fb", "__proto__", "constructor", "toString",
  "\ud83d\ude00", "\ud800", "%", "%zz", "\r\n", "\"", "\\", "a b", "-", "..", "/", "a/b/c", "${x}", "'; DROP TABLE jobs; --",
];

/** A string that is odd in one of many ways; when `big`, sometimes huge (rarely 1 MiB, so the test stays fast). */
export function weirdString(rng: Rng, big = true): string {
  const roll = big ? rng.next() : 0.1 + rng.next() * 0.9;
  if (roll < 0.01) return rng.pick(["k", "ж", "\u0000"]).repeat(1 << 20);
  if (roll < 0.08) return rng.pick(["x", "é", "a,", "("]).repeat(1 + rng.int(70_000));
  if (roll < 0.2) return rng.pick(WEIRD_TEXT).repeat(1 + rng.int(300));
  return rng.pick(WEIRD_TEXT);
}

const INT32 = [0, -1, 1, 2147483647, -2147483648, 1000, 1001, -1001, 1000000, 1000001];
const UINT32 = [0, 1, 4294967295, 1000001];
const INT64 = ["0", "-1", "9007199254740991", "9007199254740992", "9007199254740993", "9223372036854775807", "-9223372036854775808", "-9007199254740993"];
const UINT64 = ["0", "1", "9007199254740992", "18446744073709551615"];
const DOUBLE: JsonValue[] = [0, -0, 1e308, -1e308, 5e-324, "NaN", "Infinity", "-Infinity", 0.5, 11, -1];
const DURATION = ["0s", "-1s", "0.000000001s", "-0.5s", "315576000000s", "-315576000000s", "86400s", "86401s", "3600.999999999s"];
const TIMESTAMP = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "1969-12-31T23:59:59Z"];

function scalarValue(rng: Rng, scalar: ScalarType, big: boolean): JsonValue {
  switch (scalar) {
    case ScalarType.STRING:
      return weirdString(rng, big);
    case ScalarType.BOOL:
      return rng.chance(0.5);
    case ScalarType.INT32: case ScalarType.SINT32: case ScalarType.SFIXED32:
      return rng.pick(INT32);
    case ScalarType.UINT32: case ScalarType.FIXED32:
      return rng.pick(UINT32);
    case ScalarType.INT64: case ScalarType.SINT64: case ScalarType.SFIXED64:
      return rng.pick(INT64);
    case ScalarType.UINT64: case ScalarType.FIXED64:
      return rng.pick(UINT64);
    case ScalarType.DOUBLE: case ScalarType.FLOAT:
      return rng.pick(DOUBLE);
    case ScalarType.BYTES:
      return Buffer.from(weirdString(rng).slice(0, 64)).toString("base64");
  }
}

function messageValue(rng: Rng, message: DescMessage, depth: number, big: boolean): JsonValue {
  if (message.typeName === "google.protobuf.Duration") return rng.pick(DURATION);
  if (message.typeName === "google.protobuf.Timestamp") return rng.pick(TIMESTAMP);
  if (message.typeName === "google.protobuf.Struct") return { [weirdString(rng, false)]: weirdString(rng, false) };
  const out: JsonObject = {};
  if (depth > 3) return out;
  for (const field of message.fields) if (rng.chance(0.3)) out[field.name] = fieldValue(rng, field, depth + 1, big);
  return out;
}

function singleValue(rng: Rng, field: DescField, depth: number, big: boolean): JsonValue {
  const kind = field.fieldKind === "list" ? field.listKind : field.fieldKind === "map" ? field.mapKind : field.fieldKind;
  if (kind === "enum") return rng.pick([99, -1, 2147483647, ...field.enum!.values.map((v) => v.number)]);
  if (kind === "message") return messageValue(rng, field.message!, depth, big);
  return scalarValue(rng, field.scalar!, big);
}

/**
 * A value of the field's type: odd scalars, unknown enum numbers, odd map keys, long lists and
 * maps. A request holds one huge thing at most: the elements of a long list or map are small.
 */
export function fieldValue(rng: Rng, field: DescField, depth = 0, big = true): JsonValue {
  if (field.fieldKind === "list") {
    const long = big && rng.chance(0.05);
    const n = long ? 1 + rng.int(3000) : rng.int(4);
    return Array.from({ length: n }, () => singleValue(rng, field, depth, big && !long));
  }
  if (field.fieldKind === "map") {
    const entries: JsonObject = {};
    const long = big && rng.chance(0.05);
    const n = long ? 1 + rng.int(2000) : 1 + rng.int(3);
    for (let i = 0; i < n; i++) {
      const key = field.mapKey === ScalarType.STRING ? `${weirdString(rng, big && !long)}${long ? i : ""}` : String(rng.pick(INT32));
      entries[key] = singleValue(rng, field, depth, big && !long);
    }
    return entries;
  }
  return singleValue(rng, field, depth, big);
}

interface Slot {
  container: JsonObject;
  field: DescField;
  /** The key the JSON holds it under (proto name or JSON name), or the proto name when absent. */
  key: string;
  present: boolean;
}

/** Every field of `json` (present or not) down through its messages. */
function slots(json: JsonObject, desc: DescMessage, out: Slot[] = []): Slot[] {
  for (const field of desc.fields) {
    const key = field.name in json ? field.name : field.jsonName in json ? field.jsonName : field.name;
    const value = json[key];
    out.push({ container: json, field, key, present: value !== undefined });
    if (field.fieldKind === "message" && value && typeof value === "object" && !Array.isArray(value) && !field.message.typeName.startsWith("google.protobuf.")) {
      slots(value as JsonObject, field.message, out);
    }
  }
  return out;
}

/** A deep copy of `json` with one to three fields dropped, replaced, added, or repeated. */
export function mutateJson(rng: Rng, desc: DescMessage, json: JsonObject): JsonObject {
  const copy = structuredClone(json);
  const rounds = 1 + rng.int(3);
  for (let i = 0; i < rounds; i++) {
    const all = slots(copy, desc);
    if (all.length === 0) break;
    const present = all.filter((s) => s.present);
    const slot = present.length && rng.chance(0.6) ? rng.pick(present) : rng.pick(all);
    const roll = rng.next();
    if (slot.present && roll < 0.2) {
      delete slot.container[slot.key];
    } else if (slot.present && roll < 0.3 && Array.isArray(slot.container[slot.key])) {
      const list = slot.container[slot.key] as JsonValue[];
      slot.container[slot.key] = list.length ? [...list, ...list, ...list] : [fieldValue(rng, slot.field)].flat();
    } else {
      // One oneof member at a time in JSON: setting another drops the one there.
      if (slot.field.oneof) for (const other of slot.field.oneof.fields) if (other !== slot.field) { delete slot.container[other.name]; delete slot.container[other.jsonName]; }
      slot.container[slot.key] = fieldValue(rng, slot.field);
    }
  }
  return copy;
}

/** Random bytes from `rng`. */
function randomBytes(rng: Rng, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => rng.int(256));
}

/** A field with a random number and wire type, holding an extreme or random payload. */
function strayField(rng: Rng): Uint8Array {
  const writer = new BinaryWriter();
  const fieldNo = rng.chance(0.8) ? 1 + rng.int(40) : 1 + rng.int(536_870_911);
  const wire = rng.pick([WireType.Varint, WireType.Varint, WireType.LengthDelimited, WireType.LengthDelimited, WireType.Bit64, WireType.Bit32, WireType.StartGroup, WireType.EndGroup, 6, 7] as WireType[]);
  writer.tag(fieldNo, wire);
  switch (wire) {
    case WireType.Varint: writer.uint64(rng.pick(["0", "1", "18446744073709551615", "9223372036854775808", "9007199254740993", "4294967295"])); break;
    case WireType.LengthDelimited: {
      // Often a message holding one varint: an int64 in a Duration, a Timestamp, or an enum.
      const inner = rng.chance(0.6) ? new BinaryWriter().tag(1 + rng.int(3), WireType.Varint).int64(rng.pick([2n ** 62n, -(2n ** 63n), 2n ** 53n, 10n ** 15n, -1n])).finish() : randomBytes(rng, rng.int(40));
      writer.bytes(inner);
      break;
    }
    case WireType.Bit64: writer.raw(randomBytes(rng, 8)); break;
    case WireType.Bit32: writer.raw(randomBytes(rng, 4)); break;
    default: writer.raw(randomBytes(rng, rng.int(8)));
  }
  return writer.finish();
}

/** `bytes` damaged: bits flipped, cut short, spliced with itself, stray fields, or replaced by noise. */
export function mutateBytes(rng: Rng, bytes: Uint8Array): Uint8Array {
  const roll = rng.next();
  if (roll < 0.1 || bytes.length === 0) return randomBytes(rng, rng.int(64));
  if (roll < 0.3) {
    const out = Uint8Array.from(bytes);
    for (let i = 0, n = 1 + rng.int(4); i < n; i++) out[rng.int(out.length)] ^= 1 << rng.int(8);
    return out;
  }
  if (roll < 0.45) return bytes.subarray(0, rng.int(bytes.length));
  if (roll < 0.6) {
    const at = rng.int(bytes.length + 1);
    return Buffer.concat([bytes.subarray(0, at), randomBytes(rng, 1 + rng.int(16)), bytes.subarray(at)]);
  }
  if (roll < 0.75) return Buffer.concat([bytes, bytes.subarray(rng.int(bytes.length))]);
  return Buffer.concat([bytes, ...Array.from({ length: 1 + rng.int(3) }, () => strayField(rng))]);
}
