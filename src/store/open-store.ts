import { join } from "node:path";
import type { Config } from "../config.js";
import { PostgresStore } from "./postgres/postgres-store.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import type { AuthStore } from "./auth-store.js";
import type { ScheduleStore } from "./schedule-store.js";
import type { JobStore } from "./store.js";

/** PostgreSQL when DATABASE_URL is set, else the embedded SQLite file. Migrated before use. */
export async function openStore(config: Config): Promise<JobStore & ScheduleStore & AuthStore> {
  const store: JobStore & ScheduleStore & AuthStore = config.DATABASE_URL
    ? new PostgresStore(config.DATABASE_URL, { poolSize: config.DATABASE_POOL_SIZE })
    : new SqliteStore(config.SQLITE_PATH ?? join(config.DATA_DIR, "jobscheduler.db"), { exclusive: true });
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}
