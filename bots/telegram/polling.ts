import { setTimeout as sleep } from 'node:timers/promises';
import { TelegramError } from 'telegraf';
import type { Logger } from '../../src/log';
import { backoff } from '../../src/retry/backoff';
import { errorCode, type BotApi } from './api';
import { ALLOWED_UPDATES, type TgUpdate } from './inbound';

/** Long-polling settings. */
export interface PollingOptions {
  /** Seconds one getUpdates call may wait for news. */
  timeoutSeconds: number;
  /** While updates are still being recorded, how often to look for more (albums arrive in parts). */
  busyPollMs: number;
}

export const defaultPollingOptions: PollingOptions = { timeoutSeconds: 50, busyPollMs: 500 };

/**
 * Long polling that confirms an update to Telegram only after the core has recorded it. Telegraf's own
 * loop confirms a batch as soon as it asks for the next one; here the offset stays at the oldest update
 * still in work, so a crash before recording means Telegram sends it again (the core dedupes by message id).
 */
export class Poller {
  private abort = new AbortController();
  private loop?: Promise<void>;
  private next = 0;
  private pending = new Map<number, Promise<boolean>>();
  /** The lowest update that stopping left unrecorded; never confirmed. */
  private floor = Infinity;

  constructor(
    private readonly api: BotApi,
    private readonly handle: (update: TgUpdate) => Promise<boolean>,
    private readonly options: PollingOptions,
    private readonly log: Logger,
  ) {}

  /** Starts polling in the background. */
  start(): void {
    this.loop = this.run();
  }

  /** Ends the long poll in flight and stops asking; `drained` is awaited before the offset is confirmed. */
  async stop(drained: Promise<void>): Promise<void> {
    this.abort.abort();
    await this.loop;
    await drained;
    await Promise.allSettled([...this.pending.values()]);
    const offset = Math.min(this.offset(), this.floor);
    if (offset > 0) {
      // Confirm what was recorded, so the next start does not see it again.
      await this.api.once('getUpdates', { offset, limit: 1, timeout: 0 }).catch(() => undefined);
    }
  }

  private offset(): number {
    return this.pending.size > 0 ? Math.min(...this.pending.keys()) : this.next;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let failures = 0;
    while (!signal.aborted) {
      const busy = this.pending.size > 0;
      let updates: TgUpdate[];
      try {
        updates = await this.api.once<TgUpdate[]>(
          'getUpdates',
          { offset: this.offset(), timeout: busy ? 0 : this.options.timeoutSeconds, allowed_updates: ALLOWED_UPDATES },
          signal,
        );
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        const wait = pollRetryDelay(error, failures);
        this.log.warn({ code: errorCode(error), waitMs: wait }, 'telegram getUpdates failed');
        await sleep(wait, undefined, { signal }).catch(() => undefined);
        continue;
      }
      for (const update of updates) {
        this.next = Math.max(this.next, update.update_id + 1);
        if (this.pending.has(update.update_id)) continue;
        const work = this.handle(update);
        this.pending.set(update.update_id, work);
        void work.then((done) => {
          this.pending.delete(update.update_id);
          if (!done) this.floor = Math.min(this.floor, update.update_id);
        });
      }
      if (this.pending.size > 0) {
        const settled = Promise.allSettled([...this.pending.values()]);
        await Promise.race([settled, sleep(this.options.busyPollMs, undefined, { signal }).catch(() => undefined)]);
      }
    }
  }
}

/** 429 says how long; a conflict (webhook set, second instance) and others back off up to a minute. */
function pollRetryDelay(error: unknown, failures: number): number {
  if (error instanceof TelegramError && error.code === 429) return (error.parameters?.retry_after ?? 5) * 1000;
  return backoff(failures, 1000, 60_000);
}
