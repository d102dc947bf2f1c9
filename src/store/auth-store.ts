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

/** One audited call. Times are epoch milliseconds. */
export interface AuditEventRecord {
  /** Insertion order (absent before insertion). */
  seq?: number;
  at: number;
  /** Key id, certificate subject ("cert:<name>"), "anonymous", or for a refused credential the key id it claimed (may be ""). */
  principalId: string;
  principalName: string;
  /** api-key, certificate, anonymous or unauthenticated. */
  principalKind: string;
  team: string | null;
  method: string;
  targetId: string | null;
  requestId: string;
  /** The gRPC status code's name: OK, PERMISSION_DENIED, ... */
  code: string;
  /** The refusal's reason (e.g. QUOTA_SUBMISSION_RATE; REVOKED for a revoked key), or the error's. */
  reason: string;
  /** Refused by authentication, authorization, scope or admission. */
  denied: boolean;
  clientAddress: string;
}

export interface AuditQuery {
  principalId?: string;
  method?: string;
  code?: string;
  targetId?: string;
  team?: string;
  since?: number;
  until?: number;
  deniedOnly?: boolean;
  /** Continue with events older than this seq (newest first). */
  beforeSeq?: number;
  limit: number;
}

/** Whose jobs a quota counts: a key's (jobs it submitted) or a team's (jobs bound to it, submitted through the API). */
export interface QuotaSubject {
  by: "key" | "team";
  value: string;
}

/** The counts admission reads (src/auth/admission.ts). */
export interface QuotaCounts {
  /** The subject's QUEUED jobs, counted up to `limit` (an index range, never the whole table). */
  countQueuedJobs(subject: QuotaSubject, limit: number): Promise<number>;
  /** The subject's k6 jobs created after `since`: what their load was. */
  recentK6Jobs(subject: QuotaSubject, since: number): Promise<{ createdAt: number; params: Record<string, unknown>; timeoutMs: number }[]>;
}

export interface AuthStore extends QuotaCounts {
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
  /** One statement for the whole batch. */
  insertAuditEvents(events: readonly AuditEventRecord[]): Promise<void>;
  /** Newest first. */
  listAuditEvents(query: AuditQuery): Promise<AuditEventRecord[]>;
  /** Deletes events before `at`; how many. */
  deleteAuditEventsBefore(at: number): Promise<number>;
}
