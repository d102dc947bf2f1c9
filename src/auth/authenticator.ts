// Authentication: the caller's credential → a Principal, once per call. An API key comes as
// `authorization: Bearer <key>` or `x-api-key: <key>`; without one, a verified client
// certificate (mTLS) whose subject is mapped to a role. Whatever is wrong (nothing sent, a
// malformed, unknown, expired or revoked key, an unmapped certificate), the caller gets the
// same UNAUTHENTICATED message; the audit log records which it was.
import type { PeerCertificate } from "node:tls";
import { keyMatches, parseApiKey, type ParsedKey } from "./api-key.js";
import { AuthError } from "./errors.js";
import type { KeyDirectory, KnownKey } from "./key-directory.js";
import type { Principal } from "./principal.js";

/** A call's metadata as authentication reads it (grpc-js Metadata has this). */
export interface CallMetadata {
  get(key: string): unknown[];
}

/** Wall-clock time, for expiry. */
interface Now {
  now(): number;
}

/** The parts of a call authentication reads (a grpc-js server call has them). */
export interface CallCredentials {
  readonly metadata: CallMetadata;
  getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null;
}

/** Client certificates → principals (certificates.ts); only a verified certificate reaches it. */
export interface CertificateIdentities {
  principalOf(certificate: PeerCertificate): Principal | null;
}

export interface Authenticator {
  authenticate(call: CallCredentials): Principal | Promise<Principal>;
}

/** Authentication off (AUTH_ENABLED=false): every caller is this. */
export const ANONYMOUS: Principal = Object.freeze({ id: "anonymous", name: "anonymous", kind: "anonymous", role: "admin", allowInlineScripts: true });

export const anonymousAuthenticator: Authenticator = { authenticate: () => ANONYMOUS };

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The key the call carries: undefined when none was sent, "" when the header is not a bearer token. */
function presentedKey(metadata: CallMetadata): string | undefined {
  const authorization = metadata.get("authorization")[0];
  if (authorization !== undefined) return typeof authorization === "string" ? (BEARER.exec(authorization)?.[1] ?? "") : "";
  const apiKey = metadata.get("x-api-key")[0];
  if (apiKey !== undefined) return typeof apiKey === "string" ? apiKey.trim() : "";
  return undefined;
}

/** Header values verified (bounded): a client sends the same key on every call. */
const MAX_VERIFIED = 1000;

export class CredentialAuthenticator implements Authenticator {
  /**
   * The credential header a call carried → the key it was verified against. A call carrying the
   * same header skips parsing and hashing while that key's cached record is the one verified
   * (KeyDirectory replaces it at least every second, which makes the next call verify again).
   */
  private readonly verified = new Map<string, KnownKey>();

  constructor(
    private readonly keys: KeyDirectory,
    private readonly clock: Now,
    private readonly certificates: CertificateIdentities | null = null,
  ) {}

  authenticate(call: CallCredentials): Principal | Promise<Principal> {
    const header = call.metadata.get("authorization")[0] ?? call.metadata.get("x-api-key")[0];
    const known = typeof header === "string" ? this.verified.get(header) : undefined;
    if (known && this.keys.lookup(known.record.id) === known) return this.admit(known);
    return this.authenticateAfresh(call, typeof header === "string" ? header : undefined);
  }

  private authenticateAfresh(call: CallCredentials, header: string | undefined): Principal | Promise<Principal> {
    const given = presentedKey(call.metadata);
    if (given !== undefined) {
      const parsed = parseApiKey(given);
      if (!parsed) throw this.refuse("MALFORMED");
      const found = this.keys.lookup(parsed.id);
      return found instanceof Promise ? found.then((key) => this.verify(key, parsed, header)) : this.verify(found, parsed, header);
    }
    if (this.certificates) {
      // Present only when the TLS layer verified the chain against TLS_CLIENT_CA_FILE (and dates).
      const certificate = call.getAuthContext()?.sslPeerCertificate;
      if (certificate) return this.certificates.principalOf(certificate) ?? this.fail("CERTIFICATE_NOT_MAPPED");
    }
    throw this.refuse("MISSING");
  }

  private verify(key: KnownKey | null, given: ParsedKey, header: string | undefined): Principal {
    if (!key || !keyMatches(given.key, key.hash)) throw this.refuse("UNKNOWN_KEY");
    const principal = this.admit(key);
    if (header !== undefined) {
      if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
      this.verified.set(header, key);
    }
    return principal;
  }

  /** A key whose secret matched: still valid now? */
  private admit(key: KnownKey): Principal {
    if (key.record.revokedAt !== null) throw this.refuse("REVOKED");
    const now = this.clock.now();
    if (key.record.expiresAt !== null && key.record.expiresAt <= now) throw this.refuse("EXPIRED");
    this.keys.touch(key.record.id, now);
    return key.principal;
  }

  private fail(failure: "CERTIFICATE_NOT_MAPPED"): never {
    throw this.refuse(failure);
  }

  private refuse(failure: Parameters<typeof AuthError.unauthenticated>[0]): AuthError {
    return AuthError.unauthenticated(failure, this.certificates !== null);
  }
}

/** The key id a call claims (ids are public), for the audit log of a refused call. */
export function claimedKeyId(metadata: CallMetadata): string | null {
  const given = presentedKey(metadata);
  return given ? (parseApiKey(given)?.id ?? null) : null;
}
