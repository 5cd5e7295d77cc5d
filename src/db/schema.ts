import { sql } from 'drizzle-orm';
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type { OrderState } from '../orders/states';
import type { ReplyAddress } from '../ports/channel';

const now = sql`(unixepoch('subsec') * 1000)`;

/** One person on one platform. */
export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    channel: text('channel').notNull(),
    externalId: text('external_id').notNull(),
    /** Whisper language for this user's next orders: an ISO code, or null for auto-detect. */
    language: text('language'),
    /** Translate this user's next recordings into English (multilingual models only). */
    translate: integer('translate', { mode: 'boolean' }).notNull().default(false),
    /** The files this user's transcripts come with, comma-separated (`srt,vtt`); null for the default set. */
    formats: text('formats'),
    createdAt: integer('created_at').notNull().default(now),
  },
  (t) => [uniqueIndex('users_channel_external').on(t.channel, t.externalId)],
);

/**
 * `grant`, `purchase` and `refund` (seconds given back) add; `spend` and `payment_refund` (money returned
 * to the payer, taking back what it bought) subtract; `adjustment` is an operator's correction either way.
 * `chargeback` takes back what a disputed payment bought, `chargeback_reversal` gives it back when the
 * dispute is won, and `debt_payment` is the part of a later purchase that pays off a debt (see `debts`).
 */
export type LedgerKind =
  'grant' | 'purchase' | 'spend' | 'refund' | 'adjustment' | 'payment_refund' | 'chargeback' | 'chargeback_reversal' | 'debt_payment';

/**
 * Append-only: the balance is the sum of `seconds`. `key` is unique, so an entry written twice
 * (a replayed webhook, a restarted loop) fails instead of paying or charging twice.
 */
export const ledger = sqliteTable(
  'ledger',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    kind: text('kind').$type<LedgerKind>().notNull(),
    seconds: integer('seconds').notNull(),
    key: text('key').notNull(),
    orderId: text('order_id'),
    amountCents: integer('amount_cents'),
    currency: text('currency'),
    /** Why an operator wrote the entry (a grant's reason, a refund's provider id). */
    note: text('note'),
    /** The operator who ran the command that wrote it (`admin --by`); null for the service's own entries. */
    actor: text('actor'),
    createdAt: integer('created_at').notNull().default(now),
  },
  (t) => [uniqueIndex('ledger_key').on(t.key), index('ledger_user').on(t.userId)],
);

/** What a reply had been through when an operator sent it again: the errors `admin retry` would otherwise erase. */
export interface RetriedReply {
  key: string;
  state: 'pending' | 'sent' | 'dead';
  attempts: number;
  lastError: string | null;
}

/**
 * Each `admin retry`: who ran it, when, and what had gone wrong before (the order's error, its replies'
 * tries and last errors), since the retry resets those on the order and its replies. Append-only.
 */
export const operatorRetries = sqliteTable(
  'operator_retries',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    orderId: text('order_id')
      .notNull()
      .references(() => orders.id),
    actor: text('actor').notNull(),
    orderState: text('order_state').notNull(),
    orderError: text('order_error'),
    replies: text('replies', { mode: 'json' }).$type<RetriedReply[]>().notNull(),
    createdAt: integer('created_at').notNull().default(now),
  },
  (t) => [index('operator_retries_order').on(t.orderId)],
);

/**
 * Seconds a user owes: what a refund or dispute took back beyond the balance (which never goes below
 * zero). Append-only like the ledger: a positive row is owed, a negative one paid off by a later purchase
 * (beside its `debt_payment` ledger entry, same key) or forgiven when a dispute is won. The debt is the sum.
 */
export const debts = sqliteTable(
  'debts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    seconds: integer('seconds').notNull(),
    key: text('key').notNull(),
    orderId: text('order_id'),
    createdAt: integer('created_at').notNull().default(now),
  },
  (t) => [uniqueIndex('debts_key').on(t.key), index('debts_user').on(t.userId)],
);

