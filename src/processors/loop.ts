import type { Logger } from '../log';

/**
 * A background processor's heartbeat: runs `tick` every `intervalMs`, or at once when woken,
 * never two ticks at a time. A tick that throws is logged and the loop goes on.
 */
export class Loop {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = true;

  constructor(
    readonly name: string,
    private readonly intervalMs: number,
    private readonly tick: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Runs a tick as soon as the current one (if any) ends. */
  wake = (): void => {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.tick()
      .catch((error: unknown) => this.log.error({ loop: this.name, err: error }, 'background tick failed'))
      .finally(() => {
        this.running = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          setImmediate(this.wake);
        } else {
          this.timer = setTimeout(this.wake, this.intervalMs);
        }
      });
  };

  /** Stops scheduling and waits for the tick in progress to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
