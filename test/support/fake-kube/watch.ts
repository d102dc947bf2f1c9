// `?watch=true` streams: newline-delimited JSON events, replayed from the store's history after
// the requested resourceVersion, filtered by selectors, with BOOKMARKs and timeoutSeconds; and
// cut (a connection reset) a set time after it opened when a proxy is simulated.
import type { ServerResponse } from "node:http";
import type { Faults } from "./faults.js";
import type { ResourceType } from "./resources.js";
import type { FieldSelector, LabelSelector } from "./selectors.js";
import { ApiError, badRequest, expired, type Status } from "./status.js";
import type { ObjectStore, StoreEvent } from "./store.js";
import { apiSeconds, type Timing } from "./timing.js";
import type { KubeObject } from "./types.js";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

export interface WatchRequest {
  rt: ResourceType;
  namespace?: string;
  labelSelector: LabelSelector;
  fieldSelector: FieldSelector;
  resourceVersion?: string;
  allowBookmarks: boolean;
  /** Already scaled to real milliseconds. */
  timeoutMs?: number;
}

class WatchStream {
  private readonly cleanups: Array<() => void> = [];
  private closed = false;

  constructor(
    readonly res: ServerResponse,
    private readonly request: WatchRequest,
  ) {}

  onClose(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  send(type: WatchEventType, object: unknown): void {
    if (this.closed || this.res.writableEnded || this.res.destroyed) return;
    this.res.write(`${JSON.stringify({ type, object })}\n`);
  }

  /** Sends the change if it concerns this watch, rewritten for the selectors (an object leaving the selection is DELETED). */
  deliver(event: StoreEvent): void {
    if (event.kind !== this.request.rt.kind) return;
    const now = this.selects(event.object);
    const before = event.previous ? this.selects(event.previous) : false;
    if (event.type === "ADDED") {
      if (now) this.send("ADDED", event.object);
    } else if (event.type === "DELETED") {
      if (before || now) this.send("DELETED", event.object);
    } else if (now && before) {
      this.send("MODIFIED", event.object);
    } else if (now) {
      this.send("ADDED", event.object);
    } else if (before) {
      this.send("DELETED", event.object);
    }
  }

  selects(obj: KubeObject): boolean {
    const { namespace, labelSelector, fieldSelector } = this.request;
    if (namespace !== undefined && obj.metadata.namespace !== namespace) return false;
    return labelSelector.matches(obj.metadata.labels) && fieldSelector.matches(obj);
  }

  bookmark(resourceVersion: number): void {
    const { rt, allowBookmarks } = this.request;
    if (!allowBookmarks) return;
    this.send("BOOKMARK", { kind: rt.kind, apiVersion: rt.apiVersion, metadata: { resourceVersion: String(resourceVersion) } });
  }

  /** Ends the stream: gracefully (the server closing it, like a timeout) or by cutting the connection. */
  close(graceful: boolean): void {
    if (this.closed) return;
    this.closed = true;
    for (const cleanup of this.cleanups) cleanup();
    if (graceful) this.res.end();
    else this.res.destroy();
  }
}

export class WatchHub {
  private readonly streams = new Set<WatchStream>();
  /** Watches cut by the simulated proxy so far. */
  resets = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly faults: Faults,
    private readonly timing: Timing,
    /** A proxy resets every watch connection this long after it opened; 0: never. Read per watch. */
    private readonly resetAfterMs: () => number = () => 0,
  ) {}

  get openCount(): number {
    return this.streams.size;
  }

  serve(res: ServerResponse, request: WatchRequest): void {
    const fromText = request.resourceVersion;
    const resume = fromText !== undefined && fromText !== "" && fromText !== "0";
    const from = resume ? Number(fromText) : undefined;
    if (from !== undefined && (!Number.isInteger(from) || from < 0)) {
      throw badRequest(`resourceVersion: Invalid value: "${fromText}": must be a non-negative integer`);
    }

    // Replay and subscription happen in one synchronous step, so no change falls between them.
    const injected = from !== undefined ? this.faults.takeExpiredWatch() : undefined;
    const historyMs = apiSeconds(this.timing, this.timing.watchHistorySeconds);
    const history = from !== undefined && !injected ? this.store.eventsAfter(from, historyMs) : undefined;
    const tooOld = (): Status => expired(`too old resource version: ${from} (${this.store.oldestVersionWithin(historyMs)})`);
    if (injected === "response") throw new ApiError(tooOld());

    res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private" });
    res.flushHeaders();
    const stream = new WatchStream(res, request);

    if (from !== undefined) {
      if (!history) {
        // The watch cache's way: the stream opens, then says 410 in an ERROR event and ends.
        stream.send("ERROR", tooOld());
        res.end();
        return;
      }
      for (const event of history) stream.deliver(event);
    } else {
      for (const obj of this.store.list(request.rt.kind, request.namespace)) {
        if (stream.selects(obj)) stream.send("ADDED", obj);
      }
    }
    stream.onClose(this.store.subscribe((event) => stream.deliver(event)));

    if (request.allowBookmarks) {
      const timer = setInterval(() => stream.bookmark(this.store.resourceVersion), this.timing.bookmarkIntervalMs);
      stream.onClose(() => clearInterval(timer));
    }
    if (request.timeoutMs !== undefined) {
      const timer = setTimeout(() => stream.close(true), request.timeoutMs);
      stream.onClose(() => clearTimeout(timer));
    }
    const resetMs = this.resetAfterMs();
    if (resetMs > 0) {
      const timer = setTimeout(() => {
        this.resets++;
        stream.close(false);
      }, resetMs);
      stream.onClose(() => clearTimeout(timer));
    }
    this.streams.add(stream);
    stream.onClose(() => this.streams.delete(stream));
    res.on("close", () => stream.close(true));
  }

  /** Sends a BOOKMARK on every open watch that allows them now. */
  bookmarkAll(): void {
    for (const stream of this.streams) stream.bookmark(this.store.resourceVersion);
  }

  /** Ends every open watch: by cutting the connection (default) or as a server-side close. */
  dropAll(graceful = false): void {
    for (const stream of [...this.streams]) stream.close(graceful);
  }
}
