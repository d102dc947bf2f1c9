import type { Clock } from "../../src/dispatch/clock.js";

interface Sleeper {
  deadline: number;
  order: number;
  resolve: () => void;
}

/** Lets pending callbacks, promise chains and quick I/O run. */
export async function yieldToEventLoop(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A clock that moves only when told to. Sleepers wake in deadline order as `advance` or
 * `set` passes their deadlines, each seeing `now()` equal to its deadline, with the event
 * loop given a turn between them so the work a wake-up starts (and the next sleep it
 * schedules) happens in time order, as with a real clock.
 */
export class ManualClock implements Clock {
  private current: number;
  private sleepers: Sleeper[] = [];
  private order = 0;

  constructor(start: number | Date | string) {
    this.current = new Date(start).getTime();
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper: Sleeper = { deadline: this.current + Math.max(0, ms), order: this.order++, resolve: done };
      this.sleepers.push(sleeper);
      signal?.addEventListener("abort", done, { once: true });
      const self = this;
      function done() {
        self.sleepers = self.sleepers.filter((s) => s !== sleeper);
        signal?.removeEventListener("abort", done);
        resolve();
      }
    });
  }

  /** Moves time forward by `ms`. */
  advance(ms: number): Promise<void> {
    return this.set(this.current + ms);
  }

  /** Moves time to `time` (never backwards), waking due sleepers in order on the way. */
  async set(time: number | Date | string): Promise<void> {
    const target = new Date(time).getTime();
    if (target < this.current) throw new Error(`a manual clock does not go back (now ${new Date(this.current).toISOString()})`);
    for (;;) {
      const due = this.sleepers
        .filter((s) => s.deadline <= target)
        .sort((a, b) => a.deadline - b.deadline || a.order - b.order)[0];
      if (!due) break;
      this.current = Math.max(this.current, due.deadline);
      due.resolve();
      await yieldToEventLoop();
    }
    this.current = target;
    await yieldToEventLoop();
  }

  /** Sleepers waiting now (for tests of the clock itself). */
  pending(): number {
    return this.sleepers.length;
  }
}
