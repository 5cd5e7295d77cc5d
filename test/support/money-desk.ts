import { eq, sql } from 'drizzle-orm';
import { grantSeconds } from '../../src/admin/grant';
import { refundOrder } from '../../src/admin/refund';
import { retryOrder } from '../../src/admin/retry';
import { openDatabase, type DatabaseOptions, type Db } from '../../src/db';
import { orders, outbox } from '../../src/db/schema';
import { transaction } from '../../src/db/tx';
import { Ledger } from '../../src/ledger';
import { silentLogger, type Logger } from '../../src/log';
import { completeOrder, failUnstarted, receiveOrder, requeueOrder, startJobs, type Order } from '../../src/orders/lifecycle';
import { OrderPayments } from '../../src/orders/order-payments';
import { PaymentMethods } from '../../src/orders/payment-methods';
import { Quoting } from '../../src/orders/quote';
import { orderFiles } from '../../src/orders/summary';
import type { BlobStore } from '../../src/ports/blob-store';
import type { PaymentNotice, PaymentOutcome, PaymentRefund, PaymentRefunds } from '../../src/ports/payments';
import type { PriceList } from '../../src/pricing';
import { Wakeups } from '../../src/processors/wakeups';
import { findOrCreateUser, type User } from '../../src/users';
import { RecordingPayments } from './recording-payments';

/** 10 cents a minute, 50 cents at least: 50 cents buy 300 s. */
export const DESK_PRICES: PriceList = { pricePerMinuteCents: 10, minimumPaymentCents: 50, currency: 'usd' };

/** A Stripe stand-in for the operator's refund: refunds each checkout in full, once, as Stripe's idempotent call does. */
export class RecordingRefunds implements PaymentRefunds {
  readonly made = new Map<string, PaymentRefund>();
  constructor(private readonly paidCents: (checkoutId: string) => number) {}

  async refundCheckout({ checkoutId }: { orderId: string; checkoutId: string }): Promise<PaymentRefund> {
    const made = this.made.get(checkoutId) ?? {
      id: `re_${checkoutId}`,
      amountCents: this.paidCents(checkoutId),
      currency: 'usd',
      status: 'succeeded',
    };
    this.made.set(checkoutId, made);
    return made;
  }
}

/** A store that still holds every order's audio: the money paths only ask whether it is there. */
const keptAudio = { exists: async () => true, deletePrefix: async () => {} } as unknown as BlobStore;

/**
 * The service's money commands on one SQLite database, without channels or runners: a user sends files,
 * the quote holds or spends, the payment provider reports, the runner starts and finishes jobs, the
 * operator retries, refunds and grants. Each step goes through the same command the service or the
 * admin command runs, so tests play any order of events a real day could bring.
 */
export class MoneyDesk {
  readonly db: Db;
  readonly ledger: Ledger;
  readonly payments: OrderPayments;
  readonly refunds: RecordingRefunds;
  private readonly quoting: Quoting;
  private readonly paidCents = new Map<string, number>();
  private readonly orderById;
  private next = 0;

  constructor(file = ':memory:', log: Logger = silentLogger, options?: DatabaseOptions) {
    this.db = openDatabase(file, options);
    this.ledger = new Ledger(this.db);
    const methods = new PaymentMethods({ payments: new RecordingPayments(), prices: DESK_PRICES });
    const deps = { db: this.db, ledger: this.ledger, prices: DESK_PRICES, methods, wakeups: new Wakeups(), log };
    this.quoting = new Quoting(deps);
    this.payments = new OrderPayments({ ...deps, store: keptAudio, keepExpiredAudioHours: 72 });
    this.refunds = new RecordingRefunds((checkoutId) => this.paidCents.get(checkoutId) ?? 0);
    // Prepared once: the random sequences read an order before every event.
    this.orderById = this.db
      .select()
      .from(orders)
      .where(eq(orders.id, sql.placeholder('id')))
      .prepare();
  }

