/** How a "typing…" indicator is repeated while an order is being worked on. */
export interface TypingOptions {
  /** Platforms show the indicator for a few seconds; it is sent again at this interval. */
  everyMs: number;
  /** Gives up after this long, should the final reply never come. */
  maxMs: number;
}

/**
 * One repeating "typing…" indicator per order, started by progress replies and stopped by the
 * final one. Sending is best effort: a missed indicator is not worth a retry or an error.
 */
export class TypingIndicators {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly options: TypingOptions) {}

  /** Starts (once per order) calling `send` every `everyMs` until stopped or `maxMs` passed. */
  start(orderId: string, send: () => Promise<unknown>): void {
    if (this.timers.has(orderId)) return;
    const started = Date.now();
    const tick = () => {
      if (Date.now() - started > this.options.maxMs) return this.stop(orderId);
      send().catch(() => undefined);
    };
    tick();
    const timer = setInterval(tick, this.options.everyMs);
    timer.unref();
    this.timers.set(orderId, timer);
  }

  stop(orderId: string): void {
    clearInterval(this.timers.get(orderId));
    this.timers.delete(orderId);
  }

  /** Stops every indicator (the channel is stopping). */
  close(): void {
    for (const orderId of [...this.timers.keys()]) this.stop(orderId);
  }
}
