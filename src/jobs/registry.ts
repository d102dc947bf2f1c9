import type { JobHandler } from "./handler.js";

export class JobRegistry {
  private readonly handlers = new Map<string, JobHandler>();

  register(handler: JobHandler): this {
    if (this.handlers.has(handler.type)) throw new Error(`job type "${handler.type}" is registered twice`);
    this.handlers.set(handler.type, handler);
    return this;
  }

  get(type: string): JobHandler | undefined {
    return this.handlers.get(type);
  }

  require(type: string): JobHandler {
    const handler = this.handlers.get(type);
    if (!handler) throw new Error(`no handler registered for job type "${type}"`);
    return handler;
  }

  all(): JobHandler[] {
    return [...this.handlers.values()];
  }
}
