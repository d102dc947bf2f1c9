// API keys are `jsk_<id>_<secret>`: the id is public (it names the key in listings, the audit
// log and revocation), the secret is 256 random bits. The service keeps only a SHA-256 of the
// whole key: a secret this long cannot be guessed from its hash, so one fast hash per call is
// all verification costs (no slow KDF, which exists for low-entropy passwords).
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const KEY = /^jsk_([0-9a-z]{6,32})_([A-Za-z0-9_-]{22,256})$/;
/** A key id alone, as RevokeApiKey and the keys file name it. */
export const KEY_ID = /^[0-9a-z]{6,32}$/;

export interface ParsedKey {
  id: string;
  key: string;
}

/** The key's id when `text` has the key format (22+ base64url characters of secret: 128+ bits), else null. */
export function parseApiKey(text: string): ParsedKey | null {
  const match = KEY.exec(text);
  return match ? { id: match[1], key: text } : null;
}

/** A new random key: a 12-character id and a 256-bit secret. */
export function newApiKey(): ParsedKey {
  const id = randomBytes(8).toString("hex").slice(0, 12);
  return { id, key: `jsk_${id}_${randomBytes(32).toString("base64url")}` };
}

/** SHA-256 of the whole key, hex: what the store holds (and what `printf %s "$KEY" | sha256sum` prints). */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Compares the key's hash with a stored one in constant time. */
export function keyMatches(key: string, storedHash: Buffer): boolean {
  const hash = createHash("sha256").update(key).digest();
  return hash.length === storedHash.length && timingSafeEqual(hash, storedHash);
}
