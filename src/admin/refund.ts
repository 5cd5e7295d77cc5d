import { and, asc, eq } from 'drizzle-orm';
import type { Db } from '../db';
import { invoicePayments, ledger as ledgerTable } from '../db/schema';
import { transaction } from '../db/tx';
import { crashPoint } from '../faults';
import type { Ledger } from '../ledger';
import { money, text } from '../messages';
import type { Order } from '../orders/lifecycle';
import { refundEntries, refundedCents, refundKey } from '../orders/payment-reversals';
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
 * Gives back what is left of an order's card payments, once. The ledger entries keyed by each payment
 * (`paymentRefundKey`, then by refunded total) are the record of what went back: a payment refunded in full
 * is left alone; one refunded in part in Stripe's dashboard gets the rest. The provider returns the refund
 * already made for this order if there is one (a crash after the refund and before the entry), so a second
 * run completes the first instead of refunding twice. Each entry takes back the share of the seconds its
 * part of the payment bought, as far as the balance still has them (never below zero), and the user is
 * told. Refused while the order is queued or running (`assertRefundable`), also when it was paid in a chat.
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
  /** What the payment charged, when its entry says (older entries may not): then a partial refund leaves the rest due. */
  const charged = (purchase: LedgerEntry) => Math.max(0, purchase.amountCents ?? 0);
  const due = purchases.filter((p) => (charged(p) > 0 ? refundedCents(db, p.key) < charged(p) : refundEntries(db, p.key).length === 0));
  const result = (applied: boolean, made: PaymentRefund[]): RefundResult => ({
    applied,
    entries: purchases.flatMap((p) => refundEntries(db, p.key)),
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
    const before = refundedCents(db, purchase.key);
    // The provider refunds what is left of the charge (or reports the refunds that already left nothing).
    const refund = await refunds.refundCheckout({ orderId: order.id, checkoutId });
    made.push(refund);
    crashPoint('refund-made');
    const whole = charged(purchase);
    const total = whole > 0 ? Math.min(whole, before + refund.amountCents) : refund.amountCents;
    /** Seconds bought by the first `cents` of the charge: a part of the money takes back the same part of the seconds. */
    const share = (cents: number) => (whole > 0 ? Math.round((purchase.seconds * Math.min(cents, whole)) / whole) : purchase.seconds);
    transaction(db, () => {
      // The provider's event for this refund may have been recorded while the provider was asked.
      const earlier = refundEntries(db, purchase.key);
      const recorded = earlier.reduce((sum, e) => sum - (e.amountCents ?? 0), 0);
      if (whole > 0 ? recorded >= total : earlier.length > 0) return;
      const first = earlier.length === 0;
      const cents = total - recorded;
      const takenBack = Math.min(share(total) - share(recorded), Math.max(0, ledger.balance(order.userId)));
      const written = ledger.append({
        userId: order.userId,
        kind: 'payment_refund',
        seconds: -takenBack,
        key: refundKey(purchase.key, first, total),
        orderId: order.id,
        amountCents: -cents,
        currency: refund.currency,
        note: `refund ${refund.id} (${refund.status})`,
        actor,
      });
      if (!written) return;
      const balance = ledger.balance(order.userId);
      enqueueReply(db, order.replyTo, {
        key: `refunded:${order.id}:${checkoutId}${first ? '' : `:${total}`}`,
        orderId: order.id,
        kind: 'notice',
        text: text.refunded(money(cents, refund.currency), takenBack, balance),
        balanceSeconds: balance,
      });
    });
  }
  return result(true, made);
}
