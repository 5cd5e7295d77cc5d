import { asc, eq } from 'drizzle-orm';
import type { Db } from '../db';
import { orders, outbox } from '../db/schema';
import { orderFiles } from '../orders/summary';
import { crashPoint } from '../faults';
import type { Logger } from '../log';
import { outboxMetrics } from './metrics';
import type { BlobStore } from '../ports/blob-store';
import { DeliveryError, type Channel, type ChannelName, type Reply } from '../ports/channel';
import { backoff } from '../retry/backoff';
import { buildTranscriptReply } from './transcript-reply';

type Row = typeof outbox.$inferSelect;

/**
 * Replies in flight at once. A transcript reply to Telegram is three sends a second apart (its per-chat limit),
 * so one lane at a time would deliver a burst of 300 transcripts in a quarter of an hour; the channels pace
 * their sends to stay within each platform's overall limits.
 */
const SEND_LANES = 32;

/** After this many failed tries (about five hours with the back-off below) a reply is given up. */
const MAX_ATTEMPTS = 16;
const backoffMs = (attempts: number) => backoff(attempts + 1, 1000, 60 * 60_000);

/**
 * Sends recorded replies, oldest first, and marks each sent once the platform accepted it.
 * A reply that fails waits with exponential back-off, and later replies about the same order
 * wait behind it, so a user never sees "done" before "paid". A permanent failure (blocked bot)
 * ends that reply at once.
 */
export class OutboxSender {
  private readonly channels: Map<ChannelName, Channel>;
  private readonly warnedMissing = new Set<string>();

  constructor(private readonly deps: { db: Db; store: BlobStore; channels: Channel[]; log: Logger }) {
    this.channels = new Map(deps.channels.map((c) => [c.name, c]));
  }

  tick = async (): Promise<void> => {
    const rows = this.deps.db.select().from(outbox).where(eq(outbox.state, 'pending')).orderBy(asc(outbox.id)).limit(200).all();
    const lanes = new Map<string, Row[]>();
    for (const row of rows) {
      const lane = row.orderId ?? `${row.channel}:${row.address.chatId}`;
      lanes.set(lane, [...(lanes.get(lane) ?? []), row]);
    }
    const now = Date.now();
    // Lanes go side by side (a channel paces its own sends under the platform's limits), rows of a lane in order.
    const queue = [...lanes.values()];
    const worker = async () => {
      for (let lane = queue.shift(); lane; lane = queue.shift()) {
        for (const row of lane) if (row.nextAttemptAt > now || !(await this.send(row))) break;
      }
    };
    await Promise.all(Array.from({ length: Math.min(SEND_LANES, queue.length) }, worker));
  };

  /** Sends one row; true when it is settled (sent or given up), false when it must wait. */
  private async send(row: Row): Promise<boolean> {
    const { db, store, log } = this.deps;
    const channel = this.channels.get(row.channel as ChannelName);
    if (!channel) {
      if (!this.warnedMissing.has(row.channel)) log.warn({ channel: row.channel }, 'replies waiting for a channel that is not configured');
      this.warnedMissing.add(row.channel);
      return false;
    }
    try {
      const reply: Reply = { key: row.key, orderId: row.orderId ?? undefined, ...row.payload };
      if (row.payload.kind === 'transcript' && row.orderId) {
        Object.assign(reply, await buildTranscriptReply(db, store, row.orderId, channel.textLimit));
      }
      await channel.send(row.address, reply);
      crashPoint('sent');
      db.update(outbox)
        .set({ state: 'sent', sentAt: Date.now(), attempts: row.attempts + 1 })
        .where(eq(outbox.id, row.id))
        .run();
      outboxMetrics.repliesSent.inc({ channel: row.channel, kind: row.payload.kind });
      if (row.payload.kind === 'transcript' && row.orderId) await this.afterTranscript(row.orderId);
      return true;
    } catch (error) {
      const permanent = error instanceof DeliveryError && error.permanent;
      const attempts = row.attempts + 1;
      const dead = permanent || attempts >= MAX_ATTEMPTS;
      outboxMetrics.sendErrors.inc({ channel: row.channel, permanent: String(permanent) });
      log.warn({ key: row.key, channel: row.channel, attempts, dead, err: (error as Error).message }, 'reply not sent');
      db.update(outbox)
        .set({
          state: dead ? 'dead' : 'pending',
          attempts,
          lastError: String((error as Error).message).slice(0, 500),
          nextAttemptAt: Date.now() + backoffMs(attempts),
        })
        .where(eq(outbox.id, row.id))
        .run();
      return dead;
    }
  }

  /** The transcript is with the user: record the latency and delete the audio, keeping only the results. */
  private async afterTranscript(orderId: string): Promise<void> {
    const order = this.deps.db.select().from(orders).where(eq(orders.id, orderId)).get();
    if (order) outboxMetrics.deliveryLatency.observe((Date.now() - order.createdAt) / 1000);
    for (const file of orderFiles(this.deps.db, orderId)) await this.deps.store.delete(file.blobKey);
  }
}
