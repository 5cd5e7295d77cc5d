import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db';
import type { SQLiteUpdateSetSource } from 'drizzle-orm/sqlite-core';
import { prepared } from '../db/prepared';
import { orders } from '../db/schema';

/**
 * Every state an order can be in. An order is created `received`; `delivered` and `rejected` never
 * change again, `expired` only for a late payment, and `failed` only for an operator's retry
 * (`npm run admin -- retry`).
 */
export const orderStates = ['received', 'awaiting_payment', 'queued', 'running', 'delivered', 'expired', 'rejected', 'failed'] as const;

export type OrderState = (typeof orderStates)[number];

/**
 * The only state changes an order may make. Read it as the order's life:
 * quoted (free: queued; short of seconds: awaiting payment; nothing usable or no payments: rejected),
 * paid or expired (also: paid too little, or a delayed payment failed), queued after all when a payment
 * arrives late while the audio is kept, started on the runner (or failed, refunded, when the runner keeps
 * refusing it), then delivered, failed (refunded) or queued again when the runner lost the job; an
 * operator's retry puts a failed order back in the queue. The commands that make each change are in
 * `lifecycle.ts`.
 */
export const transitions: Readonly<Record<OrderState, readonly OrderState[]>> = {
  received: ['queued', 'awaiting_payment', 'rejected'],
  awaiting_payment: ['queued', 'expired'],
  queued: ['running', 'failed'],
  running: ['delivered', 'failed', 'queued'],
  delivered: [],
  // A payment that arrives after the order expired, while its audio is still kept.
  expired: ['queued'],
  rejected: [],
  failed: ['queued'],
};

/** Whether the table allows `from -> to`. */
export function canMove(from: OrderState, to: OrderState): boolean {
  return transitions[from].includes(to);
}

/** A programming error: code asked for a state change the table does not allow. */
export class RefusedTransitionError extends Error {
  constructor(
    readonly from: OrderState,
    readonly to: OrderState,
  ) {
    super(`order state change ${from} -> ${to} is not allowed`);
    this.name = 'RefusedTransitionError';
  }
}

/**
 * Moves one order from `from` to `to`, writing `values` with it, as a conditional update
 * (`... WHERE state = from`): of two racing callers (a replayed webhook, a loop after a restart)
 * exactly one sees true. Throws for a change the table does not allow. Call inside the
 * transaction that writes the change's ledger entries and replies. The new state starts with
 * no retries counted and nothing to wait for (`retries`, `nextAttemptAt`).
 */
export function moveOrder(
  db: Db,
  orderId: string,
  from: OrderState,
  to: OrderState,
  values: Omit<SQLiteUpdateSetSource<typeof orders>, 'id' | 'state' | 'updatedAt'> = {},
): boolean {
  if (!canMove(from, to)) throw new RefusedTransitionError(from, to);
  const result = db
    .update(orders)
    .set({ retries: 0, nextAttemptAt: null, ...values, state: to, updatedAt: Date.now() })
    .where(and(eq(orders.id, orderId), eq(orders.state, from)))
    .run();
  return result.changes === 1;
}

/** The order's row, or undefined; read through one prepared statement, as nearly every command starts here. */
export function findOrder(db: Db, orderId: string): typeof orders.$inferSelect | undefined {
  return prepared(db, 'orderById', (d) =>
    d
      .select()
      .from(orders)
      .where(eq(orders.id, sql.placeholder('id')))
      .prepare(),
  ).get({ id: orderId });
}
