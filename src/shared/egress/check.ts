// A target URL checked against the egress policy with its name resolved: what admission asks
// (before a job is created) and what a collector or the service asks again right before it
// connects. A checked target carries the addresses that were judged; `pinnedLookup` makes the
// connection use exactly those, so a second resolution (DNS rebinding) cannot send it elsewhere.
import type { LookupFunction } from "node:net";
import { formatIp, parseIp, type Ip } from "./ip.js";
import { decide, isLocalhostName, LOOPBACK_ADDRESSES, nameProblem, targetOf, type EgressAllowance, type EgressPolicy, type Target } from "./policy.js";
import type { Resolver } from "./resolver.js";

export type CheckedTarget =
  | {
    ok: true;
    target: Target;
    /** The judged addresses (empty when the name did not resolve: nothing to connect to). */
    addresses: string[];
    /** Why the name did not resolve (ENOTFOUND, DNS_TIMEOUT...). */
    resolveError?: string;
  }
  | { ok: false; message: string };

export interface CheckOptions {
  allowance?: EgressAllowance;
  /** The name was allowed at admission (a collector's own target): only the addresses are judged again. */
  nameAdmitted?: boolean;
}

export async function checkUrl(policy: EgressPolicy, resolver: Resolver, url: string, options: CheckOptions = {}): Promise<CheckedTarget> {
  const target = targetOf(url);
  if (!target) return { ok: false, message: "is not an absolute http(s) URL" };
  // A refused name is never resolved.
  const name = options.nameAdmitted ? null : nameProblem(policy, target, options.allowance);
  if (name) return { ok: false, message: name };
  let addresses: Ip[];
  let resolveError: string | undefined;
  if (target.ip) addresses = [target.ip];
  else if (isLocalhostName(target.host)) addresses = [...LOOPBACK_ADDRESSES];
  else {
    try {
      const answers = await resolver.lookup(target.host);
      const parsed = answers.map(parseIp);
      const odd = answers.find((_, i) => parsed[i] === null);
      if (odd !== undefined) return { ok: false, message: `host ${target.host} resolves to "${odd.slice(0, 64)}", which is no IP address` };
      addresses = parsed as Ip[];
    } catch (error) {
      addresses = [];
      resolveError = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    }
  }
  const decision = decide(policy, target, addresses, { nameAdmitted: true });
  if (!decision.allowed) return { ok: false, message: decision.message };
  return { ok: true, target, addresses: addresses.map(formatIp), ...(resolveError ? { resolveError } : {}) };
}

/**
 * A `lookup` for http.request / net.connect that answers `host` with the checked addresses only
 * (Node calls it for names; an IP literal is connected as is, and was judged as is). Any other
 * name fails: this connection was checked for one host.
 */
export function pinnedLookup(host: string, addresses: readonly string[]): LookupFunction {
  const entries = addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  return ((hostname: string, options: { family?: number | string; all?: boolean }, callback: (...args: unknown[]) => void) => {
    const wanted = options.family === 4 || options.family === "IPv4" ? 4 : options.family === 6 || options.family === "IPv6" ? 6 : 0;
    const usable = entries.filter((e) => wanted === 0 || e.family === wanted);
    if (hostname.toLowerCase().replace(/\.$/, "") !== host || usable.length === 0) {
      const error = Object.assign(new Error(`${hostname} was not checked by the egress policy for this connection`), { code: "EGRESS_REFUSED" });
      process.nextTick(() => (options.all ? callback(error, []) : callback(error, "", 0)));
      return;
    }
    process.nextTick(() => (options.all ? callback(null, usable) : callback(null, usable[0].address, usable[0].family)));
  }) as LookupFunction;
}
