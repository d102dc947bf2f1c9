// The outbox as the leader's delivery workers see it: their claims and delivery marks carry the
// term's epoch, so an ex-leader's late marks are refused (store/fencing.ts).
import type { OutboxCount, OutboxInsert, OutboxItemRecord, OutboxKind, OutboxQuery, OutboxStore, OutboxUpdate } from "../store/outbox-queries.js";
import type { Term } from "./term.js";

export class FencedOutbox implements OutboxStore {
  constructor(private readonly outbox: OutboxStore, private readonly term: Term) {}

  enqueue(items: OutboxInsert[]): Promise<number> {
    return this.outbox.enqueue(items);
  }

  claimDue(now: number, limit: number, leaseUntil: number, kind?: OutboxKind): Promise<OutboxItemRecord[]> {
    return this.outbox.claimDue(now, limit, leaseUntil, kind, this.term.epoch());
  }

  settle(updates: OutboxUpdate[], at: number): Promise<void> {
    return this.outbox.settle(updates, at, this.term.epoch());
  }

  list(query: OutboxQuery): Promise<OutboxItemRecord[]> {
    return this.outbox.list(query);
  }

  get(id: string): Promise<OutboxItemRecord | null> {
    return this.outbox.get(id);
  }

  resend(ids: readonly string[] | null, now: number): Promise<number> {
    return this.outbox.resend(ids, now);
  }

  counts(): Promise<OutboxCount[]> {
    return this.outbox.counts();
  }

  nextDue(kind?: OutboxKind): Promise<number | null> {
    return this.outbox.nextDue(kind);
  }
}
