// The egress policy: where a job (a k6 target, an http_check app, a completion callback) may send
// requests. Pure decisions; check.ts adds name resolution.
//
// A target (host, port) is allowed when
//   1. its name is allowed: an entry of TARGET_ALLOWLIST matches the host (glob) and port, or an
//      address entry covers the IP literal, or the job carries an allowance for exactly this
//      host and port (a HackLoad team's own ENDPOINT_URL); and
//   2. every address the host resolves to is allowed: an address in a refused range (loopback,
//      link-local and the cloud metadata address, private RFC 1918 and IPv6 unique-local,
//      shared CGNAT space, unspecified, multicast, reserved, the cluster's service and pod ranges,
//      the API server) only when an address entry of TARGET_ALLOWLIST covers it, on that port.
// IPv6 forms of an IPv4 address (::ffff:127.0.0.1, 64:ff9b::a.b.c.d) are judged as that IPv4
// address; `localhost` names are loopback whatever a resolver says.
import { parseAllowlist, portAllowed, type AllowEntry } from "./allowlist.js";
import { canonicalHost, cidrContains, embeddedIpv4, formatCidr, formatIp, parseCidr, parseIp, subtractCidrs, type Cidr, type Ip } from "./ip.js";

export interface RefusedRange {
  cidr: Cidr;
  /** What the range is, for messages: "loopback", "private (RFC 1918)". */
  label: string;
}

/** What the policy is built from; it travels to collectors as is (EGRESS_POLICY_ENV). */
export interface EgressSettings {
  /** TARGET_ALLOWLIST */
  allowlist: string;
  /** K8S_SERVICE_CIDR, K8S_POD_CIDR */
  serviceCidrs: string[];
  podCidrs: string[];
  /** The Kubernetes API server's host names and addresses. */
  apiServers: string[];
}

export interface EgressPolicy {
  settings: EgressSettings;
  allow: AllowEntry[];
  refused: RefusedRange[];
  /** Names refused by name (the API server's). */
  refusedHosts: Set<string>;
}

/** A team's own endpoint, allowed by name for the job made for it (HackLoad rounds). */
export interface EgressAllowance {
  /** "host:port" as `targetKey` gives it. */
  targets: string[];
  /** Where the allowance comes from, for logs: "the Hub's ENDPOINT_URL of team x". */
  source: string;
}

export interface Target {
  /** Canonical: lower case, no brackets, no trailing dot, IPv4 as a dotted quad. */
  host: string;
  port: number;
  /** The host as an address, when it is an IP literal. */
  ip: Ip | null;
}

export type Decision = { allowed: true } | { allowed: false; message: string };

const BUILTIN_REFUSED: [string, string][] = [
  ["0.0.0.0/8", "unspecified (\"this host\")"],
  ["10.0.0.0/8", "private (RFC 1918)"],
  ["100.64.0.0/10", "shared address space (RFC 6598)"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local (cloud metadata)"],
  ["172.16.0.0/12", "private (RFC 1918)"],
  ["192.0.0.0/24", "IETF protocol assignments"],
  ["192.168.0.0/16", "private (RFC 1918)"],
  ["198.18.0.0/15", "benchmarking (RFC 2544)"],
  ["224.0.0.0/4", "multicast"],
  ["240.0.0.0/4", "reserved"],
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["64:ff9b:1::/48", "local NAT64"],
  ["100::/64", "discard-only"],
  ["fc00::/7", "unique-local"],
  ["fe80::/10", "link-local"],
  ["fec0::/10", "site-local"],
  ["ff00::/8", "multicast"],
];

const API_SERVER_NAMES = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"];

export const DEFAULT_SETTINGS: EgressSettings = { allowlist: "*", serviceCidrs: [], podCidrs: [], apiServers: [] };

function cidrOrThrow(text: string, setting: string): Cidr {
  const cidr = parseCidr(text.trim());
  if (!cidr) throw new Error(`${setting}: "${text}" is not an address block (e.g. 10.96.0.0/12)`);
  return cidr;
}

/** The policy for these settings; a bad value raises an Error naming it. */
export function egressPolicy(settings: EgressSettings = DEFAULT_SETTINGS): EgressPolicy {
  const refused: RefusedRange[] = BUILTIN_REFUSED.map(([text, label]) => ({ cidr: parseCidr(text)!, label }));
  for (const text of settings.serviceCidrs) refused.push({ cidr: cidrOrThrow(text, "K8S_SERVICE_CIDR"), label: "the cluster's Service range (K8S_SERVICE_CIDR)" });
  for (const text of settings.podCidrs) refused.push({ cidr: cidrOrThrow(text, "K8S_POD_CIDR"), label: "the cluster's Pod range (K8S_POD_CIDR)" });
  const refusedHosts = new Set(API_SERVER_NAMES);
  for (const server of settings.apiServers) {
    const ip = parseIp(server);
    if (ip) refused.push({ cidr: { family: ip.family, base: ip.value, prefix: ip.family === 4 ? 32 : 128 }, label: "the Kubernetes API server" });
    else refusedHosts.add(server.toLowerCase().replace(/\.$/, ""));
  }
  return { settings, allow: parseAllowlist(settings.allowlist), refused, refusedHosts };
}

/** The target of an http(s) URL, or null when it is none. */
export function targetOf(text: string): Target | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname) return null;
  const host = canonicalHost(url);
  const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
  return { host, port, ip: parseIp(host) };
}

