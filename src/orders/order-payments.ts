import { and, eq, lt } from 'drizzle-orm';
import type { Db } from '../db';
import { orders, paymentNotices } from '../db/schema';
import { transaction } from '../db/tx';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { BlobStore } from '../ports/blob-store';
import type { PaymentHandler, PaymentNotice, PaymentOutcome } from '../ports/payments';
import type { Wakeups } from '../processors/wakeups';
import { secondsFor, type PriceList } from '../pricing';
import { expireOrder, markPaid, type Order } from './lifecycle';

type Kind = 'paid' | 'failed' | 'expired';

/** Longer than Stripe lets a checkout live (24 h), so the sweep never races a payment still possible. */
const STALE_AFTER_MS = 25 * 60 * 60 * 1000;

/**
 * What the service does when the payment provider reports on a checkout. Each notice's event id is
 * stored once, in the same transaction as its effect; the effect itself is a conditional state change
 * (`awaiting_payment -> ...`), so replays, retries and notices out of order apply at most once.
 */
export class OrderPayments implements PaymentHandler {
  constructor(private readonly deps: { db: Db; ledger: Ledger; store: BlobStore; prices: PriceList; wakeups: Wakeups; log: Logger }) {}

  async paid(notice: PaymentNotice): Promise<PaymentOutcome> {
    const { prices, log } = this.deps;
    const outcome = this.once(notice, 'paid', (order) => {
      if (order.checkoutId && order.checkoutId !== notice.checkoutId) return 'mismatch';
      if (notice.amountCents !== order.amountCents || notice.currency.toLowerCase() !== order.currency) return 'mismatch';
      const paid = markPaid(this.deps, order, { amountCents: notice.amountCents, boughtSeconds: secondsFor(notice.amountCents, prices) });
      return paid ? 'applied' : 'ignored';
    });
    if (outcome === 'mismatch') {
      log.error(
        { orderId: notice.orderId, eventId: notice.eventId, checkoutId: notice.checkoutId },
        'PAYMENT MISMATCH: paid amount, currency or checkout differs from the quote; order not fulfilled, refund by hand',
      );
    }
    if (outcome === 'applied') {
      this.deps.wakeups.emit('queued');
      this.deps.wakeups.emit('outbox');
    }
    return outcome;
  }

  async failed(notice: PaymentNotice): Promise<PaymentOutcome> {
    const outcome = this.once(notice, 'failed', (order) => {
      // Not a state change: the order stays payable until its checkout expires.
      enqueueReply(this.deps.db, order.replyTo, {
        key: `payfail:${notice.eventId}`,
        orderId: order.id,
        kind: 'notice',
        text: text.paymentFailed(),
      });
      return 'applied';
    });
    if (outcome === 'applied') this.deps.wakeups.emit('outbox');
    return outcome;
  }

  async expired(notice: PaymentNotice): Promise<PaymentOutcome> {
    const outcome = this.once(notice, 'expired', (order) => (expireOrder(this.deps, order) ? 'applied' : 'ignored'));
    if (outcome === 'applied') {
      await this.deps.store.deletePrefix(`orders/${notice.orderId}`);
      this.deps.wakeups.emit('outbox');
    }
    return outcome;
  }

  /**
   * Expires orders left awaiting payment longer than any checkout can live (Stripe's longest is
   * 24 hours), for when the provider's `expired` event never arrived (webhook misconfigured or down).
   * Same effect as that notice: held seconds back, audio deleted, user told.
   */
  async expireStale(maxAgeMs = STALE_AFTER_MS): Promise<number> {
    const stale = this.deps.db
      .select({ id: orders.id, checkoutId: orders.checkoutId })
      .from(orders)
      .where(and(eq(orders.state, 'awaiting_payment'), lt(orders.updatedAt, Date.now() - maxAgeMs)))
      .all();
    let expired = 0;
    for (const order of stale) {
      const outcome = await this.expired({
        eventId: `sweep:${order.id}`,
        orderId: order.id,
        checkoutId: order.checkoutId ?? '',
        amountCents: 0,
        currency: '',
      });
      if (outcome === 'applied') expired += 1;
    }
    if (expired > 0) this.deps.log.warn({ expired }, 'expired unpaid orders whose checkout expiry event never arrived');
    return expired;
  }

  /** Records the notice's event id and applies `effect` to an order still awaiting payment, all in one transaction. */
  private once(notice: PaymentNotice, kind: Kind, effect: (order: Order) => PaymentOutcome): PaymentOutcome {
    const { db } = this.deps;
    return transaction(db, () => {
      const seen = db.select({ id: paymentNotices.eventId }).from(paymentNotices).where(eq(paymentNotices.eventId, notice.eventId)).get();
      if (seen) return 'duplicate';
      const order = db.select().from(orders).where(eq(orders.id, notice.orderId)).get();
      const outcome: PaymentOutcome = order && order.state === 'awaiting_payment' ? effect(order) : 'ignored';
      db.insert(paymentNotices).values({ eventId: notice.eventId, type: kind, orderId: notice.orderId, outcome }).run();
      return outcome;
    });
  }
}
