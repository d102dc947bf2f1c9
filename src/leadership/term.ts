/**
 * What leader-only work asks of the replica's leadership: whether it may still act, and the epoch
 * its writes carry (undefined where there is nothing to fence: the single-instance SQLite store).
 */
export interface Term {
  /** The epoch of this replica's term, for the store to check; undefined: writes are not fenced. */
  epoch(): number | undefined;
  /** True while this replica leads and renewed its lease within the renew deadline. */
  valid(): boolean;
}

/** The single instance on SQLite (held by its file lock): always the leader, nothing to fence. */
export const SOLE_TERM: Term = { epoch: () => undefined, valid: () => true };
