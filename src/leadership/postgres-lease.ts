// The lease in PostgreSQL (the local runtime on a shared database): the one row of `leader_lease`
// (migration 12), on a connection of its own so that a busy pool never delays a renewal. Expiry is
// judged by the database's clock, the one clock every replica shares. Taking the lease raises the
// epoch under the fencing lock (store/fencing.ts). A release is announced with NOTIFY, so a
// follower takes over at once instead of at its next retry.
//
// The leader also holds a session-level advisory lock on that connection for its whole term.
// PostgreSQL drops it the moment the leader's session ends (its process died, its connection
// broke), so a follower that can take the lock knows nobody is leading and takes the lease at its
// next retry instead of waiting for the lease to expire. A paused leader keeps its session and its
// lock: only the expiry decides then. Taking over early is safe for the same reason any takeover
// is: the new epoch refuses whatever the old session's owner still tries to write.
import pg from "pg";
import type { Logger } from "pino";
import { LEASE_NAME, LEASE_SESSION_LOCK_KEY, lockEpoch } from "../store/fencing.js";
import { schemaChannel } from "../store/postgres/channels.js";
import type { LeaseBackend } from "./election.js";

const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
const SESSION_LOCK = `(${LEASE_SESSION_LOCK_KEY}, hashtext(current_schema()))`;

interface LeaseConnection {
  client: pg.Client;
  channel: string;
  /** This session holds the leader's advisory lock (taken with the lease, kept for the term). */
  holdsSessionLock: boolean;
}

export interface PostgresLeaseOptions {
  connectionString: string;
  leaseDurationMs: number;
  /** Bound on every statement and on connecting: a cut connection fails the call instead of hanging it. */
  callTimeoutMs: number;
  logger: Logger;
}

