import { and, asc, eq } from 'drizzle-orm';
import type { Db } from '../db';
import { invoicePayments, ledger as ledgerTable } from '../db/schema';
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
  /** False when every payment of the order had been refunded before (this run changed nothing). */
  applied: boolean;
  /** The ledger entries that record the refunds, one per payment: money out, and the seconds it bought taken back. */
  entries: LedgerEntry[];
  /** The provider's refunds this run made or found. */
  refunds: PaymentRefund[];
  balanceSeconds: number;
}

/**
 * The ledger key of the refund of one payment: the payment's own key (`purchase:<order>:<checkout>`)
 * with `payment_refund` in front, so each payment is refunded once, ever.
 */
export const paymentRefundKey = (purchaseKey: string): string => purchaseKey.replace(/^purchase:/, 'payment_refund:');

/**
 * The rule for every payment method (card or Stars): an order being transcribed (queued or running) is
 * spending what its payments bought, so its money is given back only once it is delivered or failed.
 * Checked before any provider is asked.
 */
export function assertRefundable(order: Pick<Order, 'id' | 'state'>): void {
  if (order.state === 'queued' || order.state === 'running') {
    throw new AdminError(`order ${order.id} is ${order.state}; refund it once it is delivered or failed`);
  }
}

/**
 * Gives an order's card payments back, exactly once each. The ledger entry keyed by the payment is the
 * record that it happened: with it there, nothing is done again. Without it the provider is asked, and
 * it returns the refund already made for this order if there is one (a crash after the refund and
 * before the entry), so a second run completes the first instead of refunding twice. The entry takes
 * back the seconds the payment bought, as far as the balance still has them (never below zero), and the
 * user is told. Refused while the order is queued or running (`assertRefundable`), also when it was paid in a chat.
 */
export async function refundOrder(
  { db, ledger, refunds }: { db: Db; ledger: Ledger; refunds?: PaymentRefunds },
  order: Order,
  actor?: string,
): Promise<RefundResult> {
  assertRefundable(order);
  // Payments made inside a chat (Telegram Stars) are refunded through their own provider: see `refundInvoiceCharges`.
  const charges = new Set(
    db
      .select({ id: invoicePayments.chargeId })
      .from(invoicePayments)
      .where(eq(invoicePayments.orderId, order.id))
      .all()
      .map((c) => c.id),
  );
  const purchases = db
    .select()
    .from(ledgerTable)
    .where(and(eq(ledgerTable.orderId, order.id), eq(ledgerTable.kind, 'purchase')))
    .orderBy(asc(ledgerTable.id))
    .all()
    .filter((p) => !charges.has(p.key.split(':')[2] ?? ''));
  if (purchases.length === 0) {
    if (charges.size > 0) return { applied: false, entries: [], refunds: [], balanceSeconds: ledger.balance(order.userId) };
    throw new AdminError(`order ${order.id} was not paid (no purchase in the ledger); nothing to refund`);
  }
  const entryFor = (purchase: LedgerEntry) =>
    db
      .select()
      .from(ledgerTable)
      .where(eq(ledgerTable.key, paymentRefundKey(purchase.key)))
      .get();
  const due = purchases.filter((p) => !entryFor(p));
  const result = (applied: boolean, made: PaymentRefund[]): RefundResult => ({
    applied,
    entries: purchases.map(entryFor).filter((e): e is LedgerEntry => e !== undefined),
    refunds: made,
    balanceSeconds: ledger.balance(order.userId),
  });
  if (due.length === 0) return result(false, []);
  if (!refunds) throw new AdminError('payments are not configured (STRIPE_SECRET_KEY); cannot refund');

  const made: PaymentRefund[] = [];
  for (const purchase of due) {
    // `purchase:<order>:<checkout>`; entries from before checkouts were named in the key carry the order's.
    const checkoutId = purchase.key.split(':')[2] ?? order.checkoutId;
    if (!checkoutId)
      throw new AdminError(`order ${order.id}: the payment in ledger entry ${purchase.id} names no checkout; refund it in Stripe`);
    const refund = await refunds.refundCheckout({ orderId: order.id, checkoutId });
    made.push(refund);
    crashPoint('refund-made');
    transaction(db, () => {
      const takenBack = Math.min(purchase.seconds, Math.max(0, ledger.balance(order.userId)));
      const written = ledger.append({
        userId: order.userId,
        kind: 'payment_refund',
        seconds: -takenBack,
        key: paymentRefundKey(purchase.key),
        orderId: order.id,
        amountCents: -refund.amountCents,
        currency: refund.currency,
        note: `refund ${refund.id} (${refund.status})`,
        actor,
      });
      if (!written) return;
      const balance = ledger.balance(order.userId);
      enqueueReply(db, order.replyTo, {
        key: `refunded:${order.id}:${checkoutId}`,
        orderId: order.id,
        kind: 'notice',
        text: text.refunded(money(refund.amountCents, refund.currency), takenBack, balance),
        balanceSeconds: balance,
      });
    });
  }
  return result(true, made);
}
