import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

// A thread of the SQLite store with a connection of its own to the same file, for the work that
// must not hold the event loop (better-sqlite3 blocks the thread it runs on):
// - WAL checkpoints, every `checkpointMs`: one copies the WAL into the database file and fsyncs
//   it, tens of milliseconds on a big store under writes;
// - reads whose cost the caller decides (ListJobs with any combination of filters: most are an
//   index walk that stops at the page, but a filter no index orders by can read much of the table).
// WAL mode lets it read while the main connection writes; each read sees every commit made
// before it started. Evaluated as CommonJS (`eval: true`), so it needs no file of its own in
// dist/ and runs the same under the tests.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma("busy_timeout = 5000");
db.pragma("cache_size = -" + workerData.cacheKib);
const statements = new Map();
const timer = setInterval(() => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch {
    // Busy: the next one catches up.
  }
}, workerData.checkpointMs);
parentPort.on("message", (message) => {
  if (message.kind === "heap") {
    const heap = require("node:v8").getHeapStatistics();
    parentPort.postMessage({ id: message.id, heap: { used: heap.used_heap_size, total: heap.total_heap_size, external: heap.external_memory } });
    return;
  }
  if (message.kind === "close") {
    clearInterval(timer);
    db.close();
    parentPort.close();
    return;
  }
  try {
    let statement = statements.get(message.sql);
    if (!statement) {
      statement = db.prepare(message.sql);
      statements.set(message.sql, statement);
      if (statements.size > 500) statements.delete(statements.keys().next().value);
    }
    parentPort.postMessage({ id: message.id, rows: statement.all(...message.values) });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: String((error && error.message) || error) });
  }
});
`;

type Row = Record<string, unknown>;

/**
 * The page cache of each of the store's connections, in KiB. better-sqlite3 builds SQLite with
 * 16 MiB (SQLITE_DEFAULT_CACHE_SIZE=-16000), which random reads of a big file fill: 2 x 16 MiB
 * of the service's RSS at 1M jobs. 4 MiB holds the interior pages of the job table and its
 * indexes (what every lookup and insert walks); leaf pages are read from the OS's page cache.
 */
export const SQLITE_CACHE_KIB = 4096;

/** A thread's V8 heap, in bytes: live and dead objects, what it holds from the system, and its external memory. */
export interface ThreadHeap {
  used: number;
  total: number;
  external: number;
}

export class SqliteWorker {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private readonly pending = new Map<number, { resolve: (answer: never) => void; reject: (error: Error) => void }>();
  private nextId = 0;

  constructor(path: string, checkpointMs: number) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    // Small heaps: it holds one page of rows at a time (ListJobs pages are at most 1000 jobs),
    // and a worker's default young generation alone would add tens of MiB to the service's RSS.
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, path, checkpointMs, cacheKib: SQLITE_CACHE_KIB },
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 96 },
    });
    this.worker.on("message", (message: { id: number; rows?: Row[]; heap?: ThreadHeap; error?: string }) => {
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      if (this.pending.size === 0) this.worker.unref();
      if (message.error !== undefined) waiting.reject(new Error(message.error));
      else waiting.resolve((message.rows ?? message.heap) as never);
    });
    // Idle, the thread keeps no process alive (the store's close() ends it); a read in flight does.
    this.worker.unref();
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
    void this.exited.then(() => {
      for (const waiting of this.pending.values()) waiting.reject(new Error("the SQLite worker thread has ended"));
      this.pending.clear();
    });
  }

  /** The rows of one query, read on the worker's connection. */
  all(sql: string, values: unknown[]): Promise<Row[]> {
    return this.ask({ kind: "all", sql, values });
  }

  /** The thread's V8 heap (its memory is the service's: /metrics reports it). */
  heap(): Promise<ThreadHeap> {
    return this.ask({ kind: "heap" });
  }

  private ask<T>(message: Record<string, unknown>): Promise<T> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (answer: never) => void, reject });
      this.worker.postMessage({ ...message, id });
    });
  }

  /** Stops checkpointing, answers the reads already asked, and closes the worker's connection. */
  async close(): Promise<void> {
    this.worker.ref();
    this.worker.postMessage({ kind: "close" });
    await this.exited;
  }
}