export class PostgresLease implements LeaseBackend {
  readonly kind = "postgres" as const;
  private client?: Promise<LeaseConnection>;
  private readonly listeners: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: PostgresLeaseOptions) {}

  onMaybeFree(listener: () => void): void {
    this.listeners.push(listener);
  }

  async acquire(identity: string): Promise<{ acquired: true; epoch: number } | { acquired: false; holder: string; expiresInMs: number }> {
    const connection = await this.connection();
    // A term of ours that ended without a release (stepped down): its lock must not make us look alone.
    if (connection.holdsSessionLock) await this.unlockSession(connection);
    const outcome = await this.transaction(connection, async (client) => {
      // Waits (bounded by lock_timeout) for the fenced writes of the term in force.
      await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(this.options.callTimeoutMs / 2))}`);
      await lockEpoch(client);
      // Session-level: it outlives this transaction, and a rollback does not release it.
      const { rows: [lock] } = await client.query(`SELECT pg_try_advisory_lock${SESSION_LOCK} AS alone`);
      const alone = lock.alone === true;
      connection.holdsSessionLock = alone;
      const { rows } = await client.query(
        `UPDATE leader_lease SET holder = $2, epoch = epoch + 1, acquired_at = ${NOW_MS}, renewed_at = ${NOW_MS}, expires_at = ${NOW_MS} + $3
          WHERE name = $1 AND (holder = '' OR holder = $2 OR expires_at <= ${NOW_MS} OR $4::boolean) RETURNING epoch`,
        [LEASE_NAME, identity, this.options.leaseDurationMs, alone],
      );
      if (rows[0]) return { acquired: true as const, epoch: Number(rows[0].epoch) };
      const current = await client.query(`SELECT holder, expires_at - ${NOW_MS} AS left_ms FROM leader_lease WHERE name = $1`, [LEASE_NAME]);
      return { acquired: false as const, holder: String(current.rows[0]?.holder ?? ""), expiresInMs: Number(current.rows[0]?.left_ms ?? 0) };
    }).catch(async (error: unknown) => {
      await this.unlockUnlessLeading(connection, false);
      throw error;
    });
    await this.unlockUnlessLeading(connection, outcome.acquired);
    return outcome;
  }

  /** A lock a try got must not outlive it unless the try began a term. */
  private async unlockUnlessLeading(connection: LeaseConnection, leading: boolean): Promise<void> {
    if (leading || !connection.holdsSessionLock) return;
    await this.unlockSession(connection).catch(() => this.drop());
  }

  async renew(identity: string, epoch: number): Promise<boolean> {
    const connection = await this.connection();
    const { client } = connection;
    // A new session (the old one broke) takes the lock again. When it cannot (the old session is not
    // gone yet on the server, or a follower is taking over), the lease alone keeps the term going.
    if (!connection.holdsSessionLock) {
      const { rows: [lock] } = await this.guard(client.query(`SELECT pg_try_advisory_lock${SESSION_LOCK} AS alone`));
      connection.holdsSessionLock = lock.alone === true;
    }
    const { rowCount } = await this.guard(client.query(
      `UPDATE leader_lease SET renewed_at = ${NOW_MS}, expires_at = ${NOW_MS} + $4 WHERE name = $1 AND holder = $2 AND epoch = $3`,
      [LEASE_NAME, identity, epoch, this.options.leaseDurationMs],
    ));
    if (rowCount === 1) return true;
    if (connection.holdsSessionLock) await this.unlockSession(connection);
    return false;
  }

  async release(identity: string, epoch: number): Promise<void> {
    const connection = await this.connection();
    const { client, channel } = connection;
    await this.guard(client.query(
      "UPDATE leader_lease SET holder = '', expires_at = 0 WHERE name = $1 AND holder = $2 AND epoch = $3",
      [LEASE_NAME, identity, epoch],
    ));
    await this.unlockSession(connection);
    await this.guard(client.query(`NOTIFY ${channel}, 'released'`));
  }

  private async unlockSession(connection: LeaseConnection): Promise<void> {
    await this.guard(connection.client.query(`SELECT pg_advisory_unlock${SESSION_LOCK}`));
    connection.holdsSessionLock = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    const connection = this.client;
    this.client = undefined;
    if (connection) await connection.then(({ client }) => client.end()).catch(() => undefined);
  }

  private async transaction<T>({ client }: LeaseConnection, work: (client: pg.Client) => Promise<T>): Promise<T> {
    try {
      await this.guard(client.query("BEGIN"));
      const result = await this.guard(work(client));
      await this.guard(client.query("COMMIT"));
      return result;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  /** A failed call drops the connection: the next one connects afresh. */
  private async guard<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      if (!(error instanceof Error && "code" in error && typeof (error as { code?: unknown }).code === "string" && /^[0-9A-Z]{5}$/.test((error as { code: string }).code))) this.drop();
      throw error;
    }
  }

  private drop(): void {
    const connection = this.client;
    this.client = undefined;
    void connection?.then(({ client }) => client.end()).catch(() => undefined);
  }

  private connection(): Promise<LeaseConnection> {
    if (this.closed) return Promise.reject(new Error("the lease connection is closed"));
    this.client ??= (async () => {
      const client = new pg.Client({
        connectionString: this.options.connectionString,
        connectionTimeoutMillis: this.options.callTimeoutMs,
        query_timeout: this.options.callTimeoutMs,
        keepAlive: true,
      });
      client.on("error", () => this.drop());
      client.on("notification", () => this.listeners.forEach((listener) => listener()));
      try {
        await client.connect();
        const channel = await schemaChannel(client, "lease");
        await client.query(`LISTEN ${channel}`);
        return { client, channel, holdsSessionLock: false };
      } catch (error) {
        await client.end().catch(() => undefined);
        throw error;
      }
    })();
    const pending = this.client;
    pending.catch(() => {
      if (this.client === pending) this.client = undefined;
    });
    return pending;
  }
}

/**
 * Starts a term in the store's lease row when another lease (Kubernetes) decides who leads: the
 * epoch the leader's writes carry on a shared PostgreSQL store. Raised under the fencing lock, so
 * the previous leader's fenced writes in flight finish first.
 */
export async function beginPostgresTerm(connectionString: string, identity: string, timeoutMs: number): Promise<number> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query("BEGIN");
    await lockEpoch(client);
    const { rows } = await client.query(
      `UPDATE leader_lease SET holder = $2, epoch = epoch + 1, acquired_at = ${NOW_MS}, renewed_at = ${NOW_MS} WHERE name = $1 RETURNING epoch`,
      [LEASE_NAME, identity],
    );
    await client.query("COMMIT");
    return Number(rows[0].epoch);
  } finally {
    await client.end().catch(() => undefined);
  }
}
