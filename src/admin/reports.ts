import { asc, eq } from 'drizzle-orm';
import type { Db } from '../db';
import { files, ledger, operatorRetries, outbox, users } from '../db/schema';
import type { Ledger } from '../ledger';
import { owedSeconds } from '../orders/debts';
import type { Order } from '../orders/lifecycle';
import type { OrderState } from '../orders/states';
import type { User } from '../users';

/**
 * What the operator's read-only commands show. Each returns plain data; `main.ts` prints it as a table
 * or as JSON. Times are epoch milliseconds here.
 */

export interface UserRow {
  id: string;
  channel: string;
  externalId: string;
  balanceSeconds: number;
  orders: number;
  lastOrderAt: number | null;
  createdAt: number;
}

/** Users, newest first; `search` matches a part of the platform id (chat id, email address) or the start of the user id. */
export function listUsers(db: Db, options: { search?: string; limit: number }): UserRow[] {
  // Plain SQL: the correlated sub-queries need the outer table named, which the query builder leaves out.
  return db.$client
    .prepare(
      `SELECT u.id, u.channel, u.external_id AS externalId, u.created_at AS createdAt,
              (SELECT coalesce(sum(l.seconds), 0) FROM ledger l WHERE l.user_id = u.id) AS balanceSeconds,
              (SELECT count(*) FROM orders o WHERE o.user_id = u.id) AS orders,
              (SELECT max(o.created_at) FROM orders o WHERE o.user_id = u.id) AS lastOrderAt
       FROM users u
       WHERE @search IS NULL OR instr(lower(u.external_id), lower(@search)) > 0 OR substr(u.id, 1, length(@search)) = @search
       ORDER BY u.created_at DESC, u.id LIMIT @limit`,
    )
    .all({ search: options.search ?? null, limit: options.limit }) as UserRow[];
}

export type LedgerEntry = typeof ledger.$inferSelect;

export interface UserReport {
  user: User;
  balanceSeconds: number;
  /** Seconds owed from refunded or disputed payments (the balance never goes below zero); later purchases pay it first. */
  owedSeconds: number;
  ledger: LedgerEntry[];
  recentOrders: OrderRow[];
}

/** One user: identity, balance, every ledger entry (oldest first), and the latest orders. */
export function userReport(db: Db, ledgerApi: Ledger, user: User, recent = 10): UserReport {
  return {
    user,
    balanceSeconds: ledgerApi.balance(user.id),
    owedSeconds: owedSeconds(db, user.id),
    ledger: db.select().from(ledger).where(eq(ledger.userId, user.id)).orderBy(asc(ledger.id)).all(),
    recentOrders: listOrders(db, { userId: user.id, limit: recent }),
  };
}

export interface OrderRow {
  id: string;
  state: OrderState;
  channel: string;
  user: string;
  files: number;
  seconds: number;
  amountCents: number | null;
  currency: string | null;
  createdAt: number;
  error: string | null;
}

/** Orders, newest first, optionally of one state, one user, or created since a time. */
export function listOrders(db: Db, options: { state?: OrderState; since?: number; userId?: string; limit: number }): OrderRow[] {
  return db.$client
    .prepare(
      `SELECT o.id, o.state, o.channel, u.channel || ':' || u.external_id AS user,
              (SELECT count(*) FROM files f WHERE f.order_id = o.id) AS files,
              o.seconds, o.amount_cents AS amountCents, o.currency, o.created_at AS createdAt, o.error
       FROM orders o JOIN users u ON u.id = o.user_id
       WHERE (@state IS NULL OR o.state = @state) AND (@since IS NULL OR o.created_at >= @since) AND (@user IS NULL OR o.user_id = @user)
       ORDER BY o.created_at DESC, o.id LIMIT @limit`,
    )
    .all({ state: options.state ?? null, since: options.since ?? null, user: options.userId ?? null, limit: options.limit }) as OrderRow[];
}

export interface OrderReport {
  order: Order;
  user: Pick<User, 'id' | 'channel' | 'externalId'>;
  files: (typeof files.$inferSelect)[];
  ledger: LedgerEntry[];
  replies: {
    key: string;
    kind: string;
    state: string;
    attempts: number;
    lastError: string | null;
    createdAt: number;
    sentAt: number | null;
  }[];
  /** Each `admin retry` of the order: who ran it, and the errors it reset. */
  retries: (typeof operatorRetries.$inferSelect)[];
}

/** One order: its row (states, job, checkout), user, files, the ledger entries and replies about it. */
export function orderReport(db: Db, order: Order): OrderReport {
  const user = db
    .select({ id: users.id, channel: users.channel, externalId: users.externalId })
    .from(users)
    .where(eq(users.id, order.userId))
    .get()!;
  const replies = db.select().from(outbox).where(eq(outbox.orderId, order.id)).orderBy(asc(outbox.id)).all();
  return {
    order,
    user,
    files: db.select().from(files).where(eq(files.orderId, order.id)).orderBy(asc(files.position)).all(),
    ledger: db.select().from(ledger).where(eq(ledger.orderId, order.id)).orderBy(asc(ledger.id)).all(),
    replies: replies.map((r) => ({
      key: r.key,
      kind: r.payload.kind,
      state: r.state,
      attempts: r.attempts,
      lastError: r.lastError,
      createdAt: r.createdAt,
      sentAt: r.sentAt,
    })),
    retries: db.select().from(operatorRetries).where(eq(operatorRetries.orderId, order.id)).orderBy(asc(operatorRetries.id)).all(),
  };
}

