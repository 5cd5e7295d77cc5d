import { eq } from 'drizzle-orm';
import type { Db } from '../db';
import { ledger as ledgerTable } from '../db/schema';
import { transaction } from '../db/tx';
import { crashPoint } from '../faults';
import type { Ledger } from '../ledger';
import { money, text } from '../messages';
import type { Order } from '../orders/lifecycle';
import { enqueueReply } from '../outbox/outbox';
import type { PaymentRefund, PaymentRefunds } from '../ports/payments';
import { AdminError } from './errors';
import type { LedgerEntry } from './reports';

export interface RefundResult {
  /** False when the order had been refunded before (this run changed nothing). */
  applied: boolean;
  /** The ledger entry that records the refund: money out, and the seconds it bought taken back. */
  entry: LedgerEntry;
  /** The provider's refund, when this run made or found it. */
  refund?: PaymentRefund;
  balanceSeconds: number;
}

/** The ledger key of an order's money refund: one per order, ever. */
export const paymentRefundKey = (orderId: string): string => `payment_refund:${orderId}`;

/**
 * Gives an order's card payment back, exactly once. The ledger entry keyed by the order is the record
 * that it happened: with it there, nothing is done again. Without it the provider is asked, and it
 * returns the refund already made for this order if there is one (a crash after the refund and before
 * the entry), so a second run completes the first instead of refunding twice. The entry takes back the
 * seconds the payment bought, as far as the balance still has them (never below zero), and the user
 * is told.
 */
export async function refundOrder(
  { db, ledger, refunds }: { db: Db; ledger: Ledger; refunds?: PaymentRefunds },
  order: Order,
): Promise<RefundResult> {
  const key = paymentRefundKey(order.id);
  const entryFor = () => db.select().from(ledgerTable).where(eq(ledgerTable.key, key)).get();
  const done = entryFor();
  if (done) return { applied: false, entry: done, balanceSeconds: ledger.balance(order.userId) };

  const purchase = db
    .select()
    .from(ledgerTable)
    .where(eq(ledgerTable.key, `purchase:${order.id}`))
    .get();
  if (!purchase || !order.checkoutId)
    throw new AdminError(`order ${order.id} was not paid by card (no purchase in the ledger); nothing to refund`);
  if (order.state === 'queued' || order.state === 'running') {
    throw new AdminError(`order ${order.id} is ${order.state}; refund it once it is delivered or failed`);
  }
  if (!refunds) throw new AdminError('payments are not configured (STRIPE_SECRET_KEY); cannot refund');

  const refund = await refunds.refundCheckout({ orderId: order.id, checkoutId: order.checkoutId });
  crashPoint('refund-made');
  const applied = transaction(db, () => {
    const takenBack = Math.min(purchase.seconds, Math.max(0, ledger.balance(order.userId)));
    const written = ledger.append({
      userId: order.userId,
      kind: 'payment_refund',
      seconds: -takenBack,
      key,
      orderId: order.id,
      amountCents: -refund.amountCents,
      currency: refund.currency,
      note: `refund ${refund.id} (${refund.status})`,
    });
    if (written) {
      const balance = ledger.balance(order.userId);
      enqueueReply(db, order.replyTo, {
        key: `refunded:${order.id}`,
        orderId: order.id,
        kind: 'notice',
        text: text.refunded(money(refund.amountCents, refund.currency), takenBack),
        balanceSeconds: balance,
      });
    }
    return written;
  });
  return { applied, entry: entryFor()!, refund, balanceSeconds: ledger.balance(order.userId) };
}
