import { and, eq, inArray } from 'drizzle-orm';
import type { Db } from '../db';
import { outbox, type OutboxPayload } from '../db/schema';
import type { ReplyAddress } from '../ports/channel';

/** Something to say, recorded now and sent by the outbox sender. */
export interface PendingReply extends OutboxPayload {
  /** Unique; a reply with a key already in the outbox is not added again. */
  key: string;
  orderId?: string;
}

/**
 * Records a reply to be sent. Call inside the transaction of the state change it announces:
 * then either both happen or neither, and the sender retries until the platform accepts it.
 */
export function enqueueReply(db: Db, to: ReplyAddress, reply: PendingReply): void {
  const { key, orderId, ...payload } = reply;
  db.insert(outbox)
    .values({ key, orderId: orderId ?? null, channel: to.channel, lane: replyLane(to, orderId), address: to, payload })
    .onConflictDoNothing({ target: outbox.key })
    .run();
}

/**
 * Sends an order's unsent replies again: given-up ones (`dead`) start over, waiting ones are due now.
 * The sender picks them up on its next pass, in their original order. Returns how many.
 */
export function resendReplies(db: Db, orderId: string): number {
  const now = Date.now();
  return db
    .update(outbox)
    .set({ state: 'pending', attempts: 0, nextAttemptAt: now, lastError: null })
    .where(and(eq(outbox.orderId, orderId), inArray(outbox.state, ['pending', 'dead'])))
    .run().changes;
}

/** Replies about one order go out in order, and so do replies about no order in one chat. */
export function replyLane(to: ReplyAddress, orderId?: string | null): string {
  return orderId ?? `${to.channel}:${to.chatId}`;
}
