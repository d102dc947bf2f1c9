// A new deployment's first key: on a start with no key at all (none stored, none declared in
// API_KEYS_FILE), an admin key is generated, written to DATA_DIR/admin.key (mode 0600) and
// stored as a hash. The log names the file, never the key. Later starts find the stored key
// and generate nothing.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { AuthStore } from "../store/auth-store.js";
import { hashApiKey, newApiKey } from "./api-key.js";

export const ADMIN_KEY_FILE = "admin.key";

/** The path written, or null when keys exist already. */
export async function ensureFirstAdminKey(store: AuthStore, declaredKeys: number, dataDir: string, now: number, logger: Logger): Promise<string | null> {
  if (declaredKeys > 0 || (await store.countApiKeys()) > 0) return null;
  const { id, key } = newApiKey();
  const path = join(dataDir, ADMIN_KEY_FILE);
  // The file first: a stored key nobody can read would lock every caller out.
  mkdirSync(dataDir, { recursive: true });
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, `${key}\n`, { mode: 0o600, flag: "w" });
  renameSync(partial, path);
  await store.insertApiKey({
    id,
    name: "admin (generated at first start)",
    role: "admin",
    team: null,
    allowInlineScripts: false,
    keyHash: hashApiKey(key),
    source: "generated",
    createdBy: null,
    createdAt: now,
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
  });
  logger.info({ path, keyId: id }, "no API keys yet: generated an admin key (send it as `authorization: Bearer $(cat <path>)`)");
  return path;
}
