import { and, eq, inArray, isNotNull, isNull, or, sql } from 'drizzle-orm';
import type { Db } from '../db';
import { files, orders } from '../db/schema';
import { transaction } from '../db/tx';
import type { Ledger } from '../ledger';
import { money, text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { ChannelName, ReplyAddress } from '../ports/channel';
import type { Checkout } from '../ports/payments';
import { billableSeconds } from '../pricing';
import { owedSeconds, payDebt } from './debts';
import { failureRefundKey, fileRefundKey, holdKey, purchaseKey, releaseKey, spendKey } from './ledger-keys';
import { moveOrder } from './states';
import { fileLines, orderFiles, type FileRow } from './summary';

/**
 * Every change of an order's state, one command each. A command moves the order with `moveOrder`
 * (allowed by the table in `states.ts`, conditional on the state it leaves) and writes the ledger
 * entries and replies that belong to the change in the same transaction, so either all of it
 * happens or none. A command returns false, writing nothing, when the order had already left the
 * state (a racing webhook, a loop after a restart). Callers wake the loops after it returns.
 */

export type Order = typeof orders.$inferSelect;

/** What the commands that move seconds need. */
export interface CommandContext {
  db: Db;
  ledger: Ledger;
}

export interface NewOrder {
  id: string;
  userId: string;
  channel: ChannelName;
  replyTo: ReplyAddress;
  language: string | null;
  /** The user's choices when the order came in: translate into English, and the files of the reply. */
  translate?: boolean;
  formats?: string | null;
}

/** One file of a new order, as intake stored and measured it (`storeAttachment`) and the order records it. */
export interface NewFile {
  position: number;
  name: string;
  key: string;
  bytes: number;
  duration: number | null;
  /** Why it was refused, as the sentence shown to the user; undefined when accepted. */
  refusal?: string;
}

/** Records a new order, `received`, with its files. The id comes from the message, so recording it again is a no-op. */
export function receiveOrder(db: Db, order: NewOrder, received: NewFile[]): void {
  transaction(db, () => {
    db.insert(orders)
      .values({ ...order, state: 'received' })
      .onConflictDoNothing()
      .run();
    for (const file of received) {
      db.insert(files)
        .values({
          id: `${order.id}-${file.position}`,
          orderId: order.id,
          position: file.position,
          name: file.name,
          blobKey: file.key,
          bytes: file.bytes,
          duration: file.duration,
          state: file.refusal ? 'rejected' : 'stored',
          error: file.refusal ?? null,
        })
        .onConflictDoNothing()
        .run();
    }
  });
}

/** The quote reply: the order's file lines (`lines`), then what happens. */
function quoteReply(
  db: Db,
  order: Order,
  lines: string[],
  body: string,
  balanceSeconds: number,
  action?: { label: string; url: string },
  working?: boolean,
): void {
  enqueueReply(db, order.replyTo, {
    key: `quote:${order.id}`,
    orderId: order.id,
    kind: 'quote',
    text: `${lines.join('\n')}\n\n${body}`,
    action,
    balanceSeconds,
    ...(working ? { working } : {}),
  });
}

/** received -> rejected: no file could be used. Nothing is charged. */
export function rejectEmptyOrder({ db, ledger }: CommandContext, order: Order, lines: string[]): boolean {
  return transaction(db, () => {
    if (!moveOrder(db, order.id, 'received', 'rejected', { error: 'no usable files' })) return false;
    quoteReply(db, order, lines, text.nothingToDo, ledger.balance(order.userId));
    return true;
  });
}

/** received -> rejected: the balance is `missing` seconds short and payments are not configured. Nothing is charged. */
export function rejectUnpayableOrder(
  { db, ledger }: CommandContext,
  order: Order,
  lines: string[],
  quote: { seconds: number; missing: number },
): boolean {
  return transaction(db, () => {
    const values = { seconds: quote.seconds, missingSeconds: quote.missing, error: 'payments not configured' };
    if (!moveOrder(db, order.id, 'received', 'rejected', values)) return false;
    quoteReply(db, order, lines, text.paymentsOff(quote.missing), ledger.balance(order.userId));
    return true;
  });
}

/** received -> queued: the balance covers the order's `seconds`; they are spent at once. */
export function queueOrder({ db, ledger }: CommandContext, order: Order, lines: string[], seconds: number): boolean {
  return transaction(db, () => {
    if (!moveOrder(db, order.id, 'received', 'queued', { seconds, heldSeconds: 0, queuedAt: Date.now() })) return false;
    ledger.append({ userId: order.userId, kind: 'spend', seconds: -seconds, key: spendKey(order.id), orderId: order.id });
    const balance = ledger.balance(order.userId);
    quoteReply(db, order, lines, text.transcribing(balance), balance, undefined, true);
    return true;
  });
}

/**
 * received -> awaiting_payment: the balance is short. What exists of it (`held`) is spent now, so
 * two orders cannot both count on the same seconds; the quote reply waits for the checkout link
 * (`recordCheckout`).
 */
export function awaitPayment(
  { db, ledger }: CommandContext,
  order: Order,
  quote: { seconds: number; held: number; missing: number; amountCents: number; currency: string },
): boolean {
  return transaction(db, () => {
    const values = {
      seconds: quote.seconds,
      heldSeconds: quote.held,
      missingSeconds: quote.missing,
      amountCents: quote.amountCents,
      currency: quote.currency,
    };
    if (!moveOrder(db, order.id, 'received', 'awaiting_payment', values)) return false;
    if (quote.held > 0)
      ledger.append({ userId: order.userId, kind: 'spend', seconds: -quote.held, key: holdKey(order.id), orderId: order.id });
    return true;
  });
}

/**
 * Not a state change: records the checkout of an order awaiting payment, once, with the quote
 * reply that carries its link. False when the order has a checkout already or is no longer awaiting payment.
 */
export function recordCheckout({ db, ledger }: CommandContext, order: Order, checkout: Checkout): boolean {
  return transaction(db, () => {
    const changed = db
      .update(orders)
      .set({ checkoutId: checkout.id, checkoutUrl: checkout.url, checkoutExpiresAt: checkout.expiresAt.getTime(), updatedAt: Date.now() })
      .where(and(eq(orders.id, order.id), eq(orders.state, 'awaiting_payment'), isNull(orders.checkoutId)))
      .run();
    if (changed.changes !== 1) return false;
    const price = money(order.amountCents!, order.currency!);
    const lines = fileLines(orderFiles(db, order.id));
    // A checkout without a link is an invoice sent into the chat already (Telegram Stars): the quote points at it.
    if (!checkout.url) {
      quoteReply(db, order, lines, text.needsInvoicePayment(order.missingSeconds, price), ledger.balance(order.userId));
      return true;
    }
    // The price includes a debt from a refunded or disputed payment (see `Quoting.quote`): say so.
    const owed = owedSeconds(db, order.userId);
    const body = text.needsPayment(order.missingSeconds, price) + (owed > 0 ? ` ${text.owed(owed)}` : '');
    quoteReply(db, order, lines, body, ledger.balance(order.userId), {
      label: text.payButton(price),
      url: checkout.url,
    });
    return true;
  });
}

/** Money that arrived for an order: what was paid, on which checkout, and the seconds it buys. */
export interface Payment {
  checkoutId: string;
  amountCents: number;
  currency: string;
  boughtSeconds: number;
}

export { purchaseKey };

/** Whether this checkout's payment was credited already. */
export function isCredited(ledger: Ledger, orderId: string, checkoutId: string): boolean {
  return ledger.has(purchaseKey(orderId, checkoutId));
}

function creditPurchase({ db, ledger }: CommandContext, order: Order, payment: Payment): void {
  const key = purchaseKey(order.id, payment.checkoutId);
  ledger.append({
    userId: order.userId,
    kind: 'purchase',
    seconds: payment.boughtSeconds,
    key,
    orderId: order.id,
    amountCents: payment.amountCents,
    currency: payment.currency,
  });
  // A debt from a refunded or disputed payment is paid first (the caller counted it: `usableSeconds`).
  payDebt({ db, ledger }, order.userId, key, payment.boughtSeconds);
}

/**
 * awaiting_payment -> queued: the payment arrived and covers the seconds the balance was short of.
 * The `boughtSeconds` are credited, the missing seconds spent, and the user told.
 */
export function markPaid({ db, ledger }: CommandContext, order: Order, payment: Payment): boolean {
  return transaction(db, () => {
    if (!moveOrder(db, order.id, 'awaiting_payment', 'queued', { queuedAt: Date.now() })) return false;
    spendPayment({ db, ledger }, order, payment, order.missingSeconds);
    return true;
  });
}

/**
 * expired -> queued: a payment arrived after the order expired, while its audio is still kept, and the
 * balance with it covers the whole order (the held seconds went back at expiry). Credits the payment,
 * spends the order's seconds and tells the user.
 */
export function markPaidLate({ db, ledger }: CommandContext, order: Order, payment: Payment): boolean {
  return transaction(db, () => {
    if (order.audioDeletedAt !== null) return false;
    if (!moveOrder(db, order.id, 'expired', 'queued', { queuedAt: Date.now(), error: null })) return false;
    spendPayment({ db, ledger }, order, payment, order.seconds);
    return true;
  });
}

/** Credits the payment, spends `seconds` for the order and tells the user it is paid: the shared half of a payment that queues an order. */
function spendPayment({ db, ledger }: CommandContext, order: Order, payment: Payment, seconds: number): void {
  creditPurchase({ db, ledger }, order, payment);
  ledger.append({ userId: order.userId, kind: 'spend', seconds: -seconds, key: spendKey(order.id), orderId: order.id });
  const balance = ledger.balance(order.userId);
  enqueueReply(db, order.replyTo, {
    key: `paid:${order.id}`,
    orderId: order.id,
    kind: 'status',
    text: text.paid(balance),
    balanceSeconds: balance,
    working: true,
  });
}

/**
 * awaiting_payment -> expired: the payment arrived but is less than the seconds the balance was short
 * of. What was paid and what was held become balance; the order is closed (its checkout is used up)
 * and the user told how much they now have.
 */
export function closeUnderpaid({ db, ledger }: CommandContext, order: Order, payment: Payment): boolean {
  return transaction(db, () => {
    if (!moveOrder(db, order.id, 'awaiting_payment', 'expired', { error: 'paid less than the quote' })) return false;
    creditPurchase({ db, ledger }, order, payment);
    releaseHold(ledger, order);
    noticeWithBalance({ db, ledger }, order, `underpaid:${order.id}`, (balance) =>
      text.underpaid(money(payment.amountCents, payment.currency), payment.boughtSeconds, order.missingSeconds, balance),
    );
    return true;
  });
}

/**
 * awaiting_payment -> expired: money arrived in a currency the service has no price in, so it buys nothing
 * until the operator settles it by hand. The order is closed (its checkout is used up), the held seconds
 * go back and the user is told both. `paid` is the amount as the user reads it.
 */
export function closeUnpriced({ db, ledger }: CommandContext, order: Order, checkoutId: string, paid: string): boolean {
  return transaction(db, () => {
    if (!moveOrder(db, order.id, 'awaiting_payment', 'expired', { error: 'paid in a currency with no price' })) return false;
    releaseHold(ledger, order);
    noticeWithBalance({ db, ledger }, order, `payheld:${checkoutId}`, () => text.paymentHeldClosed(paid, order.heldSeconds));
    return true;
  });
}

/**
 * Not a state change: a payment arrived for an order that can no longer use it (its audio was deleted,
 * it was paid another way, the balance with it still falls short). It becomes balance and the user is told.
 * False when this checkout's payment was credited already.
 */
export function creditPayment({ db, ledger }: CommandContext, order: Order, payment: Payment): boolean {
  return transaction(db, () => {
    if (isCredited(ledger, order.id, payment.checkoutId)) return false;
    creditPurchase({ db, ledger }, order, payment);
    noticeWithBalance({ db, ledger }, order, `credited:${payment.checkoutId}`, (balance) =>
      text.credited(money(payment.amountCents, payment.currency), payment.boughtSeconds, balance),
    );
    return true;
  });
}

/**
 * Queues a notice to the order's user, keyed so that queueing it twice sends it once, with the balance after the
 * ledger entries the command has just written (the sentence may name it too).
 */
function noticeWithBalance({ db, ledger }: CommandContext, order: Order, key: string, sentence: (balance: number) => string): void {
  const balance = ledger.balance(order.userId);
  enqueueReply(db, order.replyTo, { key, orderId: order.id, kind: 'notice', text: sentence(balance), balanceSeconds: balance });
}

/** Gives back the seconds held against an order that closes unpaid. */
function releaseHold(ledger: Ledger, order: Order): void {
  if (order.heldSeconds > 0) {
    ledger.append({ userId: order.userId, kind: 'refund', seconds: order.heldSeconds, key: releaseKey(order.id), orderId: order.id });
  }
}

/**
 * awaiting_payment -> expired: the checkout expired unpaid. The held seconds go back; the audio is kept
 * for `keepHours` in case a payment still arrives, then deleted (`markAudioDeleted`).
 */
export function expireOrder({ db, ledger }: CommandContext, order: Order, keepHours = 0): boolean {
  return transaction(db, () => {
    if (!moveOrder(db, order.id, 'awaiting_payment', 'expired', { error: 'checkout expired' })) return false;
    releaseHold(ledger, order);
    noticeWithBalance({ db, ledger }, order, `expired:${order.id}`, () => text.expired(keepHours));
    return true;
  });
}

/** awaiting_payment -> expired: the delayed payment failed and the checkout cannot be paid again. The held seconds go back. */
export function failPayment({ db, ledger }: CommandContext, order: Order): boolean {
  return transaction(db, () => {
    if (!moveOrder(db, order.id, 'awaiting_payment', 'expired', { error: 'payment failed' })) return false;
    releaseHold(ledger, order);
    noticeWithBalance({ db, ledger }, order, `payfail:${order.id}`, () => text.paymentFailed(order.heldSeconds));
    return true;
  });
}

/** Not a state change: the payer finished but the money is on its way. Tells the user once per checkout. */
export function notePaymentPending(db: Db, order: Order, checkoutId: string): void {
  enqueueReply(db, order.replyTo, { key: `paypending:${checkoutId}`, orderId: order.id, kind: 'notice', text: text.paymentPending() });
}

/**
 * Not a state change: an expired order's audio is about to be deleted, so a payment arriving later
 * only credits the balance. Written before the deletion; false when the order left `expired` (a late
 * payment queued it) or the mark was made already.
 */
export function markAudioDeleted(db: Db, orderId: string): boolean {
  const result = db
    .update(orders)
    .set({ audioDeletedAt: Date.now() })
    .where(and(eq(orders.id, orderId), eq(orders.state, 'expired'), isNull(orders.audioDeletedAt)))
    .run();
  return result.changes === 1;
}

/** Not a state change: the deletion marked by `markAudioDeleted` failed, so the audio is still there to delete later. */
export function markAudioKept(db: Db, orderId: string): void {
  db.update(orders)
    .set({ audioDeletedAt: null })
    .where(and(eq(orders.id, orderId), eq(orders.state, 'expired')))
    .run();
}

/**
 * queued -> running, for each order the runner accepted, in one transaction: records the runner's
 * job id and counts the attempt. Nothing is said: the reply that queued the order already told the
 * user it is being transcribed (and started "typing…"), and on a rate-limited chat one more edit
 * would hold the transcript back by a second.
 */
export function startJobs(db: Db, jobs: { order: Order; runnerJobId: string }[]): number {
  return transaction(db, () => {
    let started = 0;
    for (const { order, runnerJobId } of jobs) {
      if (moveOrder(db, order.id, 'queued', 'running', { runnerJobId, attempts: sql`${orders.attempts} + 1` })) started += 1;
    }
    return started;
  });
}

/** running -> queued: the runner lost the job or it failed and may be tried again. Keeps its place in the queue. */
export function requeueOrder(db: Db, order: Order, options: { lostInRestart?: boolean } = {}): boolean {
  // A job lost to the service's own restart gives its start back: a crash loop must not use up every order's tries.
  const attempts = options.lostInRestart ? { attempts: sql`max(${orders.attempts} - 1, 0)` } : {};
  return moveOrder(db, order.id, 'running', 'queued', { runnerJobId: null, ...attempts });
}

/**
 * running -> delivered, or -> failed when no file has a result. Files without a result are marked
 * failed and their seconds refunded (unless the whole order was refunded when an earlier try failed:
 * an operator's retry); the transcript reply (built from the results at send time)
 * is queued with the closing status and, if some files failed, a notice naming them.
 * `failed` are the files of `inputs` whose result is missing or a failure.
 */
export function completeOrder(
  context: CommandContext,
  order: Order,
  inputs: FileRow[],
  failed: FileRow[],
): 'delivered' | 'failed' | undefined {
  if (failed.length === inputs.length) return failOrder(context, order) ? 'failed' : undefined;
  const { db, ledger } = context;
  const applied = transaction(db, () => {
    if (!moveOrder(db, order.id, 'running', 'delivered', { deliveredAt: Date.now() })) return false;
    // An operator's retry of a failed order runs on seconds given back already: nothing of it is refunded twice.
    const refundedAlready = ledger.has(failureRefundKey(order.id));
    for (const file of inputs) {
      const lost = failed.includes(file);
      db.update(files)
        .set({ state: lost ? 'failed' : 'done' })
        .where(eq(files.id, file.id))
        .run();
      if (lost && !refundedAlready) {
        ledger.append({
          userId: order.userId,
          kind: 'refund',
          seconds: billableSeconds(file.duration ?? 0),
          key: fileRefundKey(order.id, file.id),
          orderId: order.id,
        });
      }
    }
    const balance = ledger.balance(order.userId);
    const lines = fileLines(orderFiles(db, order.id)).join('\n');
    // The transcript first: on a rate-limited chat each send waits its turn, and the closing edit of the status can wait.
    enqueueReply(db, order.replyTo, {
      key: `transcript:${order.id}`,
      orderId: order.id,
      kind: 'transcript',
      text: text.delivered(),
      balanceSeconds: balance,
    });
    enqueueReply(db, order.replyTo, {
      key: `done:${order.id}`,
      orderId: order.id,
      kind: 'status',
      transient: true,
      text: `${lines}\n\n${text.finished()}`,
    });
    if (failed.length > 0) {
      const names = failed.map((f) => f.name);
      const refunded = failed.reduce((sum, f) => sum + billableSeconds(f.duration ?? 0), 0);
      enqueueReply(db, order.replyTo, {
        key: `partial:${order.id}`,
        orderId: order.id,
        kind: 'notice',
        text: refundedAlready ? text.partlyFailedOnRetry(names) : text.partlyFailed(names, refunded),
        balanceSeconds: balance,
      });
    }
    return true;
  });
  return applied ? 'delivered' : undefined;
}

/** running -> failed: the job failed for good. All the order's seconds are refunded and the user told. */
export function failOrder(context: CommandContext, order: Order): boolean {
  return refundAndFail(context, order, 'running', 'transcription failed', text.failed(order.seconds));
}

/** queued -> failed: the runner refused to take the job every time it was offered. All the order's seconds are refunded and the user told. */
export function failUnstarted(context: CommandContext, order: Order): boolean {
  return refundAndFail(context, order, 'queued', 'runner refused the job', text.notStarted(order.seconds));
}

function refundAndFail({ db, ledger }: CommandContext, order: Order, from: 'queued' | 'running', error: string, sentence: string): boolean {
  return transaction(db, () => {
    if (!moveOrder(db, order.id, from, 'failed', { error })) return false;
    ledger.append({ userId: order.userId, kind: 'refund', seconds: order.seconds, key: failureRefundKey(order.id), orderId: order.id });
    noticeWithBalance({ db, ledger }, order, `failed:${order.id}`, () => sentence);
    return true;
  });
}

/**
 * failed -> queued: an operator retries a failed order (its audio still stored); counting the retry gives
 * it a new runner job (see the dispatcher). The seconds refunded
 * when it failed stay with the user, so this run costs them nothing; should it fail again, the refund
 * and the failure notice, keyed by the order, are not repeated, and files it delivers without are not
 * refunded again either (`completeOrder`).
 */
export function retryFailedOrder(db: Db, order: Order): boolean {
  return moveOrder(db, order.id, 'failed', 'queued', {
    runnerJobId: null,
    error: null,
    queuedAt: Date.now(),
    operatorRetries: sql`${orders.operatorRetries} + 1`,
  });
}

/** Not a state change: records that retention deleted a finished order's blobs. */
export function markPurged(db: Db, orderId: string): boolean {
  const changed = db
    .update(orders)
    .set({ purgedAt: Date.now() })
    .where(
      and(
        eq(orders.id, orderId),
        isNull(orders.purgedAt),
        or(inArray(orders.state, ['delivered', 'failed', 'rejected']), and(eq(orders.state, 'expired'), isNotNull(orders.audioDeletedAt))),
      ),
    )
    .run();
  return changed.changes === 1;
}

/**
 * Not a state change: a step of an order in `state` failed for a reason that may pass (the runner's
 * API or the store unreachable). Counts the retry and leaves the order alone for `delayMs`; the
 * order keeps its state, its seconds and its place. False when the order already left `state`.
 */
export function deferOrder(db: Db, order: Pick<Order, 'id'>, state: 'queued' | 'running', delayMs: number): boolean {
  const changed = db
    .update(orders)
    .set({ retries: sql`${orders.retries} + 1`, nextAttemptAt: Date.now() + delayMs, updatedAt: Date.now() })
    .where(and(eq(orders.id, order.id), eq(orders.state, state)))
    .run();
  return changed.changes === 1;
}

/**
 * Not a state change: the order in `state` is looked at again after `delayMs`, its tries untouched (the runner was
 * down: that says nothing about this order).
 */
export function postponeOrder(db: Db, order: Pick<Order, 'id'>, state: 'queued' | 'running', delayMs: number): boolean {
  const changed = db
    .update(orders)
    .set({ nextAttemptAt: Date.now() + delayMs, updatedAt: Date.now() })
    .where(and(eq(orders.id, order.id), eq(orders.state, state)))
    .run();
  return changed.changes === 1;
}

/** Not a state change: the step that was failing went through; an order in `state` is no longer waiting out a back-off. */
export function clearRetries(db: Db, orderId: string, state: 'queued' | 'running'): void {
  db.update(orders)
    .set({ retries: 0, nextAttemptAt: null })
    .where(and(eq(orders.id, orderId), eq(orders.state, state)))
    .run();
}

/** Not a state change: records that a delivered order's audio is gone from the store (its results stay), after the delete. */
export function markDeliveredAudioDeleted(db: Db, orderId: string): void {
  db.update(orders)
    .set({ audioDeletedAt: Date.now() })
    .where(and(eq(orders.id, orderId), eq(orders.state, 'delivered'), isNull(orders.audioDeletedAt)))
    .run();
}
