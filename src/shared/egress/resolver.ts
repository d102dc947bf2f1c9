// Name resolution for the egress checks: an interface, so decision tests answer from a table
// (test/support/stub-resolver.ts) and never touch DNS, and the system's resolver (getaddrinfo, as
// Node's http client and k6 use it: /etc/hosts, then DNS) with a time limit.
//
// getaddrinfo runs on libuv's small thread pool and cannot be cancelled: a caller that stops
// waiting after its time limit leaves the lookup queued. When DNS is slow or down, every job's
// admission would add one more, so the queue (and what waits on it) grew without bound, and the
// pool was starved for everything else on it. Hence one lookup per name at a time, shared by
// every caller, and a bound on the names being looked up at once: past it a caller is answered
// at once as if its lookup had timed out (a name that does not resolve is admitted by name; the
// collector judges it again before it connects).
import { lookup as dnsLookup } from "node:dns/promises";

export interface Resolver {
  /** Every address the name resolves to; rejects (error.code ENOTFOUND, EAI_AGAIN, DNS_TIMEOUT, DNS_BUSY...) when it does not. */
  lookup(host: string): Promise<string[]>;
}

export interface ResolverLimits {
  /** How long one caller waits for an answer. */
  timeoutMs: number;
  /** Names being looked up at once; a lookup of another name past it is refused (DNS_BUSY). */
  maxPending?: number;
}

/** Names resolved at once: room for a round of submissions at full concurrency while DNS answers, a bounded queue on libuv's 4-thread pool when it does not. */
export const DEFAULT_MAX_PENDING_LOOKUPS = 64;

export function systemResolver(timeoutMs: number): Resolver {
  return boundedResolver((host) => dnsLookup(host, { all: true, verbatim: true }).then((answers) => answers.map((answer) => answer.address)), { timeoutMs });
}

/** `resolve` shared by concurrent callers of one name, with a time limit per caller and a bound on names in flight. */
export function boundedResolver(resolve: (host: string) => Promise<string[]>, limits: ResolverLimits): Resolver {
  const maxPending = limits.maxPending ?? DEFAULT_MAX_PENDING_LOOKUPS;
  const pending = new Map<string, Promise<string[]>>();
  return {
    async lookup(host) {
      let answer = pending.get(host);
      if (!answer) {
        if (pending.size >= maxPending) {
          throw Object.assign(new Error(`not resolving ${host}: ${pending.size} names are being resolved already (DNS slow or down?)`), { code: "DNS_BUSY" });
        }
        const started = resolve(host);
        answer = started.finally(() => pending.delete(host));
        // Its callers may all have given up by the time it settles.
        answer.catch(() => undefined);
        pending.set(host, answer);
      }
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          answer,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(Object.assign(new Error(`resolving ${host} took over ${limits.timeoutMs} ms`), { code: "DNS_TIMEOUT" })), limits.timeoutMs);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
