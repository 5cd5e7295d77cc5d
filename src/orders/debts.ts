import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db';
import { debts, ledger as ledgerTable, orders, type LedgerKind } from '../db/schema';
import type { Ledger } from '../ledger';

/**
 * Debts: seconds a refund or a dispute took back that the balance no longer held. The balance never goes
 * below zero, so what cannot be taken from it is owed, and later purchases pay it first. Every function
 * here writes inside the caller's transaction and is keyed, so a replayed notice changes nothing.
 */

/** Seconds the user owes now (0 when nothing). */
export function owedSeconds(db: Db, userId: string): number {
  return (
    db
      .select({ total: sql<number>`coalesce(sum(${debts.seconds}), 0)` })
      .from(debts)
      .where(eq(debts.userId, userId))
      .get()?.total ?? 0
  );
}

/** Seconds owed by the user of an order (0 when nothing, or no such order). */
export function orderOwedSeconds(db: Db, orderId: string): number {
  const order = db.select({ userId: orders.userId }).from(orders).where(eq(orders.id, orderId)).get();
  return order ? owedSeconds(db, order.userId) : 0;
}

/** What taking seconds back did: taken off the balance, and owed beyond it. */
export interface TakenBack {
  takenSeconds: number;
  owedSeconds: number;
}

/**
 * Takes `seconds` back from the user: as much as the balance holds, in a ledger entry of `kind` under
 * `key` (written even for 0, so the ledger shows the money that went), and the rest as a debt under the
 * same key. Undefined when `key` was written before.
 */
export function takeBack(
  { db, ledger }: { db: Db; ledger: Ledger },
  entry: {
    userId: string;
    kind: LedgerKind;
    seconds: number;
    key: string;
    orderId: string;
    amountCents: number;
    currency: string;
    note?: string;
  },
): TakenBack | undefined {
  if (ledger.has(entry.key)) return undefined;
  const takenSeconds = Math.min(entry.seconds, Math.max(0, ledger.balance(entry.userId)));
  ledger.append({ ...entry, seconds: -takenSeconds });
  const owed = entry.seconds - takenSeconds;
  if (owed > 0) db.insert(debts).values({ userId: entry.userId, seconds: owed, key: entry.key, orderId: entry.orderId }).run();
  return { takenSeconds, owedSeconds: owed };
}

/**
 * Gives back what the entry under `takenKey` took: its debt is forgiven as far as it is still owed (a
 * purchase may have paid part of it meanwhile), and everything else goes back onto the balance in a
 * `chargeback_reversal` entry under `key`. Returns the seconds put back on the balance; undefined when
 * nothing was taken under `takenKey` or this was given back before.
 */
export function giveBack({ db, ledger }: { db: Db; ledger: Ledger }, takenKey: string, key: string): number | undefined {
  const taken = db.select().from(ledgerTable).where(eq(ledgerTable.key, takenKey)).get();
  if (!taken || ledger.has(key)) return undefined;
  const recorded = db.select({ seconds: debts.seconds }).from(debts).where(eq(debts.key, takenKey)).get()?.seconds ?? 0;
  const forgiven = Math.min(recorded, Math.max(0, owedSeconds(db, taken.userId)));
  const credited = -taken.seconds + (recorded - forgiven);
  ledger.append({
    userId: taken.userId,
    kind: 'chargeback_reversal',
    seconds: credited,
    key,
    orderId: taken.orderId ?? undefined,
    amountCents: taken.amountCents === null ? undefined : -taken.amountCents,
    currency: taken.currency ?? undefined,
  });
  if (forgiven > 0) db.insert(debts).values({ userId: taken.userId, seconds: -forgiven, key, orderId: taken.orderId }).run();
  return credited;
}

/**
 * A purchase pays the user's debt first: up to `bought` seconds of it are taken off the balance in a
 * `debt_payment` entry keyed by the purchase, and the debt shrinks by as much. Returns the seconds paid.
 */
export function payDebt({ db, ledger }: { db: Db; ledger: Ledger }, userId: string, purchaseKey: string, bought: number): number {
  const key = `debt_payment:${purchaseKey}`;
  const paid = Math.min(owedSeconds(db, userId), bought, Math.max(0, ledger.balance(userId)));
  if (paid <= 0 || ledger.has(key)) return 0;
  ledger.append({ userId, kind: 'debt_payment', seconds: -paid, key });
  db.insert(debts).values({ userId, seconds: -paid, key }).run();
  return paid;
}
