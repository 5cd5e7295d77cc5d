import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db';
import { orders, outbox } from '../db/schema';
import type { Logger } from '../log';
import { markDeliveredAudioDeleted } from '../orders/lifecycle';
import { orderFiles } from '../orders/summary';
import type { BlobStore } from '../ports/blob-store';

/**
 * Deletes a delivered order's audio once its transcript is with the user, keeping only the results.
 * Apart from delivery: a delete that fails never touches the reply (it stays sent); the order keeps
 * `audio_deleted_at` unset and the sweep (`tick`) tries again later.
 */
export class AudioCleanup {
  constructor(private readonly deps: { db: Db; store: BlobStore; log: Logger }) {}

  /** Deletes the order's audio; true when it is gone, false (logged) when the store refused and the sweep will retry. */
  async deleteAudio(orderId: string): Promise<boolean> {
    const { db, store, log } = this.deps;
    try {
      for (const file of orderFiles(db, orderId)) await store.delete(file.blobKey);
      // Half-written copies from a run killed during the download: the order is done, no write of it is going on.
      await store.removeLeftovers?.(`orders/${orderId}`, 0);
    } catch (error) {
      log.warn({ orderId, err: error }, 'audio not deleted after delivery; tried again later');
      return false;
    }
    markDeliveredAudioDeleted(db, orderId);
    return true;
  }

  /** One sweep: the delivered orders whose transcript was sent and whose audio is still kept, oldest first. */
  tick = async (): Promise<void> => {
    const kept = this.deps.db
      .select({ id: orders.id })
      .from(orders)
      .innerJoin(outbox, eq(outbox.key, sql`'transcript:' || ${orders.id}`))
      .where(and(eq(orders.state, 'delivered'), isNull(orders.audioDeletedAt), eq(outbox.state, 'sent')))
      .orderBy(asc(orders.deliveredAt))
      .limit(50)
      .all();
    for (const { id } of kept) await this.deleteAudio(id);
  };
}
