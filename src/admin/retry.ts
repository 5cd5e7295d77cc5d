import { and, eq, isNotNull } from 'drizzle-orm';
import type { Db } from '../db';
import { invoicePayments, ledger, operatorRetries, outbox } from '../db/schema';
import { transaction } from '../db/tx';
import { retryFailedOrder, type Order } from '../orders/lifecycle';
import { orderFiles } from '../orders/summary';
import { resendReplies } from '../outbox/outbox';
import type { BlobStore } from '../ports/blob-store';
import { AdminError } from './errors';

export interface RetryResult {
  /** The failed order went back to the queue. */
  requeued: boolean;
  /** Replies that will be sent again (given up, or waiting for their next try). */
  replies: number;
}

/** Whether any of the order's money went back (a card or chat refund, or a dispute not won). */
function paymentRefunded(db: Db, orderId: string): boolean {
  const card = db
    .select({ id: ledger.id })
    .from(ledger)
    .where(and(eq(ledger.orderId, orderId), eq(ledger.kind, 'payment_refund')))
    .get();
  const entries = (kind: 'chargeback' | 'chargeback_reversal', prefix: string) =>
    db
      .select({ key: ledger.key })
      .from(ledger)
      .where(and(eq(ledger.orderId, orderId), eq(ledger.kind, kind)))
      .all()
      .map((e) => e.key.slice(prefix.length));
  const won = new Set(entries('chargeback_reversal', 'chargeback_reversal:'));
  const disputed = entries('chargeback', 'chargeback:').some((dispute) => !won.has(dispute));
  const chat = db
    .select({ id: invoicePayments.chargeId })
    .from(invoicePayments)
    .where(and(eq(invoicePayments.orderId, orderId), isNotNull(invoicePayments.refundedAt)))
    .get();
  return card !== undefined || chat !== undefined || disputed;
}

/**
 * Tries again what went wrong with an order: a failed order goes back to the queue (its audio must
 * still be stored, and its payment not refunded), and its unsent replies (given up after repeated platform errors, or waiting for
 * their next try) are sent on the service's next pass. The running service picks both up within seconds.
 */
export async function retryOrder({ db, store }: { db: Db; store: BlobStore }, order: Order, actor: string): Promise<RetryResult> {
  const gone = (what: string) =>
    new AdminError(
      `order ${order.id}: ${what} deleted by retention on ${new Date(order.purgedAt!).toISOString().slice(0, 10)}; nothing to retry with`,
    );
  const unsent = db
    .select({ key: outbox.key, state: outbox.state, payload: outbox.payload, attempts: outbox.attempts, lastError: outbox.lastError })
    .from(outbox)
    .where(eq(outbox.orderId, order.id))
    .all()
    .filter((r) => r.state !== 'sent');
  if (order.state === 'failed') {
    if (order.purgedAt) throw gone('its audio was');
    if (paymentRefunded(db, order.id))
      throw new AdminError(
        `order ${order.id}: its payment was refunded or disputed, so a retry would transcribe it for free; nothing done`,
      );
    for (const file of orderFiles(db, order.id).filter((f) => f.state === 'stored')) {
      if (!(await store.exists(file.blobKey)))
        throw new AdminError(`order ${order.id}: the audio of ${file.name} is no longer stored; cannot retry`);
    }
  } else if (unsent.length === 0) {
    throw new AdminError(`order ${order.id} is ${order.state} and every reply about it was sent; nothing to retry`);
  } else if (order.purgedAt && unsent.some((r) => r.payload.kind === 'transcript')) {
    throw gone('its results were');
  }
  return transaction(db, () => {
    // What went wrong so far, kept before the retry resets the order's error and its replies' tries and errors.
    db.insert(operatorRetries)
      .values({
        orderId: order.id,
        actor,
        orderState: order.state,
        orderError: order.error,
        replies: unsent.map(({ key, state, attempts, lastError }) => ({ key, state, attempts, lastError })),
      })
      .run();
    const requeued = order.state === 'failed' ? retryFailedOrder(db, order) : false;
    if (order.state === 'failed' && !requeued) throw new AdminError(`order ${order.id} changed meanwhile; look again`);
    return { requeued, replies: resendReplies(db, order.id) };
  });
}