export interface Stats {
  since: number;
  until: number;
  /** Orders created in the period, by their state now. */
  orders: Record<string, number>;
  ordersTotal: number;
  /** Audio of the orders delivered in the period: transcribed (files done) and billed. */
  audio: { transcribedHours: number; billedHours: number; deliveredOrders: number };
  /** Money by currency: card payments in, refunds out, net. Cents. */
  revenue: { currency: string; payments: number; paidCents: number; refunds: number; refundedCents: number; netCents: number }[];
  failures: { failedOrders: number; failedFiles: number; deadReplies: number; expiredCheckouts: number };
  users: { new: number; active: number };
  /** Seconds operators granted (+) or took back (-) in the period. */
  adjustedSeconds: number;
}

/** Totals over `[since, until)`: orders, audio hours, revenue, failures, users. */
export function stats(db: Db, since: number, until = Date.now()): Stats {
  const q = <T>(text: string, ...params: unknown[]) => db.$client.prepare(text).all(...params) as T[];
  const one = <T>(text: string, ...params: unknown[]) => db.$client.prepare(text).get(...params) as T;

  const byState = q<{ state: string; n: number }>(
    'SELECT state, count(*) AS n FROM orders WHERE created_at >= @since AND created_at < @until GROUP BY state ORDER BY state',
    { since, until },
  );
  const audio = one<{ transcribed: number | null; billed: number | null; delivered: number }>(
    `SELECT (SELECT sum(f.duration) FROM files f JOIN orders o ON o.id = f.order_id WHERE f.state = 'done' AND o.delivered_at >= @since AND o.delivered_at < @until) AS transcribed,
            (SELECT sum(seconds) FROM orders WHERE delivered_at >= @since AND delivered_at < @until) AS billed,
            (SELECT count(*) FROM orders WHERE delivered_at >= @since AND delivered_at < @until) AS delivered`,
    { since, until },
  );
  // Money in is every entry with a positive amount (purchases), money out every negative one (refunds, card or Stars).
  const money = q<{ currency: string; direction: string; n: number; cents: number }>(
    `SELECT currency, CASE WHEN amount_cents > 0 THEN 'in' ELSE 'out' END AS direction, count(*) AS n, coalesce(sum(amount_cents), 0) AS cents FROM ledger
     WHERE amount_cents IS NOT NULL AND amount_cents <> 0 AND currency IS NOT NULL AND created_at >= @since AND created_at < @until GROUP BY currency, direction`,
    { since, until },
  );
  const revenue = [...new Set(money.map((m) => m.currency))].sort().map((currency) => {
    const paid = money.find((m) => m.currency === currency && m.direction === 'in');
    const refunded = money.find((m) => m.currency === currency && m.direction === 'out');
    const paidCents = paid?.cents ?? 0;
    const refundedCents = -(refunded?.cents ?? 0);
    return { currency, payments: paid?.n ?? 0, paidCents, refunds: refunded?.n ?? 0, refundedCents, netCents: paidCents - refundedCents };
  });
  const failures = one<Stats['failures']>(
    `SELECT (SELECT count(*) FROM orders WHERE state = 'failed' AND updated_at >= @since AND updated_at < @until) AS failedOrders,
            (SELECT count(*) FROM files f JOIN orders o ON o.id = f.order_id WHERE f.state = 'failed' AND o.updated_at >= @since AND o.updated_at < @until) AS failedFiles,
            (SELECT count(*) FROM outbox WHERE state = 'dead' AND created_at >= @since AND created_at < @until) AS deadReplies,
            (SELECT count(*) FROM orders WHERE state = 'expired' AND updated_at >= @since AND updated_at < @until) AS expiredCheckouts`,
    { since, until },
  );
  const people = one<{ fresh: number; active: number }>(
    `SELECT (SELECT count(*) FROM users WHERE created_at >= @since AND created_at < @until) AS fresh,
            (SELECT count(DISTINCT user_id) FROM orders WHERE created_at >= @since AND created_at < @until) AS active`,
    { since, until },
  );
  const adjusted = one<{ s: number }>(
    "SELECT coalesce(sum(seconds), 0) AS s FROM ledger WHERE kind = 'adjustment' AND created_at >= @since AND created_at < @until",
    { since, until },
  );
  return {
    since,
    until,
    orders: Object.fromEntries(byState.map((r) => [r.state, r.n])),
    ordersTotal: byState.reduce((sum, r) => sum + r.n, 0),
    audio: { transcribedHours: (audio.transcribed ?? 0) / 3600, billedHours: (audio.billed ?? 0) / 3600, deliveredOrders: audio.delivered },
    revenue,
    failures,
    users: { new: people.fresh, active: people.active },
    adjustedSeconds: adjusted.s,
  };
}