  /** A new user with `freeSeconds` granted on first contact. */
  user(freeSeconds: number): User {
    return transaction(this.db, () => findOrCreateUser(this.db, this.ledger, 'test', `u${++this.next}`, freeSeconds));
  }

  balance(user: User): number {
    return this.ledger.balance(user.id);
  }

  /** `user` sends files of these whole-second durations; the order is quoted. */
  send(user: User, durations: number[]): Order {
    const id = `o${++this.next}`;
    const replyTo = { channel: 'test' as const, chatId: user.externalId, messageId: id };
    transaction(this.db, () => {
      receiveOrder(
        this.db,
        { id, userId: user.id, channel: 'test', replyTo, language: null },
        durations.map((duration, position) => ({
          position,
          name: `f${position}.ogg`,
          key: `orders/${id}/${position}`,
          bytes: 10,
          duration,
        })),
      );
      this.quoting.quote(id);
    });
    return this.order(id);
  }

  order(id: string): Order {
    return this.orderById.get({ id })!;
  }

  /** The provider reports `amountCents` paid on `checkoutId` for the order (a new event each call unless `eventId`). */
  pay(orderId: string, checkoutId: string, amountCents: number, currency = 'usd', eventId?: string): Promise<PaymentOutcome> {
    // A checkout charges once: a report of it again (a replay, the sweep) does not change what was paid.
    if (!this.paidCents.has(checkoutId)) this.paidCents.set(checkoutId, amountCents);
    return this.payments.paid(this.notice(orderId, checkoutId, amountCents, currency, eventId));
  }

  /** The provider reports the checkout expired unpaid. */
  expire(orderId: string): Promise<PaymentOutcome> {
    return this.payments.expired(this.notice(orderId, `cs_${orderId}`, 0, 'usd'));
  }

  /** The provider reports the delayed payment failed. */
  failPayment(orderId: string): Promise<PaymentOutcome> {
    return this.payments.failed(this.notice(orderId, `cs_${orderId}`, 0, 'usd'));
  }

  /** The runner accepted the order's job. */
  start(orderId: string): boolean {
    return startJobs(this.db, [{ order: this.order(orderId), runnerJobId: `job-${++this.next}` }]) === 1;
  }

  /** The runner lost the job; the order goes back to the queue. */
  requeue(orderId: string): boolean {
    return requeueOrder(this.db, this.order(orderId));
  }

  /** The runner refused the job every time. */
  refuse(orderId: string): boolean {
    return failUnstarted(this, this.order(orderId));
  }

  /** The job finished; the files at `failedPositions` have no result. */
  finish(orderId: string, failedPositions: number[] = []): 'delivered' | 'failed' | undefined {
    const inputs = orderFiles(this.db, orderId).filter((f) => f.state !== 'rejected');
    const failed = inputs.filter((f) => failedPositions.includes(f.position));
    return completeOrder(this, this.order(orderId), inputs, failed);
  }

  /** `npm run admin -- retry ORDER`. */
  retry(orderId: string): ReturnType<typeof retryOrder> {
    return retryOrder({ db: this.db, store: keptAudio }, this.order(orderId), 'operator');
  }

  /** `npm run admin -- refund ORDER`, card payments. */
  refund(orderId: string): ReturnType<typeof refundOrder> {
    return refundOrder({ db: this.db, ledger: this.ledger, refunds: this.refunds }, this.order(orderId));
  }

  /** `npm run admin -- grant USER SECONDS`. */
  grant(user: User, seconds: number): ReturnType<typeof grantSeconds> {
    return grantSeconds(this, user, { seconds, reason: 'test', actor: 'operator' });
  }

  /** The texts sent (or queued) to the order's chat, oldest first. */
  replies(orderId: string): string[] {
    return this.db
      .select()
      .from(outbox)
      .where(eq(outbox.orderId, orderId))
      .all()
      .map((r) => r.payload.text ?? '');
  }

  private notice(orderId: string, checkoutId: string, amountCents: number, currency: string, eventId?: string): PaymentNotice {
    return { eventId: eventId ?? `evt_${++this.next}`, orderId, checkoutId, amountCents, currency };
  }
}
