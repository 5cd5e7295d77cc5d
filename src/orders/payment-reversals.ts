import { and, eq, or, sql, type Column } from 'drizzle-orm';
import type { Db } from '../db';
import { ledger as ledgerTable } from '../db/schema';
import type { Ledger } from '../ledger';
import { money, text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { PaymentOutcome, ReversalNotice } from '../ports/payments';
import { paymentRefundKey } from '../admin/refund';
import { giveBack, takeBack } from './debts';
import { purchaseKey, type Order } from './lifecycle';
import type { PaymentCase } from './metrics';

type Context = { db: Db; ledger: Ledger };

/** `column` starts with `prefix`, compared as text (`%` and `_` in keys mean nothing special). */
const startsWith = (column: Column, prefix: string) => sql`substr(${column}, 1, ${prefix.length}) = ${prefix}`;
type Result = { outcome: PaymentOutcome; case?: PaymentCase };

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
      // Refunds recorded before (the operator's `refund` command, earlier partial refunds) are not taken twice.
      const base = paymentRefundKey(key);
      const earlier = db
        .select({ cents: ledgerTable.amountCents })
        .from(ledgerTable)
        .where(and(eq(ledgerTable.kind, 'payment_refund'), or(eq(ledgerTable.key, base), startsWith(ledgerTable.key, `${base}:`))))
        .all();
      const recorded = earlier.reduce((sum, e) => sum + -(e.cents ?? 0), 0);
      const cents = notice.amountCents - recorded;
      if (cents <= 0) return { outcome: 'ignored' };
      const first = earlier.length === 0;
      const taken = takeBack(context, {
        userId: order.userId,
        kind: 'payment_refund',
        seconds: share(notice.amountCents) - share(recorded),
        // The first refund uses the operator's key, so a refund the operator is making as this arrives is recorded once.
        key: first ? base : `${base}:${notice.amountCents}`,
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
    case 'dispute_lost':
      // What it bought was taken back when the dispute opened; losing it changes nothing more.
      return { outcome: 'ignored' };
  }
}

function tell({ db, ledger }: Context, order: Order, key: string, sentence: (balance: number) => string): void {
  const balance = ledger.balance(order.userId);
  enqueueReply(db, order.replyTo, { key, orderId: order.id, kind: 'notice', text: sentence(balance), balanceSeconds: balance });
}
