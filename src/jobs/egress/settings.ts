// The egress settings: one zod shape spread into src/config.ts's schema (as the Hub's are).
import { z } from "zod";
import { duration } from "../../config-fields.js";
import { parseAllowlist } from "../../shared/egress/allowlist.js";
import { parseCidr } from "../../shared/egress/ip.js";
import { egressPolicy, type EgressPolicy } from "../../shared/egress/policy.js";

const cidrList = z
  .string()
  .default("")
  .transform((text, ctx) => {
    const blocks = text.split(",").map((s) => s.trim()).filter(Boolean);
    for (const block of blocks) if (!parseCidr(block)) ctx.addIssue({ code: "custom", message: `"${block}" is not an address block (e.g. 10.96.0.0/12, fd00:10:96::/112)` });
    return blocks;
  });

export const egressSettings = {
  /**
   * Where jobs may send requests (k6 target_url, http_check base_url, completion callback URLs): comma-separated
   * host globs (`*.hackload.app`), addresses or blocks (`203.0.113.0/24`, `[fd00::/8]`), each with an optional `:port`
   * or `:from-to`. `*` is any host name or public address. Loopback, link-local (169.254.169.254), private, unique-local,
   * the cluster's ranges and the API server are refused unless an address entry lists them; names are resolved and
   * every address judged (docs/security.md).
   */
  TARGET_ALLOWLIST: z
    .string()
    .default("*")
    .superRefine((text, ctx) => {
      try {
        parseAllowlist(text);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
      }
    }),
  /** The cluster's Service range(s), comma-separated CIDRs: refused as targets unless TARGET_ALLOWLIST lists them (RFC 1918 ranges are refused anyway). */
  K8S_SERVICE_CIDR: cidrList,
  /** The cluster's Pod range(s), comma-separated CIDRs: refused as targets unless TARGET_ALLOWLIST lists them. */
  K8S_POD_CIDR: cidrList,
  /** How long admission waits for a target's name to resolve; a name that does not resolve in time is admitted by name and judged again before any connection. */
  EGRESS_DNS_TIMEOUT: duration("2s"),
};

export interface EgressConfig {
  TARGET_ALLOWLIST: string;
  K8S_SERVICE_CIDR: string[];
  K8S_POD_CIDR: string[];
  K8S_API_SERVER?: string;
}

/** The policy of a configuration; `apiServers` adds the API server hosts the runtime talks to. */
export function policyFromConfig(config: EgressConfig, apiServers: readonly string[] = []): EgressPolicy {
  const hosts = new Set<string>(apiServers);
  if (config.K8S_API_SERVER) {
    try {
      hosts.add(new URL(config.K8S_API_SERVER).hostname.replace(/^\[(.*)\]$/, "$1"));
    } catch {
      // validated by the config schema
    }
  }
  return egressPolicy({ allowlist: config.TARGET_ALLOWLIST, serviceCidrs: config.K8S_SERVICE_CIDR, podCidrs: config.K8S_POD_CIDR, apiServers: [...hosts] });
}
