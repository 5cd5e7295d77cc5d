import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db';
import { orders } from '../db/schema';
import { transaction } from '../db/tx';
import { crashPoint } from '../faults';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { minutes, money, text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { Payments } from '../ports/payments';
import { billableSeconds, priceFor, type PriceList } from '../pricing';
import type { OrderEvents } from './order-events';
import { fileLines, orderFiles } from './summary';

export type QuoteState = 'queued' | 'awaiting_payment' | 'rejected';

/**
 * Decides how a recorded order is paid for: from the balance (spend and queue), or with a
 * checkout for the seconds the balance is short of. The part of the balance that exists is held
 * against the order at once, so two orders cannot both count on the same seconds.
 */
export class Quoting {
  constructor(
    private readonly deps: { db: Db; ledger: Ledger; prices: PriceList; payments?: Payments; events: OrderEvents; log: Logger },
  ) {}

  /** Quotes an order in state `received`. Call inside the transaction that recorded it. */
  quote(orderId: string, extra: { refusedExtra: number; maxFiles: number }): { state: QuoteState } {
    const { db, ledger, prices, payments } = this.deps;
    const order = db.select().from(orders).where(eq(orders.id, orderId)).get();
    if (!order) throw new Error(`order ${orderId} missing`);
    if (order.state !== 'received') return { state: order.state as QuoteState };
    const rows = orderFiles(db, orderId);
    const lines = fileLines(rows);
    if (extra.refusedExtra > 0) lines.push(`• ${text.refusals.tooMany(extra.maxFiles)}`);
    const accepted = rows.filter((f) => f.state === 'stored');
    const reply = (key: string, body: string, balanceSeconds: number) =>
      enqueueReply(db, order.replyTo, { key, orderId, kind: 'quote', text: `${lines.join('\n')}\n\n${body}`, balanceSeconds });
    const set = (values: Partial<typeof orders.$inferInsert>) =>
      db.update(orders).set({ ...values, updatedAt: Date.now() }).where(and(eq(orders.id, orderId), eq(orders.state, 'received'))).run();

    const balance = ledger.balance(order.userId);
    if (accepted.length === 0) {
      set({ state: 'rejected', error: 'no usable files' });
      reply(`quote:${orderId}`, text.nothingToDo, balance);
      return { state: 'rejected' };
    }
    const seconds = accepted.reduce((sum, f) => sum + billableSeconds(f.duration ?? 0), 0);
    if (balance >= seconds) {
      ledger.append({ userId: order.userId, kind: 'spend', seconds: -seconds, key: `spend:${orderId}`, orderId });
      set({ state: 'queued', seconds, heldSeconds: 0, queuedAt: Date.now() });
      reply(`quote:${orderId}`, text.transcribing(balance - seconds), balance - seconds);
      return { state: 'queued' };
    }
    const missing = seconds - Math.max(0, balance);
    if (!payments) {
      set({ state: 'rejected', seconds, missingSeconds: missing, error: 'payments not configured' });
      reply(`quote:${orderId}`, text.paymentsOff(missing), balance);
      return { state: 'rejected' };
    }
    const held = Math.max(0, balance);
    if (held > 0) ledger.append({ userId: order.userId, kind: 'spend', seconds: -held, key: `hold:${orderId}`, orderId });
    set({
      state: 'awaiting_payment',
      seconds,
      heldSeconds: held,
      missingSeconds: missing,
      amountCents: priceFor(missing, prices),
      currency: prices.currency,
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
    const { db, payments, log, events, ledger } = this.deps;
    const order = db.select().from(orders).where(eq(orders.id, orderId)).get();
    if (!payments || !order || order.state !== 'awaiting_payment' || order.checkoutId) return;
    let checkout;
    try {
      checkout = await payments.createCheckout({
        orderId,
        userId: order.userId,
        missingSeconds: order.missingSeconds,
        amountCents: order.amountCents!,
        currency: order.currency!,
        description: `Transcription of ${minutes(order.seconds)} of audio`,
      });
    } catch (error) {
      log.warn({ orderId, err: (error as Error).message }, 'checkout could not be created; will retry');
      return;
    }
    crashPoint('checkout-created');
    transaction(db, () => {
      const changed = db
        .update(orders)
        .set({ checkoutId: checkout.id, checkoutUrl: checkout.url, updatedAt: Date.now() })
        .where(and(eq(orders.id, orderId), eq(orders.state, 'awaiting_payment'), isNull(orders.checkoutId)))
        .run();
      if (changed.changes !== 1) return;
      const price = money(order.amountCents!, order.currency!);
      const lines = fileLines(orderFiles(db, orderId));
      enqueueReply(db, order.replyTo, {
        key: `quote:${orderId}`,
        orderId,
        kind: 'quote',
        text: `${lines.join('\n')}\n\n${text.needsPayment(order.missingSeconds, price)}`,
        action: { label: text.payButton(price), url: checkout.url },
        balanceSeconds: ledger.balance(order.userId),
      });
    });
    events.emit('outbox');
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
