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
import { receiveOrder, type NewFile } from '../orders/lifecycle';
import type { Quoting } from '../orders/quote';
import type { BlobStore } from '../ports/blob-store';
import type { ModelInfo } from '../domain/models';
import type { IncomingMessage, MessageHandler } from '../ports/channel';
import type { Wakeups } from '../processors/wakeups';
import { findOrCreateUser, grantKey, type GrantPolicy, type User } from '../users';
import { defaultFloodPolicy, FloodLimiter, type FloodPolicy } from './flood';
import { applyChoice, handleCommand, type ChoiceAnswer, type CommandContext } from './commands';
import { displayName } from './file-names';
import { storeAttachment } from './store-attachment';
import { DEFAULT_PROBE_BUDGET_MS, ProbeBudget } from './probe-budget';
import { OneAtATime, Slots } from './slots';
import { availableParallelism } from 'node:os';
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
  /** Who gets the free seconds; unset, every new user gets `freeSeconds`. */
  grants?: GrantPolicy;
  /** Messages (orders and commands) per user, on every channel; over it they are dropped, with one warning a minute. */
  flood?: FloodPolicy;
  /** Help replies per user per hour; past it a message without a recording is recorded and left unanswered. */
  helpPerHour?: number;
  /** Messages handled at once, all channels together; the rest wait their turn. */
  maxConcurrent?: number;
  /** Files measured (decoded by ffmpeg) at once, all messages together; default the number of cores. */
  maxConcurrentProbes?: number;
  /** Measuring time the files of one message get together, in seconds (default 600). */
  probeSecondsPerMessage?: number;
  /** How long a file's download may send nothing before it is refused as stalled; 30 s when absent. */
  downloadIdleMs?: number;
  /** The model recordings go through; English-only ones refuse other languages and translation. */
  model: ModelInfo;
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
  private readonly grants: GrantPolicy;
  private readonly flood: FloodLimiter;
  private readonly help: FloodLimiter;
  private readonly admission: Slots;
  /** A user's messages with recordings, one at a time: a second waits without taking an intake slot. */
  private readonly perUser = new OneAtATime();
  private readonly probeSlots: Slots;
  private readonly probeBudgetMs: number;

  constructor(private readonly options: IntakeOptions) {
    this.maxFiles = options.maxFilesPerMessage ?? 20;
    this.grants = options.grants ?? {
      freeSeconds: options.freeSeconds,
      perEmailDomainPerDay: 0,
      perFreeMailProviderPerDay: 0,
      discordMinAccountAgeMs: 0,
    };
    this.flood = new FloodLimiter(options.flood ?? defaultFloodPolicy);
    const helpPerHour = options.helpPerHour ?? 3;
    this.help = new FloodLimiter({ burst: helpPerHour, perMinute: helpPerHour / 60 });
    this.admission = new Slots(options.maxConcurrent ?? 16);
    this.probeSlots = new Slots(options.maxConcurrentProbes ?? availableParallelism());
    this.probeBudgetMs = options.probeSecondsPerMessage === undefined ? DEFAULT_PROBE_BUDGET_MS : options.probeSecondsPerMessage * 1000;
  }

  /** The `MessageHandler` channels call. */
  readonly handle: MessageHandler = Object.assign(
    async (message: IncomingMessage): Promise<void> => {
      const flightKey = `${message.channel}\u0000${message.id}`;
      const running = this.inFlight.get(flightKey);
      if (running) return running;
      const admitted = () => this.admission.run(() => this.handleOnce(message));
      // Only messages that download and measure files are lined up per user; commands and help cost no slot for long.
      const handling = (message.attachments.length > 0 ? this.perUser.run(senderKey(message), admitted) : admitted()).finally(() =>
        this.inFlight.delete(flightKey),
      );
      this.inFlight.set(flightKey, handling);
      return handling;
    },
    { gaveUp: (message: Pick<IncomingMessage, 'channel' | 'id' | 'replyTo'>) => this.gaveUp(message) },
  );

  /** The adapter gave up on a message (its files could not be fetched): the sender is told, once per message id. */
  private async gaveUp(message: Pick<IncomingMessage, 'channel' | 'id' | 'replyTo'>): Promise<void> {
    const key = `unfetched:${message.channel}:${message.id}`;
    enqueueReply(this.options.db, message.replyTo, { key, kind: 'notice', text: text.unfetched() });
    this.options.log.warn({ channel: message.channel, messageId: message.id }, 'message given up by its channel; sender told');
    this.options.wakeups.emit('outbox');
  }

  private async handleOnce(message: IncomingMessage): Promise<void> {
    if (this.seen(message)) {
      intakeMetrics.duplicates.inc({ channel: message.channel });
      this.options.log.info({ channel: message.channel, messageId: message.id }, 'duplicate message ignored');
      return;
    }
    intakeMetrics.messages.inc({ channel: message.channel });
    const who = senderKey(message);
    if (!this.flood.take(who)) return this.dropFlood(message, who);
    if (message.command) return this.answerCommand(message);
    if (message.attachments.length === 0 && message.choices?.length) return this.answerChoices(message);
    if (message.attachments.length === 0) return this.answerWithHelp(message, who);
    await this.takeOrder(message, orderIdFor(message));
  }

  /**
   * A user over the per-user limit: the message is recorded as handled (a redelivery is not a way around
   * it) and nothing is downloaded or charged. Chat users are told once a minute; mail gets no answer,
   * since a sender that floods is most likely a machine, and answering machines starts loops.
   */
  private dropFlood(message: IncomingMessage, who: string): void {
    const { db, log } = this.options;
    intakeMetrics.limited.inc({ channel: message.channel, limit: 'flood' });
    log.warn({ channel: message.channel, messageId: message.id }, 'per-user message limit: message dropped');
    const warn = message.channel !== 'email' && this.flood.shouldWarn(who);
    transaction(db, () => {
      if (warn) enqueueReply(db, message.replyTo, { key: `flood:${message.channel}:${message.id}`, kind: 'notice', text: text.tooFast() });
      this.markDone(message);
    });
    if (warn) this.options.wakeups.emit('outbox');
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
    const { db, ledger } = this.options;
    transaction(db, () => {
      const user = findOrCreateUser(db, ledger, message.channel, message.sender.id, this.grants);
      const answer = handleCommand(db, ledger, user, message.command!, this.context(message, user));
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

  private answerWithHelp(message: IncomingMessage, who: string): void {
    const { db, ledger, log } = this.options;
    // An auto-responder that ignores RFC 3834 answers every help mail with a mail: a few replies an hour
    // per sender, then silence, so no loop can run.
    if (!this.help.take(who)) {
      intakeMetrics.limited.inc({ channel: message.channel, limit: 'help' });
      log.info({ channel: message.channel, messageId: message.id }, 'help reply limit: message left unanswered');
      transaction(db, () => this.markDone(message));
      return;
    }
    transaction(db, () => {
      const user = findOrCreateUser(db, ledger, message.channel, message.sender.id, this.grants);
      enqueueReply(db, message.replyTo, {
        key: `help:${message.channel}:${message.id}`,
        kind: 'notice',
        text: text.noAttachment(this.granted(user), message.channel, this.options.model),
        balanceSeconds: ledger.balance(user.id),
      });
      this.markDone(message);
    });
    this.options.wakeups.emit('outbox');
  }

  private context(message: IncomingMessage, user: User): CommandContext {
    return { freeSeconds: this.granted(user), model: this.options.model, channel: message.channel };
  }

  /**
   * The free seconds `user` was given: the configured grant if they got it, else 0. Help texts promise free time
   * only to someone who got it (a Discord account too young, or an address past its domain's daily cap, did not).
   */
  private granted(user: User): number {
    return this.options.ledger.has(grantKey(user.id)) ? this.grants.freeSeconds : 0;
  }

  /**
   * Applies the choices written in a message (email's `format: vtt` lines) to its sender, and returns
   * the sender as changed with the answers. Runs inside the intake transaction.
   */
  private applyChoices(message: IncomingMessage, user: User): { user: User; answers: ChoiceAnswer[] } {
    const { db, ledger } = this.options;
    const answers = (message.choices ?? []).flatMap((choice) => applyChoice(db, user, choice, this.context(message, user)) ?? []);
    return { user: answers.length ? findOrCreateUser(db, ledger, message.channel, message.sender.id, this.grants) : user, answers };
  }

  /** A message with choices and no recording: the answers are the reply. */
  private answerChoices(message: IncomingMessage): void {
    const { db, ledger } = this.options;
    transaction(db, () => {
      // The grant policy holds here too: a first mail of choices alone must not be a way around the daily cap.
      const { user, answers } = this.applyChoices(message, findOrCreateUser(db, ledger, message.channel, message.sender.id, this.grants));
      enqueueReply(db, message.replyTo, {
        key: `cmd:${message.channel}:${message.id}`,
        kind: 'command',
        text: answers.length
          ? answers.map((a) => a.text).join('\n')
          : text.noAttachment(this.granted(user), message.channel, this.options.model),
        balanceSeconds: ledger.balance(user.id),
      });
      this.markDone(message);
    });
    this.options.wakeups.emit('outbox');
  }

  private async takeOrder(message: IncomingMessage, orderId: string): Promise<void> {
    const { db, ledger, store, quoting, log, limits } = this.options;
    const accepted = message.attachments.slice(0, this.maxFiles);
    const stored: NewFile[] = [];
    const budget = new ProbeBudget(this.probeBudgetMs);
    // A run killed while it stored this message left half-written files; a sender's messages go through intake one
    // at a time, so nothing is writing here now.
    await store.removeLeftovers?.(`orders/${orderId}`, 0);
    for (const [position, attachment] of accepted.entries()) {
      const name = displayName(attachment.name, position);
      const key = `orders/${orderId}/${position}`;
      const { probeSlots } = this;
      const { downloadIdleMs } = this.options;
      stored.push(await storeAttachment({ store, attachment, name, position, key, limits, probeSlots, budget, downloadIdleMs }));
    }
    // Files past the limit are recorded as refused, never opened: their lines then stay in every status the order shows.
    for (const [i, attachment] of message.attachments.slice(this.maxFiles).entries()) {
      const position = this.maxFiles + i;
      const name = displayName(attachment.name, position);
      stored.push({
        position,
        name,
        key: `orders/${orderId}/${position}`,
        bytes: 0,
        duration: null,
        refusal: text.refusals.tooMany(this.maxFiles),
      });
    }

    const outcome = transaction(db, () => {
      const { user, answers } = this.applyChoices(message, findOrCreateUser(db, ledger, message.channel, message.sender.id, this.grants));
      // A refused choice is said before the quote, so the sender knows what their recording is transcribed as.
      const refusals = answers.filter((a) => a.refused);
      if (refusals.length)
        enqueueReply(db, message.replyTo, {
          key: `choices:${message.channel}:${message.id}`,
          kind: 'notice',
          text: refusals.map((a) => a.text).join('\n'),
          balanceSeconds: ledger.balance(user.id),
        });
      const { englishOnly } = this.options.model;
      receiveOrder(
        db,
        {
          id: orderId,
          userId: user.id,
          channel: message.channel,
          replyTo: message.replyTo,
          // A choice kept from before the service switched to an English-only model would give nonsense.
          language: englishOnly ? null : user.language,
          translate: !englishOnly && user.translate,
          formats: user.formats,
        },
        stored,
      );
      const result = quoting.quote(orderId);
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

/** Who sent a message, as the per-user limits count: one identity on one channel. */
function senderKey(message: IncomingMessage): string {
  return `${message.channel}\u0000${message.sender.id}`;
}

/** The order id of a message: derived from its platform id, so handling it again after a crash reuses it. */
export function orderIdFor(message: IncomingMessage): string {
  return createHash('sha256').update(`${message.channel}\u0000${message.id}`).digest('hex').slice(0, 32);
}