export const orders = sqliteTable(
  'orders',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    channel: text('channel').notNull(),
    replyTo: text('reply_to', { mode: 'json' }).$type<ReplyAddress>().notNull(),
    state: text('state').$type<OrderState>().notNull(),
    /** Billable seconds: each file's duration rounded up. */
    seconds: integer('seconds').notNull().default(0),
    /** Seconds taken from the balance when the order was quoted (refunded if it expires). */
    heldSeconds: integer('held_seconds').notNull().default(0),
    /** Seconds the balance was short of, and the price quoted for them. */
    missingSeconds: integer('missing_seconds').notNull().default(0),
    amountCents: integer('amount_cents'),
    currency: text('currency'),
    checkoutId: text('checkout_id'),
    checkoutUrl: text('checkout_url'),
    /** When the checkout stops being payable (ms); the sweep asks the provider about the order after it. */
    checkoutExpiresAt: integer('checkout_expires_at'),
    language: text('language'),
    /** The user's choices when the order came in, so a later /translate or /format changes only later orders. */
    translate: integer('translate', { mode: 'boolean' }).notNull().default(false),
    formats: text('formats'),
    runnerJobId: text('runner_job_id'),
    attempts: integer('attempts').notNull().default(0),
    /** Passing failures (runner API, storage) of the step the order is at; every state change resets it. */
    retries: integer('retries').notNull().default(0),
    /** After such a failure the loops leave the order alone until then (epoch ms); null: at once. */
    nextAttemptAt: integer('next_attempt_at'),
    /** Times an operator retried the order after it failed; each retry is a new runner job. */
    operatorRetries: integer('operator_retries').notNull().default(0),
    error: text('error'),
    createdAt: integer('created_at').notNull().default(now),
    updatedAt: integer('updated_at').notNull().default(now),
    queuedAt: integer('queued_at'),
    deliveredAt: integer('delivered_at'),
    /** When the order's audio was deleted from the store (ms): after delivery, or when an expired order is no longer kept for a late payment; null while it is kept. */
    audioDeletedAt: integer('audio_deleted_at'),
    /** When retention deleted the order's audio and results from the blob store. */
    purgedAt: integer('purged_at'),
  },
  (t) => [
    index('orders_state').on(t.state),
    index('orders_user').on(t.userId),
    index('orders_checkout').on(t.checkoutId),
    index('orders_audio_kept')
      .on(t.deliveredAt)
      .where(sql`${t.state} = 'delivered' and ${t.audioDeletedAt} is null`),
  ],
);

export type FileState = 'stored' | 'rejected' | 'done' | 'failed';

export const files = sqliteTable(
  'files',
  {
    id: text('id').primaryKey(),
    orderId: text('order_id')
      .notNull()
      .references(() => orders.id),
    position: integer('position').notNull(),
    /** The user's file name, cleaned for display; never a path. */
    name: text('name').notNull(),
    blobKey: text('blob_key').notNull(),
    bytes: integer('bytes').notNull().default(0),
    duration: real('duration'),
    state: text('state').$type<FileState>().notNull(),
    error: text('error'),
  },
  (t) => [index('files_order').on(t.orderId)],
);

/** Every platform message seen, so a redelivered one is a no-op. */
export const inboundMessages = sqliteTable(
  'inbound_messages',
  {
    channel: text('channel').notNull(),
    messageId: text('message_id').notNull(),
    /** Written with the message's outcome (its order, or the answer to a command), never before. */
    orderId: text('order_id'),
    receivedAt: integer('received_at').notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.channel, t.messageId] })],
);

/**
 * Every payment notice handled (its provider event id, Stripe's `evt_...`), written in the transaction
 * of its effect, so a replayed notice does nothing.
 */
export const paymentNotices = sqliteTable('stripe_events', {
  eventId: text('event_id').primaryKey(),
  type: text('type').notNull(),
  orderId: text('order_id'),
  outcome: text('outcome').notNull(),
  receivedAt: integer('received_at').notNull().default(now),
});

/**
 * Payments a provider reported inside a chat (Telegram Stars' `successful_payment`), one row per charge:
 * who paid, so an operator's refund goes back to them, and whether it was refunded.
 */
export const invoicePayments = sqliteTable(
  'invoice_payments',
  {
    chargeId: text('charge_id').primaryKey(),
    orderId: text('order_id').notNull(),
    payerId: text('payer_id').notNull(),
    /** In the provider's smallest unit (whole Stars). */
    amount: integer('amount').notNull(),
    currency: text('currency').notNull(),
    receivedAt: integer('received_at').notNull().default(now),
    refundedAt: integer('refunded_at'),
  },
  (t) => [index('invoice_payments_order').on(t.orderId)],
);

/**
 * Replies waiting to be sent. Written in the same transaction as the state change they announce,
 * sent by the outbox loop, marked sent after the platform accepted them.
 */
export const outbox = sqliteTable(
  'outbox',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    key: text('key').notNull(),
    orderId: text('order_id'),
    channel: text('channel').notNull(),
    /** Replies in one lane go out in order: the order's id, or `channel:chat` for replies about no order. */
    lane: text('lane').notNull().default(''),
    address: text('address', { mode: 'json' }).$type<ReplyAddress>().notNull(),
    /** The reply without files; `transcript` replies get their files rendered from the results at send time. */
    payload: text('payload', { mode: 'json' }).$type<OutboxPayload>().notNull(),
    state: text('state').$type<'pending' | 'sent' | 'dead'>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at').notNull().default(now),
    lastError: text('last_error'),
    createdAt: integer('created_at').notNull().default(now),
    sentAt: integer('sent_at'),
  },
  (t) => [
    uniqueIndex('outbox_key').on(t.key),
    index('outbox_pending').on(t.state, t.nextAttemptAt),
    index('outbox_lane').on(t.lane, t.state),
  ],
);

export interface OutboxPayload {
  kind: 'notice' | 'quote' | 'status' | 'transcript' | 'command';
  text: string;
  action?: { label: string; url: string };
  balanceSeconds?: number;
  transient?: boolean;
  working?: boolean;
}
