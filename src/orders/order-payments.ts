import { and, eq, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db } from '../db';
import { prepared } from '../db/prepared';
import { orders, paymentNotices } from '../db/schema';
import { transaction } from '../db/tx';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { money, text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { BlobStore } from '../ports/blob-store';
import type { CheckoutStatus, PaymentHandler, PaymentNotice, PaymentOutcome, Payments, ReversalNotice } from '../ports/payments';
import type { Wakeups } from '../processors/wakeups';
import { secondsFor, type PriceList } from '../pricing';
import {
  closeUnderpaid,
  closeUnpriced,
  creditPayment,
  expireOrder,
  failPayment,
  isCredited,
  markAudioDeleted,
  markAudioKept,
  markPaid,
  markPaidLate,
  notePaymentPending,
  type Order,
  type Payment,
} from './lifecycle';
import { owedSeconds } from './debts';
import { paymentCases, paymentsSucceeded, revenueCents, type PaymentCase } from './metrics';
import { PaymentMethods } from './payment-methods';
import { reversePayment } from './payment-reversals';
import { findOrder } from './states';

type Kind = 'paid' | 'pending' | 'failed' | 'expired' | 'reversed';

/** Longer than Stripe lets a checkout live (24 h): an order with no checkout to ask about is expired after this. */
const STALE_AFTER_MS = 25 * 60 * 60 * 1000;
/** How long after its checkout's expiry an order waits for the provider's own notice before the sweep asks. */
const NOTICE_GRACE_MS = 10 * 60 * 1000;
/** Back-off between the sweep's questions about one order whose answer was "not yet" or an error. */
const FIRST_RECHECK_MS = 60 * 1000;
const MAX_RECHECK_MS = 60 * 60 * 1000;

/** The operator's line for each case that leaves the ordinary path; logged at error level with the order id. */
const CASE_LINES: Record<PaymentCase, string> = {
  late_transcribed: 'payment arrived after the order expired; audio still kept, so it is transcribed',
  late_credited: 'payment arrived after the order expired and its audio was deleted; credited to the balance',
  extra_credited: 'payment arrived for an order that was already settled; credited to the balance',
  amount_mismatch_transcribed: 'payment differs from the quote but covers the order; transcribed, the difference is balance',
  underpaid_credited: 'payment is less than the quote; credited to the balance, order closed',
  unpriced_held:
    'payment in a currency with no configured price; nothing credited (an order awaiting it is closed, its held seconds returned), settle it by hand',
  unknown_order_held: 'payment for an order this service does not know; nothing credited, settle it by hand',
  async_pending: 'checkout completed with the money still on its way; waiting for the provider',
  async_failed: 'delayed payment failed; order closed and held seconds returned',
  sweep_paid: 'the sweep found a payment whose notice never arrived',
  sweep_expired: 'the sweep expired an order whose expiry notice never arrived',
  sweep_closed: 'the sweep closed a checkout still open after its expiry, so it cannot be paid later',
  reversal_unmatched: 'refund or dispute of a payment this service never credited; nothing taken back, settle it by hand',
  debt_recorded: 'refund or dispute took back more than the balance held; the rest is owed and paid first by the next purchase',
};

export interface OrderPaymentsDeps {
  db: Db;
  ledger: Ledger;
  store: BlobStore;
  prices: PriceList;
  wakeups: Wakeups;
  log: Logger;
  /** The provider, asked by the sweep before it expires an order. */
  payments?: Payments;
  /** The provider and prices per channel and currency; without it, `payments` at `prices` for every order. */
  methods?: PaymentMethods;
  /** How long an expired order's audio is kept for a payment still on its way; 0 deletes it at once. */
  keepExpiredAudioHours?: number;
}

/**
 * What the service does when the payment provider reports on a checkout, so that money received always
 * becomes a transcript or balance and the user is told. Each notice's event id is stored once, in the same
 * transaction as its effect, and each checkout's money is credited once (its ledger key), so replays,
 * retries, notices out of order and the sweep finding the same payment apply it exactly once.
 */
export class OrderPayments implements PaymentHandler {
  private readonly recheck = new Map<string, { at: number; delay: number }>();

  private readonly methods: PaymentMethods;

  constructor(private readonly deps: OrderPaymentsDeps) {
    this.methods = deps.methods ?? new PaymentMethods(deps.payments ? { payments: deps.payments, prices: deps.prices } : undefined);
  }

  private get keepHours(): number {
    return this.deps.keepExpiredAudioHours ?? 0;
  }

  async paid(notice: PaymentNotice): Promise<PaymentOutcome> {
    const { db, ledger } = this.deps;
    const { outcome } = this.once(notice, 'paid', (order) => {
      if (!order) return { outcome: 'held', case: 'unknown_order_held' };
      if (isCredited(ledger, order.id, notice.checkoutId)) return { outcome: 'duplicate' };
      const bought = this.secondsPaid(notice);
      if (bought === undefined) {
        const paid = money(notice.amountCents, notice.currency);
        // Nothing to spend it on until the operator settles it: the order must not keep the user's seconds waiting.
        if (order.state === 'awaiting_payment' && closeUnpriced(this.deps, order, notice.checkoutId, paid)) {
          return { outcome: 'held', case: 'unpriced_held' };
        }
        enqueueReply(db, order.replyTo, {
          key: `payheld:${notice.checkoutId}`,
          orderId: order.id,
          kind: 'notice',
          text: text.paymentHeld(paid),
        });
        return { outcome: 'held', case: 'unpriced_held' };
      }
      const payment: Payment = {
        checkoutId: notice.checkoutId,
        amountCents: notice.amountCents,
        currency: notice.currency,
        boughtSeconds: bought,
      };
      // A debt from a refunded or disputed payment takes its part of the purchase first (`payDebt`).
      const usable = bought - Math.min(owedSeconds(db, order.userId), bought);
      if (order.state === 'awaiting_payment') {
        if (usable < order.missingSeconds) {
          closeUnderpaid(this.deps, order, payment);
          return { outcome: 'credited', case: 'underpaid_credited' };
        }
        markPaid(this.deps, order, payment);
        const quoted = notice.amountCents === order.amountCents && notice.currency === order.currency;
        return { outcome: 'applied', case: quoted ? undefined : 'amount_mismatch_transcribed' };
      }
      if (order.state === 'expired' && order.audioDeletedAt === null && ledger.balance(order.userId) + usable >= order.seconds) {
        markPaidLate(this.deps, order, payment);
        return { outcome: 'applied', case: 'late_transcribed' };
      }
      creditPayment(this.deps, order, payment);
      return { outcome: 'credited', case: order.state === 'expired' ? 'late_credited' : 'extra_credited' };
    });
    if (outcome === 'applied') this.deps.wakeups.emit('queued');
    if (outcome !== 'duplicate' && outcome !== 'ignored') this.deps.wakeups.emit('outbox');
    return outcome;
  }

  async pending(notice: PaymentNotice): Promise<PaymentOutcome> {
    const { outcome } = this.once(notice, 'pending', (order) => {
      if (order?.state !== 'awaiting_payment') return { outcome: 'ignored' };
      notePaymentPending(this.deps.db, order, notice.checkoutId);
      return { outcome: 'pending', case: 'async_pending' };
    });
    if (outcome === 'pending') this.deps.wakeups.emit('outbox');
    return outcome;
  }

  async failed(notice: PaymentNotice): Promise<PaymentOutcome> {
    const { outcome } = this.once(notice, 'failed', (order) => {
      if (order?.state !== 'awaiting_payment' || !failPayment(this.deps, order)) return { outcome: 'ignored' };
      return { outcome: 'applied', case: 'async_failed' };
    });
    if (outcome === 'applied') await this.afterExpiry(notice.orderId);
    return outcome;
  }

  async expired(notice: PaymentNotice): Promise<PaymentOutcome> {
    const { outcome } = this.once(notice, 'expired', (order) => {
      if (order?.state !== 'awaiting_payment' || !expireOrder(this.deps, order, this.keepHours)) return { outcome: 'ignored' };
      return { outcome: 'applied' };
    });
    if (outcome === 'applied') await this.afterExpiry(notice.orderId);
    return outcome;
  }

  /** A refund or dispute of a checkout's payment; see `reversePayment`. */
  async reversed(notice: ReversalNotice): Promise<PaymentOutcome> {
    const { outcome } = this.once(notice, 'reversed', (order) => reversePayment(this.deps, order, notice));
    if (outcome === 'applied') this.deps.wakeups.emit('outbox');
    return outcome;
  }

  /**
   * One pass of the safety net for notices that never arrived (webhook misconfigured or down): every
   * order still awaiting payment after its checkout's expiry is settled with what the provider says of
   * the checkout (paid, on its way, failed, expired); a checkout still open is closed first, so it
   * cannot be paid after the order expired. Without a checkout or a provider that can tell, the order
   * is expired once no checkout can still be alive. Then deletes the audio of orders expired longer
   * than the keep time. Returns how many orders were settled.
   */
  async sweep(now = Date.now()): Promise<number> {
    const { db, log } = this.deps;
    const due = db
      .select()
      .from(orders)
      .where(
        and(
          eq(orders.state, 'awaiting_payment'),
          or(
            and(isNotNull(orders.checkoutExpiresAt), lt(orders.checkoutExpiresAt, now - NOTICE_GRACE_MS)),
            lt(orders.updatedAt, now - STALE_AFTER_MS),
          ),
        ),
      )
      .all();
    let settled = 0;
    for (const order of due) {
      const wait = this.recheck.get(order.id);
      if (wait && wait.at > now) continue;
      try {
        if (await this.settle(order, now)) {
          settled += 1;
          this.recheck.delete(order.id);
        } else {
          this.backOff(order.id, now);
        }
      } catch (error) {
        log.warn(
          { orderId: order.id, err: (error as Error).message },
          'could not ask the payment provider about an unpaid order; will retry',
        );
        this.backOff(order.id, now);
      }
    }
    await this.purgeExpiredAudio(now);
    return settled;
  }

  /** Settles one order past its checkout's expiry; false when it must wait (payment on its way, checkout still open). */
  private async settle(order: Order, now: number): Promise<boolean> {
    const payments = this.methods.forCurrency(order.currency)?.payments;
    const checkoutId = order.checkoutId;
    if (!checkoutId || !payments?.checkoutStatus) {
      if (order.updatedAt >= now - STALE_AFTER_MS) return false;
      return this.sweepNotice('expired', order, checkoutId ?? '', { state: 'expired', amountCents: 0, currency: '' });
    }
    let status = await payments.checkoutStatus(checkoutId);
    if (status?.state === 'open') {
      if (!payments.closeCheckout) return false;
      status = await payments.closeCheckout(checkoutId);
      if (status?.state === 'expired') this.report('sweep_closed', { orderId: order.id, checkoutId });
    }
    const seen = status ?? { state: 'expired', amountCents: 0, currency: '' };
    switch (seen.state) {
      case 'paid':
        return this.sweepNotice('paid', order, checkoutId, seen);
      case 'failed':
        return this.sweepNotice('failed', order, checkoutId, seen);
      case 'expired':
        return this.sweepNotice('expired', order, checkoutId, seen);
      case 'pending':
        await this.sweepNotice('pending', order, checkoutId, seen);
        return false;
      default:
        return false;
    }
  }

  /** Applies what the sweep learnt as a notice of its own (one per checkout and kind, so a later webhook finds it done). */
  private async sweepNotice(kind: Exclude<Kind, 'reversed'>, order: Order, checkoutId: string, status: CheckoutStatus): Promise<boolean> {
    const notice: PaymentNotice = {
      eventId: `sweep:${order.id}:${checkoutId}:${kind}`,
      orderId: order.id,
      checkoutId,
      amountCents: status.amountCents,
      currency: status.currency.toLowerCase(),
    };
    const outcome = await this[kind](notice);
    if (kind === 'paid' && outcome !== 'duplicate' && outcome !== 'ignored') this.report('sweep_paid', notice);
    // The webhook that would have counted this money never came: count it here, as the webhook would have.
    if (kind === 'paid' && (outcome === 'applied' || outcome === 'credited')) {
      paymentsSucceeded.inc();
      revenueCents.inc({ currency: notice.currency }, notice.amountCents);
    }
    if (kind === 'expired' && outcome === 'applied') this.report('sweep_expired', notice);
    return outcome !== 'duplicate' && outcome !== 'ignored' && outcome !== 'pending';
  }

  private backOff(orderId: string, now: number): void {
    const delay = Math.min((this.recheck.get(orderId)?.delay ?? FIRST_RECHECK_MS / 2) * 2, MAX_RECHECK_MS);
    this.recheck.set(orderId, { at: now + delay, delay });
  }

  /** Deletes the audio of orders expired longer than the keep time: a payment arriving later only credits the balance. */
  async purgeExpiredAudio(now = Date.now()): Promise<number> {
    const cutoff = now - this.keepHours * 3_600_000;
    const due = this.deps.db
      .select({ id: orders.id })
      .from(orders)
      .where(and(eq(orders.state, 'expired'), isNull(orders.audioDeletedAt), lt(orders.updatedAt, cutoff + 1)))
      .all();
    let deleted = 0;
    for (const { id } of due) if (await this.deleteAudio(id)) deleted += 1;
    return deleted;
  }

  /** After an order closed unpaid: delete its audio now when none is kept, and send the reply. */
  private async afterExpiry(orderId: string): Promise<void> {
    if (this.keepHours === 0) await this.deleteAudio(orderId);
    this.deps.wakeups.emit('outbox');
  }

  private async deleteAudio(orderId: string): Promise<boolean> {
    // Marked first, so a payment racing the deletion only credits; unmarked again if the store fails.
    if (!markAudioDeleted(this.deps.db, orderId)) return false;
    try {
      await this.deps.store.deletePrefix(`orders/${orderId}`);
      return true;
    } catch (error) {
      markAudioKept(this.deps.db, orderId);
      this.deps.log.warn({ orderId, err: (error as Error).message }, "could not delete an expired order's audio; will retry");
      return false;
    }
  }

  /** Seconds a payment buys at the configured price; undefined for a currency the service has no price in. */
  private secondsPaid(notice: PaymentNotice): number | undefined {
    const configured = this.deps.prices.currency.toLowerCase() === notice.currency.toLowerCase() ? this.deps.prices : undefined;
    const prices = this.methods.forCurrency(notice.currency)?.prices ?? configured;
    return prices ? secondsFor(notice.amountCents, prices) : undefined;
  }

  /** Counts a case off the ordinary path and logs it at error level with the order id, for the operator. */
  private report(
    kase: PaymentCase,
    fields: { orderId: string; eventId?: string; checkoutId?: string; amountCents?: number; currency?: string },
  ): void {
    paymentCases.inc({ outcome: kase });
    this.deps.log.error({ ...fields, outcome: kase }, `payment: ${CASE_LINES[kase]}`);
  }

  /**
   * Records the notice's event id and applies `effect` to its order (undefined when unknown), all in
   * one transaction; reports the case the effect names. A notice seen before does nothing.
   */
  private once(
    notice: Pick<PaymentNotice, 'eventId' | 'orderId'> & { checkoutId?: string },
    kind: Kind,
    effect: (order: Order | undefined) => { outcome: PaymentOutcome; case?: PaymentCase },
  ): { outcome: PaymentOutcome } {
    const { db } = this.deps;
    const result = transaction(db, () => {
      const seen = prepared(db, 'paymentNoticeSeen', (d) =>
        d
          .select({ id: paymentNotices.eventId })
          .from(paymentNotices)
          .where(eq(paymentNotices.eventId, sql.placeholder('eventId')))
          .prepare(),
      ).get({ eventId: notice.eventId });
      if (seen) return { outcome: 'duplicate' as const };
      const order = findOrder(db, notice.orderId);
      const applied = effect(order);
      db.insert(paymentNotices).values({ eventId: notice.eventId, type: kind, orderId: notice.orderId, outcome: applied.outcome }).run();
      return applied;
    });
    if (result.case) this.report(result.case, notice);
    return result;
  }
}
