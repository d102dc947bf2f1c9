// TARGET_ALLOWLIST: comma-separated entries, each a host glob or an address block, with an
// optional port or port range:
//   *                       any host name or public address, any port (the default)
//   *.hackload.app:443      names ending in .hackload.app, port 443
//   app.example.kz:8000-8999
//   203.0.113.0/24          an address block (IPv4 or IPv6), any port
//   127.0.0.0/8:8080        loopback, port 8080 only
//   [::1]  [fd00::/8]:443   IPv6 in brackets when a port follows (brackets optional otherwise)
// A host glob matches the name a URL gives (`*` is any run of characters, dots included); it never
// unlocks a refused range (loopback, link-local, private, cluster, API server): only an address
// entry covering the address does.
import { parseCidr, type Cidr } from "./ip.js";

export interface PortRange {
  from: number;
  to: number;
}

export type AllowEntry =
  | { kind: "host"; text: string; glob: string; pattern: RegExp; ports: PortRange | null }
  | { kind: "address"; text: string; cidr: Cidr; ports: PortRange | null };

const HOST_GLOB = /^[a-z0-9*_](?:[a-z0-9*_.-]{0,251}[a-z0-9*_])?$/;

function parsePorts(text: string): PortRange | null | string {
  if (text === "*") return null;
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!match) return `"${text}" is not a port, a port range (8000-8999) or *`;
  const from = Number(match[1]);
  const to = match[2] === undefined ? from : Number(match[2]);
  if (from < 1 || to > 65535 || from > to) return `"${text}" is not a port range within 1-65535`;
  return { from, to };
}

function globPattern(glob: string): RegExp {
  const escaped = glob.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, "\\$&"));
  return new RegExp(`^${escaped.join(".*")}$`);
}

/** One entry, or what is wrong with it. */
export function parseAllowEntry(raw: string): AllowEntry | string {
  const text = raw.trim().toLowerCase();
  let host = text;
  let portText: string | null = null;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return `"${raw}" has "[" without "]"`;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest && !rest.startsWith(":")) return `"${raw}": only :port may follow "]"`;
    if (rest) portText = rest.slice(1);
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [host, portText] = text.split(":");
  }
  const ports = portText === null ? null : parsePorts(portText);
  if (typeof ports === "string") return `"${raw}": ${ports}`;
  const cidr = parseCidr(host);
  if (cidr) return { kind: "address", text, cidr, ports };
  if (host.includes(":") || host.includes("/") || /^[\d./]+$/.test(host)) return `"${raw}" is not an address or address block (e.g. 10.0.0.0/8, [fd00::/8]:443)`;
  if (!HOST_GLOB.test(host.replace(/\.$/, ""))) return `"${raw}" is not a host name or glob (letters, digits, - . _ and *)`;
  const glob = host.replace(/\.$/, "");
  return { kind: "host", text, glob, pattern: globPattern(glob), ports };
}

/** Every entry of a TARGET_ALLOWLIST value; the first bad one raises an Error saying which. */
export function parseAllowlist(text: string): AllowEntry[] {
  const entries: AllowEntry[] = [];
  for (const raw of text.split(",")) {
    if (!raw.trim()) continue;
    const entry = parseAllowEntry(raw);
    if (typeof entry === "string") throw new Error(entry);
    entries.push(entry);
  }
  return entries;
}

export function portAllowed(ports: PortRange | null, port: number): boolean {
  return ports === null || (port >= ports.from && port <= ports.to);
}
