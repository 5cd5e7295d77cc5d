import { and, asc, eq, gt, lt, lte, notExists, notInArray } from 'drizzle-orm';
import { alias } from 'drizzle-orm/sqlite-core';
import type { Db } from '../db';
import { orders, outbox } from '../db/schema';
import { crashPoint } from '../faults';
import type { Logger } from '../log';
import { outboxMetrics } from './metrics';
import type { BlobStore } from '../ports/blob-store';
import { DeliveryError, type Channel, type ChannelName, type Reply } from '../ports/channel';
import { backoff } from '../retry/backoff';
import { orderOwedSeconds } from '../orders/debts';
import { scrubbedMessage } from '../secrets';
import { AudioCleanup } from './audio-cleanup';
import { buildTranscriptReply } from './transcript-reply';

type Row = typeof outbox.$inferSelect;

/** A reply the platform keeps refusing is tried for this long after it was recorded, then given up. */
export const REPLY_RETRY_BUDGET_MS = 24 * 60 * 60_000;
/** Tries 2 s, 4 s, 8 s ... apart, at most an hour: about 35 tries in the day. */
const REPLY_BACKOFF_BASE_MS = 2000;
const REPLY_BACKOFF_MAX_MS = 60 * 60_000;
/** Rows read at a time; lanes beyond `SEND_LANES` wait for the next read. */
const BATCH = 500;
/** While lanes are in flight, due replies are looked for again at least this often (back-offs that ended). */
const RESCAN_MS = 1000;

const earlier = alias(outbox, 'earlier');
/**
 * Lanes of one channel in flight at once: a transcript reply to Telegram is several sends a second apart (its
 * per-chat limit), so a burst of 300 transcripts needs many chats sending side by side; the channels pace
 * their own sends to stay within each platform's overall limits.
 */
const SEND_LANES = 128;

/**
 * Sends recorded replies, one loop per channel: each channel's replies go out oldest first within their
 * lane, the lanes side by side, and the channels never wait for each other, so a stalled mail server never
 * holds up Telegram. Lanes are started as they become due, not in rounds: a lane that is slow (a chat held
 * back by its rate limit, a hanging server) never keeps a new reply in another lane waiting. Only replies
 * that are due are read. A reply that fails waits with exponential back-off, and later replies in its
 * lane (the same order, or the same chat for replies about no order) wait behind it, so a user never sees
 * "done" before "paid". A permanent failure (blocked bot) ends that reply at once; a passing one is retried
 * for `REPLY_RETRY_BUDGET_MS` (a day) after the reply was recorded.
 */
export class OutboxSender {
  readonly cleanup: AudioCleanup;
  private readonly channels: Map<ChannelName, Channel>;
  /** Lanes being sent now, per channel; their rows are not read again until they are done. */
  private readonly inFlight = new Map<ChannelName, Map<string, Promise<void>>>();
  /** Wakes a pass that is waiting on its lanes: new replies were recorded. */
  private readonly nudges = new Map<ChannelName, () => void>();
  private warnedMissing = false;
  private closed = false;

  constructor(private readonly deps: { db: Db; store: BlobStore; channels: Channel[]; log: Logger }) {
    this.channels = new Map(deps.channels.map((c) => [c.name, c]));
    this.cleanup = new AudioCleanup(deps);
  }

  /** One pass per configured channel, each its own loop (`Loop`), so the channels never wait for each other. */
  lanes(): { channel: ChannelName; tick: () => Promise<void> }[] {
    return [...this.channels.keys()].map((channel) => ({ channel, tick: () => this.tick(channel) }));
  }

  /** New replies were recorded: a pass in progress starts their lanes now instead of when a lane ends. */
  nudge(): void {
    for (const wake of this.nudges.values()) wake();
  }

  /**
   * Starts no more lanes and waits up to `graceMs` for those in flight; a hung send must not hold up a stop.
   * Replies still in flight after that stay pending and go out after the next start.
   */
  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    this.nudge();
    const lanes = [...this.inFlight.values()].flatMap((running) => [...running.values()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(lanes), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }

  /**
   * Sends the due replies of one channel until none is left that may go now: starts every due lane (up to
   * `SEND_LANES` at a time) and, each time a lane ends or new replies are recorded, starts the lanes due by then.
   */
  tick = async (channel: ChannelName): Promise<void> => {
    this.warnAboutMissingChannels();
    const running = this.inFlight.get(channel) ?? new Map<string, Promise<void>>();
    this.inFlight.set(channel, running);
    for (;;) {
      if (this.closed) return;
      this.startDue(channel, running);
      if (running.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        ...running.values(),
        new Promise<void>((resolve) => {
          this.nudges.set(channel, resolve);
          timer = setTimeout(resolve, RESCAN_MS);
        }),
      ]);
      clearTimeout(timer);
      this.nudges.delete(channel);
    }
  };

