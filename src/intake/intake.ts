import { and, eq, sql } from 'drizzle-orm';
import { prepared } from '../db/prepared';
import { createHash } from 'node:crypto';
import type { Db } from '../db';
import { inboundMessages } from '../db/schema';
import { transaction } from '../db/tx';
import { crashPoint } from '../faults';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import { receiveOrder } from '../orders/lifecycle';
import type { Quoting } from '../orders/quote';
import type { BlobStore } from '../ports/blob-store';
import type { IncomingMessage } from '../ports/channel';
import type { Wakeups } from '../processors/wakeups';
import { findOrCreateUser } from '../users';
import { handleCommand } from './commands';
import { displayName } from './file-names';
import { storeAttachment, type StoredAttachment } from './store-attachment';
import { intakeMetrics } from './metrics';

export interface IntakeOptions {
  db: Db;
  ledger: Ledger;
  store: BlobStore;
  quoting: Quoting;
  wakeups: Wakeups;
  log: Logger;
  freeSeconds: number;
  limits: { maxFileBytes: number; maxFileSeconds: number };
  /** Files beyond this many in one message are refused. */
  maxFilesPerMessage?: number;
}

/**
 * Turns one platform message into a recorded order (or a command answer). Resolves once the
 * outcome is durable, which is when adapters may acknowledge the message to their platform.
 * One service instance owns the database, so the in-flight set plus the record of handled messages
 * is enough to drop duplicates.
 */
export class Intake {
  /**
   * Messages being handled right now. A copy delivered meanwhile waits for the original and shares its
   * outcome, so an adapter never acknowledges a copy before the original is durable.
   */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly maxFiles: number;

  constructor(private readonly options: IntakeOptions) {
    this.maxFiles = options.maxFilesPerMessage ?? 20;
  }

  /** The `MessageHandler` channels call. */
  readonly handle = async (message: IncomingMessage): Promise<void> => {
    const flightKey = `${message.channel}\u0000${message.id}`;
    const running = this.inFlight.get(flightKey);
    if (running) return running;
    const handling = this.handleOnce(message).finally(() => this.inFlight.delete(flightKey));
    this.inFlight.set(flightKey, handling);
    return handling;
  };

  private async handleOnce(message: IncomingMessage): Promise<void> {
    if (this.seen(message)) {
      intakeMetrics.duplicates.inc({ channel: message.channel });
      this.options.log.info({ channel: message.channel, messageId: message.id }, 'duplicate message ignored');
      return;
    }
    intakeMetrics.messages.inc({ channel: message.channel });
    if (message.command) return this.answerCommand(message);
    if (message.attachments.length === 0) return this.answerWithHelp(message);
    await this.takeOrder(message, orderIdFor(message));
  }

  /** Whether the message was already handled (its outcome recorded). */
  private seen(message: IncomingMessage): boolean {
    const { db } = this.options;
    const query = prepared(db, 'inboundSeen', (d) =>
      d
        .select({ orderId: inboundMessages.orderId })
        .from(inboundMessages)
        .where(and(eq(inboundMessages.channel, sql.placeholder('channel')), eq(inboundMessages.messageId, sql.placeholder('id'))))
        .prepare(),
    );
    return query.get({ channel: message.channel, id: message.id }) !== undefined;
  }

  /**
   * Records the message as handled, in the transaction that records its outcome: a crash before it
   * leaves no trace, so the redelivered message is simply handled again (under the same order id).
   */
  private markDone(message: IncomingMessage, orderId?: string): void {
    this.options.db
      .insert(inboundMessages)
      .values({ channel: message.channel, messageId: message.id, orderId: orderId ?? null })
      .onConflictDoNothing()
      .run();
  }

  private answerCommand(message: IncomingMessage): void {
    const { db, ledger, freeSeconds } = this.options;
    transaction(db, () => {
      const user = findOrCreateUser(db, ledger, message.channel, message.sender.id, freeSeconds);
      const answer = handleCommand(db, ledger, user, message.command!, freeSeconds);
      enqueueReply(db, message.replyTo, {
        key: `cmd:${message.channel}:${message.id}`,
        kind: 'command',
        text: answer,
        balanceSeconds: ledger.balance(user.id),
      });
      this.markDone(message);
    });
    this.options.wakeups.emit('outbox');
  }

  private answerWithHelp(message: IncomingMessage): void {
    const { db, ledger, freeSeconds } = this.options;
    transaction(db, () => {
      const user = findOrCreateUser(db, ledger, message.channel, message.sender.id, freeSeconds);
      enqueueReply(db, message.replyTo, {
        key: `help:${message.channel}:${message.id}`,
        kind: 'notice',
        text: text.noAttachment(freeSeconds, message.channel),
        balanceSeconds: ledger.balance(user.id),
      });
      this.markDone(message);
    });
    this.options.wakeups.emit('outbox');
  }

  private async takeOrder(message: IncomingMessage, orderId: string): Promise<void> {
    const { db, ledger, store, quoting, log, freeSeconds, limits } = this.options;
    const accepted = message.attachments.slice(0, this.maxFiles);
    const stored: StoredAttachment[] = [];
    for (const [position, attachment] of accepted.entries()) {
      const name = displayName(attachment.name, position);
      stored.push(await storeAttachment({ store, attachment, name, position, key: `orders/${orderId}/${position}`, limits }));
    }
    const refusedExtra = message.attachments.length - accepted.length;

    const outcome = transaction(db, () => {
      const user = findOrCreateUser(db, ledger, message.channel, message.sender.id, freeSeconds);
      receiveOrder(
        db,
        { id: orderId, userId: user.id, channel: message.channel, replyTo: message.replyTo, language: user.language },
        stored,
      );
      const result = quoting.quote(orderId, { refusedExtra, maxFiles: this.maxFiles });
      this.markDone(message, orderId);
      return result;
    });
    crashPoint('received');
    log.info({ orderId, channel: message.channel, files: stored.length, outcome: outcome.state }, 'order recorded');
    intakeMetrics.orders.inc({ channel: message.channel, outcome: outcome.state });
    for (const file of stored.filter((f) => f.refusal)) await store.delete(file.key);
    if (outcome.state === 'rejected') await store.deletePrefix(`orders/${orderId}`);
    if (outcome.state === 'awaiting_payment') await quoting.openCheckout(orderId);
    if (outcome.state === 'queued') this.options.wakeups.emit('queued');
    this.options.wakeups.emit('outbox');
  }
}

/** The order id of a message: derived from its platform id, so handling it again after a crash reuses it. */
function orderIdFor(message: IncomingMessage): string {
  return createHash('sha256').update(`${message.channel}\u0000${message.id}`).digest('hex').slice(0, 32);
}
