// API_KEYS_FILE: keys declared by the deployment (a Kubernetes Secret mounted as a file), a
// JSON array of
//   {"name": "hub", "role": "submitter", "key": "jsk_<id>_<secret>"}                  (plain)
//   {"name": "ops", "role": "operator", "id": "<id>", "sha256": "<hex of the key's SHA-256>"}
// with optional "team", "allowInlineScripts" and "expireTime" (RFC 3339). Read at start-up
// and held in memory only: the file is their record (to revoke one, remove it and restart).
// A problem stops the start-up with `API_KEYS_FILE: [i] (name): <field>: <problem>`; a
// key's text is never part of a message.
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { ApiKeyRecord } from "../store/auth-store.js";
import { hashApiKey, KEY_ID, parseApiKey } from "./api-key.js";
import { ROLES } from "./permissions.js";

export class KeysFileError extends Error {}

const printable = (max: number) => z.string().min(1, "is required").max(max, `must be at most ${max} characters`).regex(/^[\x20-\x7e]+$/, "must be printable ASCII");

const entry = z
  .strictObject({
    name: printable(100),
    role: z.enum(ROLES as [string, ...string[]], { error: `must be one of ${ROLES.join(", ")}` }),
    team: printable(100).optional(),
    allowInlineScripts: z.boolean().optional(),
    expireTime: z.iso.datetime({ offset: true, error: "must be an RFC 3339 time, e.g. 2027-01-01T00:00:00Z" }).optional(),
    // Never echoed: the refinements say what is wrong, not what was given.
    key: z.string().refine((text) => parseApiKey(text) !== null, "must be jsk_<id>_<secret> (id 6-32 of [0-9a-z], secret 22+ base64url characters)").optional(),
    id: z.string().regex(KEY_ID, "must be 6-32 characters of [0-9a-z]").optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits").optional(),
  })
  .superRefine((value, ctx) => {
    if (value.key !== undefined && (value.id !== undefined || value.sha256 !== undefined)) {
      ctx.addIssue({ code: "custom", path: ["key"], message: "give either key, or id and sha256, not both" });
    } else if (value.key === undefined && (value.id === undefined || value.sha256 === undefined)) {
      ctx.addIssue({ code: "custom", path: [value.id === undefined ? "id" : "sha256"], message: "is required (or give the plain key)" });
    }
  });

/** The declared keys as records (source "file"). */
export function parseKeysFile(text: string, now: number): ApiKeyRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text, which holds keys.
    throw new KeysFileError("API_KEYS_FILE: must be a JSON array of keys");
  }
  if (!Array.isArray(value)) throw new KeysFileError("API_KEYS_FILE: must be a JSON array of keys");
  const seen = new Map<string, number>();
  return value.map((item, i) => {
    const parsed = entry.safeParse(item);
    const name = typeof item?.name === "string" ? ` (${item.name.slice(0, 100)})` : "";
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new KeysFileError(`API_KEYS_FILE: [${i}]${name}: ${issue.path.join(".") || "entry"}: ${issue.message}`);
    }
    const declared = parsed.data;
    const id = declared.key !== undefined ? parseApiKey(declared.key)!.id : declared.id!;
    const earlier = seen.get(id);
    if (earlier !== undefined) throw new KeysFileError(`API_KEYS_FILE: [${i}]${name}: key id ${id} is declared twice (also [${earlier}])`);
    seen.set(id, i);
    return {
      id,
      name: declared.name,
      role: declared.role,
      team: declared.team ?? null,
      allowInlineScripts: declared.allowInlineScripts ?? false,
      keyHash: declared.key !== undefined ? hashApiKey(declared.key) : declared.sha256!,
      source: "file",
      createdBy: null,
      createdAt: now,
      expiresAt: declared.expireTime === undefined ? null : Date.parse(declared.expireTime),
      lastUsedAt: null,
      revokedAt: null,
    };
  });
}

export function loadKeysFile(path: string, now: number): ApiKeyRecord[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new KeysFileError(`API_KEYS_FILE: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseKeysFile(text, now);
}