  /** Starts the due lanes that are not in flight yet, as many as there is room for. */
  private startDue(channel: ChannelName, running: Map<string, Promise<void>>): void {
    if (running.size >= SEND_LANES) return;
    const lanes = new Map<string, Row[]>();
    for (const row of this.due(channel, [...running.keys()])) lanes.set(row.lane, [...(lanes.get(row.lane) ?? []), row]);
    for (const [lane, rows] of lanes) {
      if (running.size >= SEND_LANES) return;
      const sending = (async () => {
        for (const row of rows) if (!(await this.send(row))) break;
      })()
        // A lane never rejects: the pass that started it may have ended, and its rows are read again next time.
        .catch((error: unknown) => this.deps.log.error({ lane, err: error }, 'reply lane failed'))
        .finally(() => running.delete(lane));
      running.set(lane, sending);
    }
  }

  /**
   * The channel's pending replies whose time has come, outside the lanes in flight (`busy`), that no earlier
   * reply of their lane, waiting out a back-off, holds up.
   */
  private due(channel: ChannelName, busy: string[]): Row[] {
    const { db } = this.deps;
    const now = Date.now();
    const waitingBefore = db
      .select({ id: earlier.id })
      .from(earlier)
      .where(and(eq(earlier.lane, outbox.lane), eq(earlier.state, 'pending'), lt(earlier.id, outbox.id), gt(earlier.nextAttemptAt, now)));
    return db
      .select()
      .from(outbox)
      .where(
        and(
          eq(outbox.state, 'pending'),
          eq(outbox.channel, channel),
          lte(outbox.nextAttemptAt, now),
          busy.length > 0 ? notInArray(outbox.lane, busy) : undefined,
          notExists(waitingBefore),
        ),
      )
      .orderBy(asc(outbox.id))
      .limit(BATCH)
      .all();
  }

  /** Sends one row; true when it is settled (sent or given up), false when it must wait. */
  private async send(row: Row): Promise<boolean> {
    const { db, store } = this.deps;
    const channel = this.channels.get(row.channel as ChannelName)!;
    try {
      const reply: Reply = { key: row.key, orderId: row.orderId ?? undefined, ...row.payload };
      if (reply.balanceSeconds !== undefined && row.orderId) {
        const owed = orderOwedSeconds(db, row.orderId);
        if (owed > 0) reply.owedSeconds = owed;
      }
      if (row.payload.kind === 'transcript' && row.orderId) {
        Object.assign(reply, await buildTranscriptReply(db, store, row.orderId, channel.textLimit));
      }
      await channel.send(row.address, reply);
    } catch (error) {
      return this.failed(row, error);
    }
    crashPoint('sent');
    db.update(outbox)
      .set({ state: 'sent', sentAt: Date.now(), attempts: row.attempts + 1 })
      .where(eq(outbox.id, row.id))
      .run();
    outboxMetrics.repliesSent.inc({ channel: row.channel, kind: row.payload.kind });
    if (row.payload.kind === 'transcript' && row.orderId) await this.afterTranscript(row.orderId);
    return true;
  }

  /** Records a failed try; true when the reply is given up (permanent, or its day is over). */
  private failed(row: Row, error: unknown): boolean {
    const { db, log } = this.deps;
    const permanent = error instanceof DeliveryError && error.permanent;
    const attempts = row.attempts + 1;
    const now = Date.now();
    const dead = permanent || now - row.createdAt >= REPLY_RETRY_BUDGET_MS;
    outboxMetrics.sendErrors.inc({ channel: row.channel, permanent: String(permanent) });
    // Scrubbed before it is stored: the outbox ends up in backups and admin output.
    const reason = scrubbedMessage(error).slice(0, 500);
    log.warn({ key: row.key, channel: row.channel, attempts, dead, err: reason }, 'reply not sent');
    db.update(outbox)
      .set({
        state: dead ? 'dead' : 'pending',
        attempts,
        lastError: reason,
        nextAttemptAt: now + backoff(attempts, REPLY_BACKOFF_BASE_MS, REPLY_BACKOFF_MAX_MS),
      })
      .where(eq(outbox.id, row.id))
      .run();
    return dead;
  }

  /** The transcript is with the user: record the latency and delete the audio (apart from the reply, which stays sent). */
  private async afterTranscript(orderId: string): Promise<void> {
    const order = this.deps.db.select({ createdAt: orders.createdAt }).from(orders).where(eq(orders.id, orderId)).get();
    if (order) outboxMetrics.deliveryLatency.observe((Date.now() - order.createdAt) / 1000);
    await this.cleanup.deleteAudio(orderId);
  }

  /** Says once when replies wait for a channel this service does not run (its credentials were removed). */
  private warnAboutMissingChannels(): void {
    if (this.warnedMissing) return;
    this.warnedMissing = true;
    const names = [...this.channels.keys()];
    const stranded = this.deps.db
      .selectDistinct({ channel: outbox.channel })
      .from(outbox)
      .where(names.length > 0 ? and(eq(outbox.state, 'pending'), notInArray(outbox.channel, names)) : eq(outbox.state, 'pending'))
      .all();
    for (const { channel } of stranded) this.deps.log.warn({ channel }, 'replies waiting for a channel that is not configured');
  }
}