export function targetKey(target: Pick<Target, "host" | "port">): string {
  return `${target.host.includes(":") ? `[${target.host}]` : target.host}:${target.port}`;
}

/** An allowance for the hosts of these URLs (those that are http(s) URLs). */
export function allowanceFor(urls: readonly string[], source: string): EgressAllowance {
  const targets = urls.map(targetOf).filter((t): t is Target => t !== null).map(targetKey);
  return { targets, source };
}

/** `localhost` and `*.localhost` (RFC 6761): loopback, never asked of a resolver. */
export function isLocalhostName(host: string): boolean {
  return host === "localhost" || host.endsWith(".localhost") || host === "localhost.localdomain";
}

export const LOOPBACK_ADDRESSES: readonly Ip[] = [parseIp("127.0.0.1")!, parseIp("::1")!];

function shown(target: Target): string {
  return target.host.includes(":") ? `[${target.host}]` : target.host;
}

/** Why the name (host and port) is not allowed, or null. */
export function nameProblem(policy: EgressPolicy, target: Target, allowance?: EgressAllowance): string | null {
  if (policy.refusedHosts.has(target.host) && !policy.allow.some((e) => e.kind === "host" && e.glob === target.host && portAllowed(e.ports, target.port))) {
    return `host ${shown(target)} is the Kubernetes API server, which TARGET_ALLOWLIST does not list`;
  }
  if (allowance?.targets.includes(targetKey(target))) return null;
  const matches = policy.allow.some((entry) =>
    entry.kind === "host"
      ? entry.pattern.test(target.host) && portAllowed(entry.ports, target.port)
      : target.ip !== null && addressCovered(entry.cidr, target.ip) && portAllowed(entry.ports, target.port));
  if (matches) return null;
  const hostOnly = policy.allow.some((entry) => (entry.kind === "host" ? entry.pattern.test(target.host) : target.ip !== null && addressCovered(entry.cidr, target.ip)));
  return hostOnly
    ? `host ${shown(target)} port ${target.port} is not allowed by TARGET_ALLOWLIST`
    : `host ${shown(target)} is not allowed by TARGET_ALLOWLIST`;
}

function addressCovered(cidr: Cidr, ip: Ip): boolean {
  const v4 = embeddedIpv4(ip);
  return cidrContains(cidr, ip) || (v4 !== null && cidrContains(cidr, v4));
}

/** The refused range an address lies in (itself or the IPv4 address it embeds), or null. */
export function refusedRange(policy: EgressPolicy, ip: Ip): RefusedRange | null {
  const v4 = embeddedIpv4(ip);
  return policy.refused.find((range) => cidrContains(range.cidr, ip) || (v4 !== null && cidrContains(range.cidr, v4))) ?? null;
}

/** Why connecting to `ip` for this target is not allowed, or null. */
export function addressProblem(policy: EgressPolicy, target: Target, ip: Ip): string | null {
  const range = refusedRange(policy, ip);
  if (!range) return null;
  const covering = policy.allow.filter((entry) => entry.kind === "address" && addressCovered(entry.cidr, ip));
  if (covering.some((entry) => portAllowed(entry.ports, target.port))) return null;
  const otherPorts = covering.length > 0;
  const why = `${formatCidr(range.cidr)} is ${range.label}; ${otherPorts ? "listed for other ports only" : "list it to allow"}`;
  if (target.ip) return `host ${shown(target)}${otherPorts ? ` port ${target.port}` : ""} is not allowed by TARGET_ALLOWLIST (${why})`;
  return `host ${shown(target)} resolves to ${formatIp(ip)}, which TARGET_ALLOWLIST does not allow${otherPorts ? ` on port ${target.port}` : ""} (${why})`;
}

/**
 * The decision for a target and the addresses it resolved to (an IP literal is its own address;
 * a localhost name is loopback). `nameAdmitted`: the name was allowed at admission (the collector's
 * re-check of the job's own target), so only the addresses are judged again.
 */
export function decide(policy: EgressPolicy, target: Target, addresses: readonly Ip[], options: { allowance?: EgressAllowance; nameAdmitted?: boolean } = {}): Decision {
  const name = options.nameAdmitted ? null : nameProblem(policy, target, options.allowance);
  if (name) return { allowed: false, message: name };
  const judged = target.ip ? [target.ip] : isLocalhostName(target.host) ? LOOPBACK_ADDRESSES : addresses;
  for (const ip of judged) {
    const problem = addressProblem(policy, target, ip);
    if (problem) return { allowed: false, message: problem };
  }
  return { allowed: true };
}

/**
 * What a k6 runner must refuse on its own (`--blacklist-ip`, `--block-hostnames`), since k6 resolves
 * and connects by itself and a script may request any URL: the refused ranges minus the blocks
 * TARGET_ALLOWLIST lists (whatever port they are listed for: k6 knows no ports here), and the API
 * server's names unless listed.
 */
export function runnerBlocks(policy: EgressPolicy): { ranges: string[]; hostnames: string[] } {
  const listed = policy.allow.flatMap((entry) => (entry.kind === "address" ? [entry.cidr] : []));
  const ranges = [...new Set(policy.refused.flatMap((range) => subtractCidrs(range.cidr, listed)).map(formatCidr))];
  const hostnames = [...policy.refusedHosts].filter((host) => !policy.allow.some((e) => e.kind === "host" && e.glob === host)).sort();
  return { ranges, hostnames };
}
