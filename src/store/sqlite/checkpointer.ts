import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

// Runs in a worker thread, on a connection of its own: a checkpoint copies the WAL into the
// database file and fsyncs it, which on a big store under writes can take longer than any
// request may wait, and better-sqlite3 blocks the thread it runs on. Evaluated as CommonJS
// (`eval: true`), so it needs no file of its own in dist/ and runs the same under the tests.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma("busy_timeout = 5000");
const timer = setInterval(() => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
}, workerData.intervalMs);
parentPort.on("message", () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/** WAL checkpoints of one SQLite file every `intervalMs`, off the event loop. */
export class Checkpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(path: string, intervalMs: number, onError: (message: string) => void = () => {}) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path, intervalMs } });
    this.worker.on("message", (message: { error?: string }) => message.error && onError(message.error));
    // The thread keeps no process alive on its own: the store's close() ends it.
    this.worker.unref();
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
  }

  /** Stops checkpointing and closes the worker's connection. */
  async close(): Promise<void> {
    this.worker.postMessage("close");
    await this.exited;
  }
}
