import { and, eq, lt } from 'drizzle-orm';
import type { Db } from '../db';
import { orders, stripeEvents } from '../db/schema';
import { transaction } from '../db/tx';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { BlobStore } from '../ports/blob-store';
import type { PaymentEvent, PaymentEvents, PaymentOutcome } from '../ports/payments';
import { secondsFor, type PriceList } from '../pricing';
import type { OrderEvents } from './order-events';

type Kind = 'paid' | 'failed' | 'expired';

/** Longer than Stripe lets a checkout live (24 h), so the sweep never races a payment still possible. */
const STALE_AFTER_MS = 25 * 60 * 60 * 1000;

/**
 * What the service does when the payment provider reports on a checkout. Each event id is stored
 * once, in the same transaction as its effect; the effect itself is a conditional state change
 * (`awaiting_payment -> ...`), so replays, retries and events out of order apply at most once.
 */
export class OrderPaymentEvents implements PaymentEvents {
  constructor(
    private readonly deps: { db: Db; ledger: Ledger; store: BlobStore; prices: PriceList; events: OrderEvents; log: Logger },
  ) {}

  async paid(event: PaymentEvent): Promise<PaymentOutcome> {
    const { ledger, prices, log } = this.deps;
    const outcome = this.once(event, 'paid', (order) => {
      if (order.checkoutId && order.checkoutId !== event.checkoutId) return 'mismatch';
      if (event.amountCents !== order.amountCents || event.currency.toLowerCase() !== order.currency) return 'mismatch';
      const bought = secondsFor(event.amountCents, prices);
      ledger.append({
        userId: order.userId,
        kind: 'purchase',
        seconds: bought,
        key: `purchase:${order.id}`,
        orderId: order.id,
        amountCents: event.amountCents,
        currency: order.currency!,
      });
      ledger.append({ userId: order.userId, kind: 'spend', seconds: -order.missingSeconds, key: `spend:${order.id}`, orderId: order.id });
      this.move(order.id, 'queued', { queuedAt: Date.now() });
      const balance = ledger.balance(order.userId);
      enqueueReply(this.deps.db, order.replyTo, { key: `paid:${order.id}`, orderId: order.id, kind: 'status', text: text.paid(balance), balanceSeconds: balance });
      return 'applied';
    });
    if (outcome === 'mismatch') {
      log.error({ orderId: event.orderId, eventId: event.eventId, checkoutId: event.checkoutId }, 'PAYMENT MISMATCH: paid amount, currency or checkout differs from the quote; order not fulfilled, refund by hand');
    }
    if (outcome === 'applied') {
      this.deps.events.emit('queued');
      this.deps.events.emit('outbox');
    }
    return outcome;
  }

  async failed(event: PaymentEvent): Promise<PaymentOutcome> {
    const outcome = this.once(event, 'failed', (order) => {
      enqueueReply(this.deps.db, order.replyTo, { key: `payfail:${event.eventId}`, orderId: order.id, kind: 'notice', text: text.paymentFailed() });
      return 'applied';
    });
    if (outcome === 'applied') this.deps.events.emit('outbox');
    return outcome;
  }

  async expired(event: PaymentEvent): Promise<PaymentOutcome> {
    const { ledger, store } = this.deps;
    const outcome = this.once(event, 'expired', (order) => {
      if (!this.move(order.id, 'expired', { error: 'checkout expired' })) return 'ignored';
      if (order.heldSeconds > 0) {
        ledger.append({ userId: order.userId, kind: 'refund', seconds: order.heldSeconds, key: `refund:${order.id}`, orderId: order.id });
      }
      const balance = ledger.balance(order.userId);
      enqueueReply(this.deps.db, order.replyTo, { key: `expired:${order.id}`, orderId: order.id, kind: 'notice', text: text.expired(), balanceSeconds: balance });
      return 'applied';
    });
    if (outcome === 'applied') {
      await store.deletePrefix(`orders/${event.orderId}`);
      this.deps.events.emit('outbox');
    }
    return outcome;
  }

  /**
   * Expires orders left awaiting payment longer than any checkout can live (Stripe's longest is
   * 24 hours), for when the provider's `expired` event never arrived (webhook misconfigured or down).
   * Same effect as that event: held seconds back, audio deleted, user told.
   */
  async expireStale(maxAgeMs = STALE_AFTER_MS): Promise<number> {
    const stale = this.deps.db
      .select({ id: orders.id, checkoutId: orders.checkoutId })
      .from(orders)
      .where(and(eq(orders.state, 'awaiting_payment'), lt(orders.updatedAt, Date.now() - maxAgeMs)))
      .all();
    let expired = 0;
    for (const order of stale) {
      const outcome = await this.expired({ eventId: `sweep:${order.id}`, orderId: order.id, checkoutId: order.checkoutId ?? '', amountCents: 0, currency: '' });
      if (outcome === 'applied') expired += 1;
    }
    if (expired > 0) this.deps.log.warn({ expired }, 'expired unpaid orders whose checkout expiry event never arrived');
    return expired;
  }

  /** Records the event id and applies `effect` to an order still awaiting payment, all in one transaction. */
  private once(event: PaymentEvent, kind: Kind, effect: (order: typeof orders.$inferSelect) => PaymentOutcome): PaymentOutcome {
    const { db } = this.deps;
    return transaction(db, () => {
      const seen = db.select({ id: stripeEvents.eventId }).from(stripeEvents).where(eq(stripeEvents.eventId, event.eventId)).get();
      if (seen) return 'duplicate';
      const order = db.select().from(orders).where(eq(orders.id, event.orderId)).get();
      const outcome: PaymentOutcome = order && order.state === 'awaiting_payment' ? effect(order) : 'ignored';
      db.insert(stripeEvents).values({ eventId: event.eventId, type: kind, orderId: event.orderId, outcome }).run();
      return outcome;
    });
  }

  private move(orderId: string, to: 'queued' | 'expired', values: Partial<typeof orders.$inferInsert>): boolean {
    const result = this.deps.db
      .update(orders)
      .set({ ...values, state: to, updatedAt: Date.now() })
      .where(and(eq(orders.id, orderId), eq(orders.state, 'awaiting_payment')))
      .run();
    return result.changes === 1;
  }
}
