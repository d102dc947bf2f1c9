// Timers for the simulated controllers. Pausing holds back every task that comes due (the
// controllers, kubelet and garbage collector freeze); close() cancels everything.

export type Cancel = () => void;

export class Scheduler {
  private readonly timers = new Set<NodeJS.Timeout>();
  private held: Array<() => void> = [];
  private paused = false;
  private closed = false;

  constructor(private readonly onError: (err: unknown) => void) {}

  get isPaused(): boolean {
    return this.paused;
  }

  /** Runs the task after ms milliseconds (0: on the next turn of the event loop). */
  after(ms: number, task: () => void): Cancel {
    if (this.closed) return () => {};
    let cancelled = false;
    const guarded = (): void => {
      if (!cancelled) task();
    };
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.run(guarded);
    }, Math.max(0, ms));
    this.timers.add(timer);
    return () => {
      cancelled = true;
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    const due = this.held;
    this.held = [];
    for (const task of due) this.after(0, task);
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.held = [];
  }

  private run(task: () => void): void {
    if (this.closed) return;
    if (this.paused) {
      this.held.push(task);
      return;
    }
    try {
      task();
    } catch (err) {
      this.onError(err);
    }
  }
}
