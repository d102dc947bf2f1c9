// SQLite is single-instance: one service process per file. A second process on the same file
// would dispatch the same queue and treat the first one's runs as leftovers of a crash, so it
// refuses to start. The lock is an OS file lock (SQLite's fcntl lock on `<file>.lock`, held as an
// open write transaction): the kernel releases it when the holder dies, even by kill -9, so a
// crashed service never leaves a stale lock behind.
import Database from "better-sqlite3";

export class InstanceLockedError extends Error {}

export interface InstanceLock {
  release(): void;
}

/** Takes the lock of the SQLite file `dbPath`, or throws InstanceLockedError naming the holder. */
export function lockSqliteInstance(dbPath: string): InstanceLock {
  const lockPath = `${dbPath}.lock`;
  const db = new Database(lockPath, { timeout: 0 });
  try {
    // A rollback journal: a RESERVED lock still lets a second process read who holds it.
    db.pragma("journal_mode = DELETE");
    db.exec("CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, since TEXT NOT NULL)");
    // Write who we are first (fails with SQLITE_BUSY while another process holds the lock).
    db.prepare("INSERT OR REPLACE INTO holder (id, pid, since) VALUES (1, ?, ?)").run(process.pid, new Date().toISOString());
    db.exec("BEGIN IMMEDIATE");
  } catch (error) {
    if ((error as { code?: string }).code !== "SQLITE_BUSY") {
      db.close();
      throw error;
    }
    let holder = "";
    try {
      const row = db.prepare("SELECT pid, since FROM holder WHERE id = 1").get() as { pid: number; since: string } | undefined;
      if (row) holder = ` (pid ${row.pid}, since ${row.since})`;
    } catch {
      // the holder row is being written: name no pid
    }
    db.close();
    throw new InstanceLockedError(
      `the SQLite file ${dbPath} is in use by another jobscheduler process${holder}: SQLite runs one instance per file; ` +
        "stop the other process, or use PostgreSQL (DATABASE_URL) to run several replicas",
    );
  }
  return {
    release() {
      if (!db.open) return;
      db.exec("ROLLBACK");
      db.close();
    },
  };
}
