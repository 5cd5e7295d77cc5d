import { eq, sql } from 'drizzle-orm';
import type { Db } from './db';
import { ledger, type LedgerKind } from './db/schema';

/** The sign each kind of entry may carry: +1 adds, -1 subtracts, 0 either (an operator's adjustment). */
const SIGN: Record<LedgerKind, 1 | -1 | 0> = {
  grant: 1,
  purchase: 1,
  refund: 1,
  spend: -1,
  payment_refund: -1,
  adjustment: 0,
  chargeback: -1,
  chargeback_reversal: 1,
  debt_payment: -1,
};

/**
 * The only way seconds move. Every entry has a unique key naming why it exists
 * (`grant:<user>`, `hold:<order>`, `purchase:<order>`...), so writing it twice is impossible,
 * and the balance is the sum of a user's entries. Call inside the transaction of the state
 * change the entry pays for.
 */
export class Ledger {
  // Prepared once: these run several times for every order.
  private readonly balanceQuery;
  private readonly keyQuery;
  private readonly insert;

  constructor(private readonly db: Db) {
    this.balanceQuery = db
      .select({ total: sql<number>`coalesce(sum(${ledger.seconds}), 0)` })
      .from(ledger)
      .where(eq(ledger.userId, sql.placeholder('userId')))
      .prepare();
    this.keyQuery = db
      .select({ id: ledger.id })
      .from(ledger)
      .where(eq(ledger.key, sql.placeholder('key')))
      .prepare();
    const column = (name: string) => sql.placeholder(name);
    this.insert = db
      .insert(ledger)
      .values({
        userId: column('userId'),
        kind: column('kind'),
        seconds: column('seconds'),
        key: column('key'),
        orderId: column('orderId'),
        amountCents: column('amountCents'),
        currency: column('currency'),
        note: column('note'),
        actor: column('actor'),
      })
      .onConflictDoNothing({ target: ledger.key })
      .prepare();
  }

  /** Seconds the user can spend now. */
  balance(userId: string): number {
    return this.balanceQuery.get({ userId })?.total ?? 0;
  }

  /**
   * Appends an entry unless one with `key` exists. Returns false when it already did, which callers
   * treat as "already done". Negative entries (spends, holds, money refunds, negative adjustments) never
   * take the balance below zero.
   */
  append(entry: {
    userId: string;
    kind: LedgerKind;
    seconds: number;
    key: string;
    orderId?: string;
    amountCents?: number;
    currency?: string;
    note?: string;
    /** The operator whose command wrote it (`admin --by`). */
    actor?: string;
  }): boolean {
    if (!Number.isInteger(entry.seconds)) throw new Error('ledger seconds must be whole');
    const sign = SIGN[entry.kind];
    if (sign === undefined || (sign !== 0 && entry.seconds !== 0 && Math.sign(entry.seconds) !== sign)) {
      throw new Error(`a ${entry.kind} entry cannot have ${entry.seconds} seconds`);
    }
    if (this.has(entry.key)) return false;
    if (entry.seconds < 0 && this.balance(entry.userId) + entry.seconds < 0) {
      throw new InsufficientBalanceError(entry.userId);
    }
    const { orderId = null, amountCents = null, currency = null, note = null, actor = null } = entry;
    const result = this.insert.run({ ...entry, orderId, amountCents, currency, note, actor });
    return result.changes === 1;
  }

  /** Whether an entry with this key was written. */
  has(key: string): boolean {
    return this.keyQuery.get({ key }) !== undefined;
  }
}

export class InsufficientBalanceError extends Error {
  constructor(readonly userId: string) {
    super('balance would go negative');
    this.name = 'InsufficientBalanceError';
  }
}
