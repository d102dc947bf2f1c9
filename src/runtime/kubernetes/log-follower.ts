// One pod's log, followed (pods/log?follow=true) while the pod is being stopped: by a cancel, by
// its Job's deadline, by an eviction. The kubelet deletes a stopped pod, and its log with it,
// moments after the container exits, so a log read once the end is seen finds nothing; a stream
// opened before the exit gets everything up to it, including what the collector writes on
// SIGTERM. The server ends the stream when the container stops.
import type { Logger } from "pino";
import type { KubeClient, WatchHandle } from "./kube-client.js";
import type { Priority } from "./rate-limiter.js";

export interface LogFollowerOptions {
  client: KubeClient;
  namespace: string;
  pod: string;
  container: string;
  /** Lines of the log so far to start with. */
  tailLines: number;
  /** At most this much of the end of the log is kept. */
  keepBytes: number;
  logger: Logger;
}

export class LogFollower {
  private text = "";
  private handle?: WatchHandle;
  private stopped = false;
  /** True once the server ended the stream (the container stopped): the text is complete. */
  complete = false;
  /** Resolves with true when streaming, false when the stream could not be opened. */
  readonly connected: Promise<boolean>;
  /** Resolves when the stream is over, whichever way. */
  readonly over: Promise<void>;

  constructor(
    private readonly options: LogFollowerOptions,
    priority: Priority,
  ) {
    const { client, namespace, pod, container, tailLines } = options;
    const opening = client.call(
      `following the log of pod ${namespace}/${pod}`,
      () => client.stream(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/log`, { container, follow: true, tailLines }, (chunk) => this.append(chunk)),
      { priority },
    );
    this.connected = opening.then(
      (handle) => {
        this.handle = handle;
        if (this.stopped) handle.abort();
        return true;
      },
      (error: unknown) => {
        options.logger.warn({ err: (error as Error).message, pod }, "could not follow the log of a stopping pod");
        return false;
      },
    );
    this.over = this.connected.then(async (ok) => {
      if (!ok || !this.handle) return;
      const ended = await this.handle.ended;
      if (ended === null && !this.stopped) this.complete = true;
    });
  }

  /** What the stream brought so far (the end of the log), or null when it never opened. */
  async read(): Promise<string | null> {
    return (await this.connected) ? this.text : null;
  }

  /** Waits until the stream is over (the container stopped) or `ms` has passed, then reads. */
  async settle(ms: number): Promise<string | null> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.over, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
    return this.read();
  }

  stop(): void {
    this.stopped = true;
    this.handle?.abort();
  }

  private append(chunk: string): void {
    this.text += chunk;
    // keepBytes characters hold at least keepBytes bytes: the tail is cut to size when read.
    if (this.text.length > 2 * this.options.keepBytes) this.text = this.text.slice(-this.options.keepBytes);
  }
}
