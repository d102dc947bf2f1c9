import { createHash } from "node:crypto";
import type { JobCursor } from "../store/store.js";
import { InvalidField } from "../jobs/errors.js";

/**
 * Page tokens are opaque to clients: the position of the last job returned plus a
 * fingerprint of the filters, so a token cannot be replayed against other filters.
 */
export function encodePageToken(cursor: JobCursor, filters: unknown): string {
  return Buffer.from(JSON.stringify({ c: cursor.createdAt, i: cursor.id, f: fingerprint(filters) })).toString("base64url");
}

export function decodePageToken(token: string, filters: unknown): JobCursor {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw new InvalidField("page_token", "is malformed (pass back the next_page_token of a previous response)");
  }
  const value = decoded as { c?: unknown; i?: unknown; f?: unknown };
  if (typeof value?.c !== "number" || typeof value.i !== "string" || typeof value.f !== "string") {
    throw new InvalidField("page_token", "is malformed (pass back the next_page_token of a previous response)");
  }
  if (value.f !== fingerprint(filters)) {
    throw new InvalidField("page_token", "was issued for different filters; repeat the request with the same filters");
  }
  return { createdAt: value.c, id: value.i };
}

function fingerprint(filters: unknown): string {
  return createHash("sha256").update(JSON.stringify(filters)).digest("base64url").slice(0, 16);
}
