// Name resolution for the egress checks: an interface, so decision tests answer from a table
// (test/support/stub-resolver.ts) and never touch DNS, and the system's resolver (getaddrinfo, as
// Node's http client and k6 use it: /etc/hosts, then DNS) with a time limit.
import { lookup } from "node:dns/promises";

export interface Resolver {
  /** Every address the name resolves to; rejects (error.code ENOTFOUND, EAI_AGAIN, DNS_TIMEOUT...) when it does not. */
  lookup(host: string): Promise<string[]>;
}

export function systemResolver(timeoutMs: number): Resolver {
  return {
    async lookup(host) {
      let timer: NodeJS.Timeout | undefined;
      try {
        const answers = await Promise.race([
          lookup(host, { all: true, verbatim: true }),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(Object.assign(new Error(`resolving ${host} took over ${timeoutMs} ms`), { code: "DNS_TIMEOUT" })), timeoutMs);
          }),
        ]);
        return answers.map((answer) => answer.address);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
