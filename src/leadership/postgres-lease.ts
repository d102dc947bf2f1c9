// The lease in PostgreSQL (the local runtime on a shared database): the one row of `leader_lease`
// (migration 12), on a connection of its own so that a busy pool never delays a renewal. Expiry is
// judged by the database's clock, the one clock every replica shares. Taking the lease raises the
// epoch under the fencing lock (store/fencing.ts). A release is announced with NOTIFY, so a
// follower takes over at once instead of at its next retry.
//
// The row also names the holder's session (`holder_pid`, its lease connection's backend, set at
// each take and renewal). PostgreSQL ends a session as soon as its client's process dies or its
// connection resets, so a follower that finds the holder's session gone takes the lease at its
// next retry instead of waiting for it to expire. A paused holder keeps its session: then only the
// expiry decides. Taking over early is safe for the reason any takeover is: the new epoch refuses
// whatever the old holder still writes. (This needs session-level connections, as LISTEN does:
// not a transaction-pooling proxy in front of PostgreSQL.)
import pg from "pg";
import type { Logger } from "pino";
import { LEASE_NAME, lockEpoch } from "../store/fencing.js";
import { schemaChannel } from "../store/postgres/channels.js";
import type { LeaseBackend } from "./election.js";

const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
/** The holder's session has ended: nobody is renewing this lease any more. */
const HOLDER_GONE = "(holder_pid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = leader_lease.holder_pid))";

export interface PostgresLeaseOptions {
  connectionString: string;
  leaseDurationMs: number;
  /** Bound on every statement and on connecting: a cut connection fails the call instead of hanging it. */
  callTimeoutMs: number;
  logger: Logger;
}

export class PostgresLease implements LeaseBackend {
  readonly kind = "postgres" as const;
  private client?: Promise<{ client: pg.Client; channel: string }>;
  private readonly listeners: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: PostgresLeaseOptions) {}

  onMaybeFree(listener: () => void): void {
    this.listeners.push(listener);
  }

  async acquire(identity: string): Promise<{ acquired: true; epoch: number } | { acquired: false; holder: string; expiresInMs: number }> {
    return this.transaction(async (client) => {
      // Waits (bounded by lock_timeout) for the fenced writes of the term in force.
      await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(this.options.callTimeoutMs / 2))}`);
      await lockEpoch(client);
      const { rows } = await client.query(
        `UPDATE leader_lease SET holder = $2, holder_pid = pg_backend_pid(), epoch = epoch + 1, acquired_at = ${NOW_MS}, renewed_at = ${NOW_MS}, expires_at = ${NOW_MS} + $3
          WHERE name = $1 AND (holder = '' OR holder = $2 OR expires_at <= ${NOW_MS} OR ${HOLDER_GONE}) RETURNING epoch`,
        [LEASE_NAME, identity, this.options.leaseDurationMs],
      );
      if (rows[0]) return { acquired: true as const, epoch: Number(rows[0].epoch) };
      const current = await client.query(`SELECT holder, expires_at - ${NOW_MS} AS left_ms FROM leader_lease WHERE name = $1`, [LEASE_NAME]);
      return { acquired: false as const, holder: String(current.rows[0]?.holder ?? ""), expiresInMs: Number(current.rows[0]?.left_ms ?? 0) };
    });
  }

  async renew(identity: string, epoch: number): Promise<boolean> {
    const { client } = await this.connection();
    const { rowCount } = await this.guard(client.query(
      `UPDATE leader_lease SET holder_pid = pg_backend_pid(), renewed_at = ${NOW_MS}, expires_at = ${NOW_MS} + $4 WHERE name = $1 AND holder = $2 AND epoch = $3`,
      [LEASE_NAME, identity, epoch, this.options.leaseDurationMs],
    ));
    return rowCount === 1;
  }

  async release(identity: string, epoch: number): Promise<void> {
    const { client, channel } = await this.connection();
    await this.guard(client.query(
      "UPDATE leader_lease SET holder = '', holder_pid = NULL, expires_at = 0 WHERE name = $1 AND holder = $2 AND epoch = $3",
      [LEASE_NAME, identity, epoch],
    ));
    await this.guard(client.query(`NOTIFY ${channel}, 'released'`));
  }

  async close(): Promise<void> {
    this.closed = true;
    const connection = this.client;
    this.client = undefined;
    if (connection) await connection.then(({ client }) => client.end()).catch(() => undefined);
  }

  private async transaction<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const { client } = await this.connection();
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

  private connection(): Promise<{ client: pg.Client; channel: string }> {
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
        return { client, channel };
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
      `UPDATE leader_lease SET holder = $2, holder_pid = NULL, epoch = epoch + 1, acquired_at = ${NOW_MS}, renewed_at = ${NOW_MS} WHERE name = $1 RETURNING epoch`,
      [LEASE_NAME, identity],
    );
    await client.query("COMMIT");
    return Number(rows[0].epoch);
  } finally {
    await client.end().catch(() => undefined);
  }
}
