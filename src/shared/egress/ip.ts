// IP addresses and CIDR blocks as numbers (IPv4 in 32 bits, IPv6 in 128), for the egress policy.
// Pure and strict: an address here is the canonical text a resolver or the WHATWG URL parser gives
// (dotted-quad IPv4, RFC 4291 IPv6); the odd IPv4 spellings (2130706433, 0177.0.0.1, 0x7f.1) are
// turned into dotted quads by `canonicalHost` through the URL parser, exactly as Node's http
// client and the k6 runners would read them.

export type Family = 4 | 6;

export interface Ip {
  family: Family;
  value: bigint;
}

export interface Cidr {
  family: Family;
  /** The network address (host bits zero). */
  base: bigint;
  prefix: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

function parseIpv4(text: string): bigint | null {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!match) return null;
  let value = 0n;
  for (const part of match.slice(1)) {
    if (part.length > 1 && part.startsWith("0")) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIpv6(text: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length > 45) return null;
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i];
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (v4 === null) return null;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) out.push(parseInt(piece, 16));
      else return null;
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  if (halves.length === 1 && head.length !== 8) return null;
  if (halves.length === 2 && head.length + tail.length > 7) return null;
  const all = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  return all.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

/** An IPv4 dotted quad or an IPv6 address (brackets allowed, zone ids refused), else null. */
export function parseIp(text: string): Ip | null {
  const bare = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const v4 = parseIpv4(bare);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = bare.includes(":") ? parseIpv6(bare) : null;
  return v6 === null ? null : { family: 6, value: v6 };
}

/** `10.0.0.0/8`, `fd00::/8`, or a single address (`/32`, `/128`); host bits must be zero. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const ip = parseIp(slash >= 0 ? text.slice(0, slash) : text);
  if (!ip) return null;
  const bits = BITS[ip.family];
  const prefixText = slash >= 0 ? text.slice(slash + 1) : String(bits);
  if (!/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  if (prefix > bits) return null;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((ip.value & hostMask) !== 0n) return null;
  return { family: ip.family, base: ip.value, prefix };
}

export function cidrContains(cidr: Cidr, ip: Ip): boolean {
  if (cidr.family !== ip.family) return false;
  const shift = BigInt(BITS[ip.family] - cidr.prefix);
  return ip.value >> shift === cidr.base >> shift;
}

export function formatIp(ip: Ip): string {
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 0xffn)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) => Number((ip.value >> BigInt(112 - 16 * i)) & 0xffffn));
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIp({ family: cidr.family, value: cidr.base })}/${cidr.prefix}`;
}

const MAPPED = parseCidr("::ffff:0:0/96")!;
const NAT64 = parseCidr("64:ff9b::/96")!;
const COMPATIBLE = parseCidr("::/96")!;

/**
 * The IPv4 address an IPv6 address stands for, when it embeds one: IPv4-mapped (::ffff:a.b.c.d,
 * which the kernel connects to a.b.c.d), the well-known NAT64 prefix (64:ff9b::a.b.c.d, translated
 * to a.b.c.d by a NAT64 gateway) and the deprecated IPv4-compatible form (::a.b.c.d, except :: and ::1).
 */
export function embeddedIpv4(ip: Ip): Ip | null {
  if (ip.family !== 6) return null;
  const low = ip.value & 0xffffffffn;
  if (cidrContains(MAPPED, ip) || cidrContains(NAT64, ip)) return { family: 4, value: low };
  if (cidrContains(COMPATIBLE, ip) && low > 1n) return { family: 4, value: low };
  return null;
}

/**
 * The host of an http(s) URL as a client connects to it: lower case, brackets and a trailing dot
 * removed, and any IPv4 spelling the URL parser accepts turned into its dotted quad.
 */
export function canonicalHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "").toLowerCase();
}

/** The blocks of `from` not covered by any of `minus` (same family), as few CIDRs as it takes. */
export function subtractCidrs(from: Cidr, minus: readonly Cidr[]): Cidr[] {
  const bits = BITS[from.family];
  const overlapping = minus.filter((m) => m.family === from.family);
  const out: Cidr[] = [];
  const walk = (block: Cidr) => {
    const blockIp = { family: block.family, value: block.base };
    if (overlapping.some((m) => m.prefix <= block.prefix && cidrContains(m, blockIp))) return;
    const inside = overlapping.some((m) => m.prefix > block.prefix && cidrContains(block, { family: m.family, value: m.base }));
    if (!inside) {
      out.push(block);
      return;
    }
    const prefix = block.prefix + 1;
    walk({ family: block.family, base: block.base, prefix });
    walk({ family: block.family, base: block.base | (1n << BigInt(bits - prefix)), prefix });
  };
  walk(from);
  return out;
}
