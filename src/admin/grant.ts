import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../db';
import { ledger as ledgerTable } from '../db/schema';
import { transaction } from '../db/tx';
import { InsufficientBalanceError, type Ledger } from '../ledger';
import type { User } from '../users';
import { AdminError } from './errors';
import type { LedgerEntry } from './reports';

export interface GrantResult {
  /** False when an entry with the given key existed already (the grant was made before). */
  applied: boolean;
  entry: LedgerEntry;
  balanceSeconds: number;
}

/**
 * An operator gives seconds (positive) or takes them back (negative): a new `adjustment` ledger entry
 * with the reason in its note, never an edit of an old one. Its key is new each time, or built from
 * `key` so a script can repeat the call without granting twice. Taking back never goes below zero.
 */
export function grantSeconds(
  { db, ledger }: { db: Db; ledger: Ledger },
  user: User,
  request: { seconds: number; reason: string; key?: string; actor: string },
): GrantResult {
  const key = `adjustment:${request.key ?? randomUUID()}`;
  const applied = transaction(db, () => {
    try {
      return ledger.append({
        userId: user.id,
        kind: 'adjustment',
        seconds: request.seconds,
        key,
        note: request.reason,
        actor: request.actor,
      });
    } catch (error) {
      if (!(error instanceof InsufficientBalanceError)) throw error;
      const balance = ledger.balance(user.id);
      throw new AdminError(`${user.channel}:${user.externalId} has ${balance} s; taking ${-request.seconds} s would go below zero`);
    }
  });
  const entry = db.select().from(ledgerTable).where(eq(ledgerTable.key, key)).get()!;
  if (entry.userId !== user.id) throw new AdminError(`key '${request.key}' was used for another user`);
  return { applied, entry, balanceSeconds: ledger.balance(user.id) };
}
