// What the authentication and audit layer (src/auth/) keeps: API keys (only their hashes) and,
// below, the audit log. Both stores implement it with the same SQL (auth-queries.ts).

/** An API key as stored. Times are epoch milliseconds. */
export interface ApiKeyRecord {
  /** The public part of `jsk_<id>_<secret>`. */
  id: string;
  name: string;
  /** viewer, submitter, operator or admin. */
  role: string;
  /** Null: every team. */
  team: string | null;
  allowInlineScripts: boolean;
  /** SHA-256 of the whole key, hex. */
  keyHash: string;
  /** "api", "generated" (the first start's admin key) or "file" (API_KEYS_FILE: never stored, listed from memory). */
  source: "api" | "generated" | "file";
  /** The key id or certificate subject that created it; null for generated and declared keys. */
  createdBy: string | null;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface ApiKeyQuery {
  team?: string;
  includeRevoked: boolean;
  /** Continue after this key (newest-first order). */
  after?: { createdAt: number; id: string };
  limit: number;
}

export interface AuthStore {
  /** False when a key with this id exists already. */
  insertApiKey(key: ApiKeyRecord): Promise<boolean>;
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  listApiKeys(query: ApiKeyQuery): Promise<ApiKeyRecord[]>;
  /** Sets revoked_at unless already revoked; the key as stored after, or null for an unknown id. */
  revokeApiKey(id: string, at: number): Promise<ApiKeyRecord | null>;
  /** Records last uses (written lazily, in batches: never once per call). */
  touchApiKeys(uses: readonly { id: string; at: number }[]): Promise<void>;
  /** Stored keys, revoked ones included: zero only before the first key was ever made. */
  countApiKeys(): Promise<number>;
}
