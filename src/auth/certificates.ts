// Client certificates → principals, by TLS_CLIENT_ROLES: {"<name>": "<role>"} or
// {"<name>": {"role": "...", "team": "...", "allowInlineScripts": true}}, where <name> is the
// certificate's subject CN or one of its subject alternative names (DNS, URI, email, IP), as
// written in the certificate ("hub.example.com", "spiffe://cluster/ns/hub/sa/hub"). Only a
// certificate the TLS layer verified against TLS_CLIENT_CA_FILE (chain and dates) gets here.
import type { PeerCertificate } from "node:tls";
import { z } from "zod";
import type { CertificateIdentities } from "./authenticator.js";
import { ROLES } from "./permissions.js";
import type { Principal, Role } from "./principal.js";

const role = z.enum(ROLES as [Role, ...Role[]], { error: `must be one of ${ROLES.join(", ")}` });

export const certificateRolesSchema = z.record(
  z.string().min(1).max(1024),
  z.union([role, z.strictObject({ role, team: z.string().min(1).max(100).optional(), allowInlineScripts: z.boolean().optional() })]),
);

export type CertificateRoles = z.infer<typeof certificateRolesSchema>;

/** The names a certificate answers to: its CN, then its SANs without their type prefix. */
export function certificateNames(certificate: PeerCertificate): string[] {
  const names: string[] = [];
  const cn = certificate.subject?.CN;
  if (typeof cn === "string") names.push(cn);
  else if (Array.isArray(cn)) names.push(...cn);
  for (const entry of (certificate.subjectaltname ?? "").split(/,\s*/)) {
    const colon = entry.indexOf(":");
    if (colon > 0) names.push(entry.slice(colon + 1));
  }
  return names;
}

export class MappedCertificates implements CertificateIdentities {
  /** Per certificate (by fingerprint): the lookup runs once per client, not once per call. */
  private readonly known = new Map<string, Principal | null>();

  constructor(private readonly roles: CertificateRoles) {}

  principalOf(certificate: PeerCertificate): Principal | null {
    const fingerprint = certificate.fingerprint256;
    const cached = this.known.get(fingerprint);
    if (cached !== undefined) return cached;
    const principal = this.map(certificate);
    if (this.known.size >= 1000) this.known.clear();
    this.known.set(fingerprint, principal);
    return principal;
  }

  private map(certificate: PeerCertificate): Principal | null {
    for (const name of certificateNames(certificate)) {
      const entry = Object.hasOwn(this.roles, name) ? this.roles[name] : undefined;
      if (entry === undefined) continue;
      const grant = typeof entry === "string" ? { role: entry } : entry;
      return Object.freeze({
        id: `cert:${name}`,
        name,
        kind: "certificate",
        role: grant.role,
        ...(grant.team ? { team: grant.team } : {}),
        allowInlineScripts: grant.allowInlineScripts ?? false,
      });
    }
    return null;
  }
}
