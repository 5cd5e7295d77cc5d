import type { Logger } from '../../src/log';
import type { MessageHandler } from '../../src/ports/channel';
import { toIncoming, type FileOpener, type TgMessage } from './message';
import { recordWithRetry, type HandlerRetry } from '../shared/record';
import { RecentSet } from '../shared/recent';
import type { TgPreCheckoutQuery } from './stars';

/** The updates the bot asks Telegram for. */
export const ALLOWED_UPDATES = ['message', 'pre_checkout_query'];

/** A Bot API Update; only `message` and `pre_checkout_query` (Stars payments) are asked for. */
export interface TgUpdate {
  update_id: number;
  message?: TgMessage;
  pre_checkout_query?: TgPreCheckoutQuery;
}

/** Where Telegram Stars payment updates go; absent when the bot does not sell for Stars. */
export interface StarsUpdates {
  preCheckout(query: TgPreCheckoutQuery): Promise<void>;
  successfulPayment(message: TgMessage, signal: AbortSignal): Promise<boolean>;
  refundedPayment(message: TgMessage): Promise<boolean>;
}

/** What the inbound pipeline needs from the channel. */
export interface InboundOptions {
  onMessage: MessageHandler;
  openFile: FileOpener;
  botUsername: string;
  /** How long an album waits for its next part before it goes to the core as one message. */
  mediaGroupWindowMs: number;
  /** Back-off while the core reports a transient failure. */
  handlerRetry: HandlerRetry;
  /** Telegram Stars payments, when the bot sells for Stars. */
  stars?: StarsUpdates;
  log: Logger;
}

interface PendingGroup {
  parts: TgMessage[];
  timer: NodeJS.Timeout;
  deadline: number;
  done: Promise<boolean>;
  flush(): void;
}

/**
 * Turns updates into the core's messages: drops updates seen before, joins album parts (an album is
 * one message, so it counts once against the core's per-user limit) and hands each message to the core
 * until it is recorded. Every update resolves true once
 * it is finished with (recorded, or deliberately dropped) and false when stopping left it unrecorded,
 * so the caller confirms it to Telegram only in the first case.
 */
export class Inbound {
  private seen = new RecentSet<number>(10_000);
  /** Updates being handled, by id: a webhook delivers an update again when the first delivery is slow to answer. */
  private handling = new Map<number, Promise<boolean>>();
  private groups = new Map<string, PendingGroup>();
  private inFlight = new Set<Promise<boolean>>();
  private stopping = new AbortController();

  constructor(private readonly options: InboundOptions) {}

  /** Handles one update. */
  handleUpdate(update: TgUpdate): Promise<boolean> {
    // A delivery of an update still being handled answers as the first one will: confirming it at once would let
    // Telegram drop it while the first could still end unrecorded (a stop).
    const running = this.handling.get(update.update_id);
    if (running) return running;
    if (this.seen.has(update.update_id)) return Promise.resolve(true);
    if (this.stopping.signal.aborted) return Promise.resolve(false);
    this.seen.add(update.update_id);
    const work = this.route(update).then((done) => {
      // Unfinished updates come back (webhook retry, next poll): they must not look seen then.
      if (!done) this.seen.delete(update.update_id);
      return done;
    });
    this.handling.set(update.update_id, work);
    this.inFlight.add(work);
    void work.finally(() => {
      this.inFlight.delete(work);
      this.handling.delete(update.update_id);
    });
    return work;
  }

  /** Stops taking updates: pending albums go to the core now, retries end, and in-flight work is awaited. */
  async drain(): Promise<void> {
    for (const group of [...this.groups.values()]) group.flush();
    this.stopping.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private async route(update: TgUpdate): Promise<boolean> {
    const { stars, log } = this.options;
    if (update.pre_checkout_query) {
      if (!stars) return true;
      // Answered once: Telegram does not ask again, and cancels the payment after 10 s without an answer.
      await stars.preCheckout(update.pre_checkout_query).catch((error: unknown) => {
        log.error({ err: error }, 'telegram pre-checkout could not be answered; Telegram cancels the payment');
      });
      return true;
    }
    const message = update.message;
    if (!message) return true;
    if (message.successful_payment) {
      if (stars) return stars.successfulPayment(message, this.stopping.signal);
      log.error(
        { chargeId: message.successful_payment.telegram_payment_charge_id },
        'stars payment while Stars are off; settle it by hand',
      );
      return true;
    }
    if (message.refunded_payment) {
      if (stars) return stars.refundedPayment(message);
      log.error({ chargeId: message.refunded_payment.telegram_payment_charge_id }, 'stars refund while Stars are off; settle it by hand');
      return true;
    }
    if (message.media_group_id) return this.joinGroup(message);
    return this.dispatch([message]);
  }

  private joinGroup(message: TgMessage): Promise<boolean> {
    const key = `${message.chat.id}:${message.media_group_id}`;
    const window = this.options.mediaGroupWindowMs;
    const existing = this.groups.get(key);
    if (existing) {
      existing.parts.push(message);
      clearTimeout(existing.timer);
      // Each part extends the wait, but never past three windows, so a slow album cannot stall forever.
      existing.timer = setTimeout(() => existing.flush(), Math.max(0, Math.min(window, existing.deadline - Date.now())));
      return existing.done;
    }
    let release!: () => void;
    const ready = new Promise<void>((resolve) => (release = resolve));
    const group: PendingGroup = {
      parts: [message],
      deadline: Date.now() + 3 * window,
      timer: setTimeout(() => group.flush(), window),
      done: ready.then(() => this.dispatch(group.parts)),
      flush: () => {
        clearTimeout(group.timer);
        this.groups.delete(key);
        release();
      },
    };
    this.groups.set(key, group);
    return group.done;
  }

  private async dispatch(parts: TgMessage[]): Promise<boolean> {
    const { log } = this.options;
    const message = toIncoming(parts, this.options.botUsername, this.options.openFile);
    if (!message) return true;
    const outcome = await recordWithRetry(this.options.onMessage, message, {
      retry: this.options.handlerRetry,
      signal: this.stopping.signal,
      log,
      platform: 'telegram',
    });
    if (outcome === 'dropped') {
      await this.options.onMessage.gaveUp?.(message).catch((error: unknown) => {
        log.error({ messageId: message.id, err: error }, 'telegram sender of a dropped message could not be told');
      });
    }
    // A dropped message is finished with too: confirming it keeps one bad update from blocking the rest.
    return outcome !== 'stopped';
  }
}
