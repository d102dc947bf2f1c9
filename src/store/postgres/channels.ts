// NOTIFY channels are per database, not per schema: replicas sharing a schema share a channel
// named after it, and services in other schemas of the same database (tests) never hear them.
import { createHash } from "node:crypto";
import type pg from "pg";

/** The name of channel `purpose` for the schema the connection works in (its search_path). Lower case, no quoting needed. */
export async function schemaChannel(db: { query(text: string): Promise<pg.QueryResult> }, purpose: string): Promise<string> {
  const { rows } = await db.query("SELECT current_schema() AS schema");
  const schema = String(rows[0]?.schema ?? "public");
  // Identifiers stop at 63 bytes; a hash keeps long schema names apart.
  const tag = createHash("sha1").update(schema).digest("hex").slice(0, 16);
  return `jobscheduler_${purpose}_${tag}`;
}
