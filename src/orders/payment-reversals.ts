import { and, asc, eq, or, sql, type Column } from 'drizzle-orm';
import type { Db } from '../db';
import { ledger as ledgerTable } from '../db/schema';
import type { Ledger } from '../ledger';
import { money, text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { PaymentOutcome, ReversalNotice } from '../ports/payments';
import { giveBack, takeBack } from './debts';
import { purchaseKey, type Order } from './lifecycle';
import type { PaymentCase } from './metrics';

type Context = { db: Db; ledger: Ledger };

/** `column` starts with `prefix`, compared as text (`%` and `_` in keys mean nothing special). */
const startsWith = (column: Column, prefix: string) => sql`substr(${column}, 1, ${prefix.length}) = ${prefix}`;
type Result = { outcome: PaymentOutcome; case?: PaymentCase };

/**
 * The ledger key of the first refund of one payment: the payment's own key (`purchase:<order>:<checkout>`)
 * with `payment_refund` in front. Later partial refunds add the total refunded by then (`...:<cents>`), so
 * whoever records a refund first (the operator's command or the provider's event) records it once.
 */
export const paymentRefundKey = (purchaseKey: string): string => purchaseKey.replace(/^purchase:/, 'payment_refund:');

/** The refunds recorded against one payment, oldest first. */
export function refundEntries(db: Db, purchaseKey: string): (typeof ledgerTable.$inferSelect)[] {
  const base = paymentRefundKey(purchaseKey);
  return db
    .select()
    .from(ledgerTable)
    .where(and(eq(ledgerTable.kind, 'payment_refund'), or(eq(ledgerTable.key, base), startsWith(ledgerTable.key, `${base}:`))))
    .orderBy(asc(ledgerTable.id))
    .all();
}

/** Cents given back of one payment so far, by every refund recorded against it. */
export const refundedCents = (db: Db, purchaseKey: string): number =>
  refundEntries(db, purchaseKey).reduce((sum, e) => sum - (e.amountCents ?? 0), 0);

/** The key of a refund that brings the payment's refunded total to `totalCents`: the first gets the base key. */
export const refundKey = (purchaseKey: string, first: boolean, totalCents: number): string =>
  first ? paymentRefundKey(purchaseKey) : `${paymentRefundKey(purchaseKey)}:${totalCents}`;

/**
 * Applies a refund or dispute of a checkout's payment to the ledger, inside the caller's transaction (which
 * also records the notice's event id). Seconds go back at the purchase's own price: a share of the charge
 * takes the same share of the seconds it bought. What the balance lacks becomes a debt (`debts.ts`).
 */
export function reversePayment(context: Context, order: Order | undefined, notice: ReversalNotice): Result {
  const { db } = context;
  const key = purchaseKey(notice.orderId, notice.checkoutId);
  const purchase = db.select().from(ledgerTable).where(eq(ledgerTable.key, key)).get();
  // Events can arrive out of order: a refund before the payment's own event. Failing makes the provider deliver it again.
  if (order?.state === 'awaiting_payment' && !purchase) throw new Error('refund or dispute of a payment not recorded yet');
  if (!order || !purchase || notice.chargedCents <= 0) return { outcome: 'held', case: 'reversal_unmatched' };
  /** Seconds bought by `cents` of the charge, rounded to whole seconds. */
  const share = (cents: number): number => Math.round((purchase.seconds * Math.min(cents, notice.chargedCents)) / notice.chargedCents);

  switch (notice.kind) {
    case 'refund': {
      // Refunds recorded before (the operator's `refund` command, earlier partial refunds) are not taken twice:
      // the event carries the charge's refunded total, and only what goes past the recorded total is new.
      const earlier = refundEntries(db, key);
      const recorded = earlier.reduce((sum, e) => sum - (e.amountCents ?? 0), 0);
      const cents = notice.amountCents - recorded;
      if (cents <= 0) return { outcome: 'ignored' };
      const first = earlier.length === 0;
      const taken = takeBack(context, {
        userId: order.userId,
        kind: 'payment_refund',
        seconds: share(notice.amountCents) - share(recorded),
        key: refundKey(key, first, notice.amountCents),
        orderId: order.id,
        amountCents: -cents,
        currency: notice.currency,
        note: `refund of ${notice.reference}`,
      });
      if (!taken) return { outcome: 'ignored' };
      const replyKey = `refunded:${order.id}:${notice.checkoutId}${first ? '' : `:${notice.amountCents}`}`;
      tell(context, order, replyKey, (balance) =>
        text.reversed('refunded', money(cents, notice.currency), taken.takenSeconds, taken.owedSeconds, balance),
      );
      return { outcome: 'applied', case: taken.owedSeconds > 0 ? 'debt_recorded' : undefined };
    }
    // A lost dispute takes what an opened one would have, when no opening was recorded (an inquiry that became a
    // chargeback, an opening event never delivered); once taken, the key makes this nothing.
    case 'dispute_lost':
    case 'dispute_opened': {
      const taken = takeBack(context, {
        userId: order.userId,
        kind: 'chargeback',
        seconds: share(notice.amountCents),
        key: `chargeback:${notice.reference}`,
        orderId: order.id,
        amountCents: -notice.amountCents,
        currency: notice.currency,
        note: `dispute ${notice.reference}`,
      });
      if (!taken) return { outcome: 'ignored' };
      tell(context, order, `disputed:${notice.reference}`, (balance) =>
        text.reversed('disputed', money(notice.amountCents, notice.currency), taken.takenSeconds, taken.owedSeconds, balance),
      );
      return { outcome: 'applied', case: taken.owedSeconds > 0 ? 'debt_recorded' : undefined };
    }
    case 'dispute_won': {
      const back = giveBack(context, `chargeback:${notice.reference}`, `chargeback_reversal:${notice.reference}`);
      if (back === undefined) return { outcome: 'ignored' };
      tell(context, order, `dispute-won:${notice.reference}`, (balance) =>
        text.disputeWon(money(notice.amountCents, notice.currency), back, balance),
      );
      return { outcome: 'applied' };
    }
  }
}

function tell({ db, ledger }: Context, order: Order, key: string, sentence: (balance: number) => string): void {
  const balance = ledger.balance(order.userId);
  enqueueReply(db, order.replyTo, { key, orderId: order.id, kind: 'notice', text: sentence(balance), balanceSeconds: balance });
}
