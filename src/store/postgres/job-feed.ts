// What other replicas wrote, as it commits: every job insert, transition and cancel request sends
// a NOTIFY (job id, sequence, and the writing store's origin) in its transaction, so it is heard
// only once committed, in commit order. A feed LISTENs on a connection of its own; after the
// connection was lost (notifications meanwhile are gone), it reconnects and says so, so that
// whoever follows jobs reads what it may have missed from the rows.
import pg from "pg";
import type { Logger } from "pino";

export interface JobNotice {
  /** "transition": a new job or a state change (the event with `sequence` is stored); "cancel": a cancel was requested; "settings": dispatching paused, resumed or limits changed; "schedules": a schedule created, changed or deleted. */
  kind: "transition" | "cancel" | "settings" | "schedules";
  jobId: string;
  sequence: number;
}

export interface JobFeedHandlers {
  notice(notice: JobNotice): void;
  /** The feed was down for a while: notices may have been missed. */
  resync(): void;
}

const KINDS: Record<string, JobNotice["kind"]> = { T: "transition", C: "cancel", S: "settings", H: "schedules" };
const LETTERS: Record<JobNotice["kind"], string> = { transition: "T", cancel: "C", settings: "S", schedules: "H" };
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

export function noticePayload(kind: JobNotice["kind"], origin: string, jobId: string, sequence: number): string {
  return `${LETTERS[kind]}|${origin}|${sequence}|${jobId}`;
}

export class JobFeed {
  private client?: pg.Client;
  private closed = false;
  private retryMs = RECONNECT_MIN_MS;
  private timer?: NodeJS.Timeout;
  private connectedOnce?: Promise<void>;

  constructor(
    private readonly connectionString: string,
    private readonly channel: string,
    /** Notices of this origin (the store's own writes, already published in-process) are skipped. */
    private readonly origin: string,
    private readonly handlers: JobFeedHandlers,
    private readonly logger?: Logger,
  ) {}

  /** Resolves once listening. */
  start(): Promise<void> {
    this.connectedOnce ??= this.connect(false);
    return this.connectedOnce;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.client?.end().catch(() => undefined);
  }

  private async connect(again: boolean): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, keepAlive: true, connectionTimeoutMillis: 5000 });
    client.on("notification", (message) => this.onMessage(message.payload ?? ""));
    client.on("error", () => this.lost(client));
    client.on("end", () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      if (!again) throw error;
      this.lost(client);
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.retryMs = RECONNECT_MIN_MS;
    if (again) {
      this.logger?.info("job feed listening again");
      this.handlers.resync();
    }
  }

  private lost(client: pg.Client): void {
    if (this.closed || (this.client !== client && this.client !== undefined)) return;
    this.client = undefined;
    void client.end().catch(() => undefined);
    this.logger?.warn({ retryInMs: this.retryMs }, "job feed connection lost; reconnecting");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(true), this.retryMs);
    this.retryMs = Math.min(RECONNECT_MAX_MS, this.retryMs * 2);
  }

  private onMessage(payload: string): void {
    const [kind, origin, sequence, ...id] = payload.split("|");
    if (origin === this.origin || !KINDS[kind]) return;
    this.handlers.notice({ kind: KINDS[kind], sequence: Number(sequence), jobId: id.join("|") });
  }
}
