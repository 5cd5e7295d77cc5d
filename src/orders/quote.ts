import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db';
import { orders } from '../db/schema';
import { crashPoint } from '../faults';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { minutes, text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { Payments } from '../ports/payments';
import type { Wakeups } from '../processors/wakeups';
import { billableSeconds, priceFor, type PriceList } from '../pricing';
import { owedSeconds } from './debts';
import { PaymentMethods } from './payment-methods';
import { awaitPayment, queueOrder, recordCheckout, rejectEmptyOrder, rejectUnpayableOrder } from './lifecycle';
import { fileLines, orderFiles } from './summary';
import { findOrder } from './states';

export type QuoteState = 'queued' | 'awaiting_payment' | 'rejected';

/**
 * Decides how a recorded order is paid for: from the balance (spend and queue), or with a
 * checkout for the seconds the balance is short of. The part of the balance that exists is held
 * against the order at once, so two orders cannot both count on the same seconds.
 */
export class Quoting {
  private readonly methods: PaymentMethods;

  /** `methods` chooses the provider per channel; without it, `payments` at `prices` bills every order. */
  constructor(
    private readonly deps: {
      db: Db;
      ledger: Ledger;
      prices: PriceList;
      payments?: Payments;
      methods?: PaymentMethods;
      wakeups: Wakeups;
      log: Logger;
    },
  ) {
    this.methods = deps.methods ?? new PaymentMethods(deps.payments ? { payments: deps.payments, prices: deps.prices } : undefined);
  }

  /** Quotes an order in state `received`. Call inside the transaction that recorded it. */
  quote(orderId: string): { state: QuoteState } {
    const { db, ledger } = this.deps;
    const order = findOrder(db, orderId);
    if (!order) throw new Error(`order ${orderId} missing`);
    const method = this.methods.forChannel(order.channel);
    if (order.state !== 'received') return { state: order.state as QuoteState };
    const rows = orderFiles(db, orderId);
    const lines = fileLines(rows);
    const accepted = rows.filter((f) => f.state === 'stored');

    if (accepted.length === 0) {
      rejectEmptyOrder(this.deps, order, lines);
      return { state: 'rejected' };
    }
    const balance = ledger.balance(order.userId);
    const seconds = accepted.reduce((sum, f) => sum + billableSeconds(f.duration ?? 0), 0);
    if (balance >= seconds) {
      queueOrder(this.deps, order, lines, seconds);
      return { state: 'queued' };
    }
    const missing = seconds - Math.max(0, balance);
    if (!method) {
      rejectUnpayableOrder(this.deps, order, lines, { seconds, missing });
      return { state: 'rejected' };
    }
    awaitPayment(this.deps, order, {
      seconds,
      held: Math.max(0, balance),
      missing,
      // A debt from a refunded or disputed payment is paid first from this payment, so it is charged too.
      amountCents: priceFor(missing + owedSeconds(db, order.userId), method.prices),
      currency: method.prices.currency,
    });
    return { state: 'awaiting_payment' };
  }

  /**
   * Creates the checkout for an order awaiting payment and records the link with the reply that
   * carries it. Safe to call again (after a crash, from the recovery loop): the provider call is
   * idempotent per order and the link is recorded once. Provider errors are logged; the recovery
   * loop tries again.
   */
  async openCheckout(orderId: string): Promise<void> {
    const { db, log, wakeups } = this.deps;
    const order = findOrder(db, orderId);
    const payments = this.methods.forCurrency(order?.currency)?.payments;
    if (!payments || !order || order.state !== 'awaiting_payment' || order.checkoutId) return;
    let checkout;
    try {
      checkout = await payments.createCheckout({
        orderId,
        userId: order.userId,
        replyTo: order.replyTo,
        missingSeconds: order.missingSeconds,
        amountCents: order.amountCents!,
        currency: order.currency!,
        description: `Transcription of ${minutes(order.seconds)} of audio`,
      });
    } catch (error) {
      log.warn({ orderId, err: (error as Error).message }, 'checkout could not be created; will retry');
      // Keyed by the order: told once, however often the recovery loop tries again (and across restarts).
      enqueueReply(db, order.replyTo, {
        key: `checkout-failed:${orderId}`,
        orderId,
        kind: 'notice',
        text: text.checkoutUnavailable(order.heldSeconds),
      });
      wakeups.emit('outbox');
      return;
    }
    crashPoint('checkout-created');
    if (recordCheckout(this.deps, order, checkout)) wakeups.emit('outbox');
  }

  /** Opens the checkouts that a crash or a provider outage left without one. */
  async openMissingCheckouts(): Promise<void> {
    const pending = this.deps.db
      .select({ id: orders.id })
      .from(orders)
      .where(and(eq(orders.state, 'awaiting_payment'), isNull(orders.checkoutId)))
      .all();
    for (const { id } of pending) await this.openCheckout(id);
  }
}
