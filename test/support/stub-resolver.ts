// A name resolver answering from a table, for egress decision tests: nothing is asked of DNS and
// nothing connects. A name missing from the table fails as DNS says NXDOMAIN (ENOTFOUND); `asked`
// records every name looked up (a refused name must never be).
import type { Resolver } from "../../src/shared/egress/resolver.js";

export class StubResolver implements Resolver {
  readonly asked: string[] = [];

  constructor(private readonly table: Record<string, string[]>) {}

  async lookup(host: string): Promise<string[]> {
    this.asked.push(host);
    const answer = this.table[host];
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return [...answer];
  }
}
