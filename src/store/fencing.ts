// Fencing: each term of leadership has an epoch, higher than every earlier one. Writes only the
// leader may make (run transitions, admissions, schedule fires, outbox delivery marks) carry the
// epoch of the term they were decided in, and the store refuses them once a newer term began, so
// a paused or partitioned ex-leader cannot change what its successor owns.
//
// PostgreSQL: a fenced transaction takes a shared advisory lock and reads the lease's epoch; a
// replica starting a term takes the same lock exclusively to raise the epoch. A term therefore
// begins only after every fenced write of the previous one has committed or rolled back, and no
// write of the old term commits after it: the new leader's recovery sees all of them.
import type pg from "pg";

/** The lease row every PostgreSQL replica of one schema shares. */
export const LEASE_NAME = "jobscheduler";
/** First half of the advisory lock key; the second is the schema's hash, so schemas never contend. */
export const FENCE_LOCK_KEY = 7_210_432;

export class FencedError extends Error {
  constructor(readonly epoch: number, readonly current: number) {
    super(`write refused: it belongs to leadership epoch ${epoch}, and epoch ${current} has begun (this replica no longer leads)`);
  }
}

// Two statements sent as one (one round trip, no parameters): in READ COMMITTED each statement of
// a query string takes its own snapshot, so the epoch is read after the lock was granted and sees
// a term that began while this transaction waited for it.
const CHECK_EPOCH_SQL =
  `SELECT pg_advisory_xact_lock_shared(${FENCE_LOCK_KEY}, hashtext(current_schema())); SELECT epoch FROM leader_lease WHERE name = '${LEASE_NAME}'`;

/** Inside a transaction: refuses it unless `epoch` is still the lease's. */
export async function checkEpoch(client: pg.ClientBase, epoch: number): Promise<void> {
  const results = (await client.query(CHECK_EPOCH_SQL)) as unknown as pg.QueryResult[];
  const row = results[1]?.rows[0];
  const current = row ? Number(row.epoch) : 0;
  if (current !== epoch) throw new FencedError(epoch, current);
}

/** Inside a transaction: waits for the fenced writes in flight, then no new one can start until commit. */
export async function lockEpoch(client: pg.ClientBase): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))", [FENCE_LOCK_KEY]);
}
