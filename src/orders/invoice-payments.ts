import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from '../db';
import { invoicePayments, ledger as ledgerTable, paymentNotices } from '../db/schema';
import { transaction } from '../db/tx';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { money, text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { InvoiceHandler, PayableAnswer, PaymentHandler, PaymentOutcome, ReceivedPayment } from '../ports/payments';
import type { Wakeups } from '../processors/wakeups';
import { purchaseKey } from './lifecycle';
import { paymentsSucceeded, revenueCents } from './metrics';
import type { PaymentMethods } from './payment-methods';
import { findOrder } from './states';

export interface InvoicePaymentsDeps {
  db: Db;
  ledger: Ledger;
  methods: PaymentMethods;
  /** The core's payment commands, shared with Stripe: a charge is credited through `paid` like any payment. */
  payments: PaymentHandler;
  wakeups: Wakeups;
  log: Logger;
}

/** One refunded charge, as the operator's refund reports it. */
export interface ChargeRefund {
  chargeId: string;
  amount: number;
  currency: string;
  /** Seconds taken off the balance: what the charge bought, as far as the balance still holds it. */
  takenBackSeconds: number;
  /** Refunded by an earlier call already; nothing was done this time. */
  already: boolean;
}

/**
 * Payments made inside a chat (Telegram Stars): the check before the payer is charged, the record of each
 * charge (who paid, for the refund) and the operator's refund. Money is credited only by the same `paid`
 * command as Stripe's, keyed by the charge id, so a replayed `successful_payment` credits nothing twice.
 */
export class InvoicePayments implements InvoiceHandler {
  constructor(private readonly deps: InvoicePaymentsDeps) {}

  /**
   * Whether the order still awaits exactly this payment: awaiting payment, its invoice not past its expiry
   * (the sweep may not have expired it yet), and amount and currency as quoted. Reads only: fast enough for
   * Telegram's 10 s pre-checkout deadline.
   */
  payable(orderId: string, amount: number, currency: string, now = Date.now()): PayableAnswer {
    const order = findOrder(this.deps.db, orderId);
    if (!order) return { ok: false, reason: text.invoice.unknown };
    if (order.state === 'expired') return { ok: false, reason: text.invoice.expired };
    if (order.state !== 'awaiting_payment') return { ok: false, reason: text.invoice.settled };
    if (order.checkoutExpiresAt !== null && order.checkoutExpiresAt <= now) return { ok: false, reason: text.invoice.expired };
    if (order.amountCents !== amount || order.currency?.toLowerCase() !== currency.toLowerCase())
      return { ok: false, reason: text.invoice.changed };
    return { ok: true };
  }

  /** Records the charge (once per charge id), then credits it through the shared payment command. */
  async received(payment: ReceivedPayment): Promise<PaymentOutcome> {
    const currency = payment.currency.toLowerCase();
    this.deps.db
      .insert(invoicePayments)
      .values({ chargeId: payment.chargeId, orderId: payment.orderId, payerId: payment.payerId, amount: payment.amount, currency })
      .onConflictDoNothing()
      .run();
    return this.credit({ chargeId: payment.chargeId, orderId: payment.orderId, amount: payment.amount, currency });
  }

  /**
   * The safety net for a charge recorded but never credited (the core failed after writing it down, and the
   * platform, told it was received, will not send it again): every charge not refunded whose payment was
   * neither credited nor decided (no purchase entry, no notice under its event id) is credited now, through
   * the same command and event id as `received`, so a charge is applied once whoever gets there first.
   * Run at start and hourly. Returns how many charges it applied.
   */
  async reconcile(): Promise<number> {
    const { db, log } = this.deps;
    const forgotten = db
      .select()
      .from(invoicePayments)
      .leftJoin(ledgerTable, eq(ledgerTable.key, sql`'purchase:' || ${invoicePayments.orderId} || ':' || ${invoicePayments.chargeId}`))
      .leftJoin(paymentNotices, eq(paymentNotices.eventId, sql`'charge:' || ${invoicePayments.chargeId}`))
      .where(and(isNull(invoicePayments.refundedAt), isNull(ledgerTable.id), isNull(paymentNotices.eventId)))
      .all()
      .map((r) => r.invoice_payments);
    let applied = 0;
    for (const charge of forgotten) {
      const outcome = await this.credit(charge);
      if (outcome === 'duplicate') continue;
      applied += 1;
      log.error(
        { orderId: charge.orderId, chargeId: charge.chargeId, amount: charge.amount, currency: charge.currency, outcome },
        'payment: a recorded charge had not been credited; the reconcile pass applied it',
      );
    }
    return applied;
  }

  private async credit(charge: { chargeId: string; orderId: string; amount: number; currency: string }): Promise<PaymentOutcome> {
    const outcome = await this.deps.payments.paid({
      eventId: `charge:${charge.chargeId}`,
      orderId: charge.orderId,
      checkoutId: charge.chargeId,
      amountCents: charge.amount,
      currency: charge.currency,
    });
    // As the Stripe webhook counts its payments: money credited, once per charge (a replay is `duplicate`).
    if (outcome === 'applied' || outcome === 'credited') {
      paymentsSucceeded.inc();
      revenueCents.inc({ currency: charge.currency }, charge.amount);
    }
    return outcome;
  }

  /**
   * A charge the provider reports refunded (by the operator's refund, whose record this completes after a
   * crash, or by the provider itself): marked refunded with its ledger entry and reply, once.
   */
  async refunded(chargeId: string): Promise<PaymentOutcome> {
    const row = this.deps.db.select().from(invoicePayments).where(eq(invoicePayments.chargeId, chargeId)).get();
    if (!row) {
      this.deps.log.error({ chargeId }, 'refund of a charge this service never recorded; settle it by hand');
      return 'ignored';
    }
    const takenBack = recordRefund(this.deps, row);
    if (takenBack === undefined) return 'duplicate';
    this.deps.log.info({ orderId: row.orderId, chargeId, takenBack }, 'payment refunded by the provider');
    this.deps.wakeups.emit('outbox');
    return 'applied';
  }

  /** The operator's refund of this order's charges; see `refundInvoiceCharges`. */
  async refund(orderId: string): Promise<ChargeRefund[]> {
    const refunds = await refundInvoiceCharges(this.deps, orderId);
    this.deps.wakeups.emit('outbox');
    return refunds;
  }
}

/** What the operator's refund needs; the admin command builds it without the running service. */
export type RefundDeps = Pick<InvoicePaymentsDeps, 'db' | 'ledger' | 'methods' | 'log'>;

/**
 * The operator's refund of an order paid inside a chat: each charge not yet refunded is given back through
 * its provider (Telegram's `refundStarPayment`), then marked refunded with the ledger entry that takes back
 * what it bought (as far as the balance still holds it) and a reply telling the user. Exactly once: a
 * provider that already refunded the charge (a crash after its call) is treated as done, and the mark and
 * the ledger key are written once. Returns the order's charges; empty when it has none.
 */
export async function refundInvoiceCharges(deps: RefundDeps, orderId: string, actor?: string): Promise<ChargeRefund[]> {
  const { db, methods, log } = deps;
  const rows = db.select().from(invoicePayments).where(eq(invoicePayments.orderId, orderId)).all();
  const done: ChargeRefund[] = [];
  for (const row of rows) {
    const base = { chargeId: row.chargeId, amount: row.amount, currency: row.currency };
    if (row.refundedAt !== null) {
      done.push({ ...base, takenBackSeconds: 0, already: true });
      continue;
    }
    const provider = methods.forCurrency(row.currency)?.payments;
    if (!provider?.refundPayment) throw new Error(`no configured payment method can refund ${row.currency.toUpperCase()}`);
    await provider.refundPayment({ ...row, orderId });
    const takenBack = recordRefund(deps, row, actor);
    log.info({ orderId, chargeId: row.chargeId, amount: row.amount, currency: row.currency, takenBack }, 'payment refunded');
    done.push({ ...base, takenBackSeconds: takenBack ?? 0, already: takenBack === undefined });
  }
  return done;
}

/** Marks one charge refunded with its ledger entry and reply; undefined when it was marked already. */
function recordRefund({ db, ledger }: RefundDeps, row: typeof invoicePayments.$inferSelect, actor?: string): number | undefined {
  return transaction(db, () => {
    const marked = db
      .update(invoicePayments)
      .set({ refundedAt: Date.now() })
      .where(and(eq(invoicePayments.chargeId, row.chargeId), isNull(invoicePayments.refundedAt)))
      .run();
    if (marked.changes !== 1) return undefined;
    const order = findOrder(db, row.orderId);
    if (!order) return 0;
    const bought =
      db
        .select({ seconds: ledgerTable.seconds })
        .from(ledgerTable)
        .where(eq(ledgerTable.key, purchaseKey(row.orderId, row.chargeId)))
        .get()?.seconds ?? 0;
    const takenBack = Math.min(bought, Math.max(0, ledger.balance(order.userId)));
    // Written even when nothing is taken back, so the ledger shows the money that went back.
    ledger.append({
      userId: order.userId,
      kind: 'spend',
      seconds: takenBack === 0 ? 0 : -takenBack,
      key: `refund-charge:${row.chargeId}`,
      orderId: order.id,
      amountCents: -row.amount,
      currency: row.currency,
      actor,
    });
    const balance = ledger.balance(order.userId);
    enqueueReply(db, order.replyTo, {
      key: `refunded:${row.chargeId}`,
      orderId: order.id,
      kind: 'notice',
      text: text.refunded(money(row.amount, row.currency), takenBack, balance),
      balanceSeconds: balance,
    });
    return takenBack;
  });
}
