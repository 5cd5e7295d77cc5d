import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { eq } from 'drizzle-orm';
import { beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db';
import { ledger as ledgerTable, orders, outbox } from '../../src/db/schema';
import { transaction } from '../../src/db/tx';
import { InsufficientBalanceError, Ledger } from '../../src/ledger';
import {
  clearRetries,
  closeUnderpaid,
  completeOrder,
  creditPayment,
  deferOrder,
  expireOrder,
  failOrder,
  failPayment,
  failUnstarted,
  markAudioDeleted,
  markDeliveredAudioDeleted,
  markPaid,
  markPaidLate,
  queueOrder,
  receiveOrder,
  requeueOrder,
  retryFailedOrder,
  startJobs,
} from '../../src/orders/lifecycle';
import { canMove, moveOrder, orderStates, RefusedTransitionError, transitions, type OrderState } from '../../src/orders/states';
import { orderFiles } from '../../src/orders/summary';
import { findOrCreateUser } from '../../src/users';

let db: Db;
let ledger: Ledger;
let userId: string;
let next = 0;

beforeEach(() => {
  db = openDatabase(':memory:');
  ledger = new Ledger(db);
  userId = transaction(db, () => findOrCreateUser(db, ledger, 'test', 'ada', 100)).id;
});

/** A new order with one 30 s file, put straight into `state`. */
function orderIn(state: OrderState, values: Partial<typeof orders.$inferInsert> = {}) {
  const id = `o${++next}`;
  receiveOrder(db, { id, userId, channel: 'test', replyTo: { channel: 'test', chatId: 'c1', messageId: 'm1' }, language: null }, [
    { position: 0, name: 'memo.ogg', key: `orders/${id}/0`, bytes: 10, duration: 30 },
  ]);
  db.update(orders)
    .set({ state, ...values })
    .where(eq(orders.id, id))
    .run();
  return db.select().from(orders).where(eq(orders.id, id)).get()!;
}

const stateOf = (id: string) => db.select({ state: orders.state }).from(orders).where(eq(orders.id, id)).get()!.state;
const replies = (orderId: string) => db.select().from(outbox).where(eq(outbox.orderId, orderId)).all();

describe('the transition table', () => {
  const pairs = orderStates.flatMap((from) => orderStates.map((to) => [from, to] as const));
  const allowed = pairs.filter(([from, to]) => canMove(from, to));
  const refused = pairs.filter(([from, to]) => !canMove(from, to));

  it("allows exactly the order life the service runs, and nothing leaves a final state but a late payment or an operator's retry", () => {
    expect(allowed.map(([from, to]) => `${from} -> ${to}`).sort()).toEqual(
      [
        'received -> queued',
        'received -> awaiting_payment',
        'received -> rejected',
        'awaiting_payment -> queued',
        'awaiting_payment -> expired',
        'expired -> queued',
        'queued -> running',
        'queued -> failed',
        'running -> delivered',
        'running -> failed',
        'running -> queued',
        'failed -> queued',
      ].sort(),
    );
    // Only a late payment leaves `expired`, and only an operator's retry leaves `failed`.
    for (const final of ['delivered', 'rejected'] as const) expect(transitions[final]).toEqual([]);
    expect(transitions.expired).toEqual(['queued']);
    expect(transitions.failed).toEqual(['queued']);
    expect(Object.keys(transitions).sort()).toEqual([...orderStates].sort());
  });

  it.each(allowed)('moves %s -> %s', (from, to) => {
    const order = orderIn(from);
    expect(moveOrder(db, order.id, from, to)).toBe(true);
    expect(stateOf(order.id)).toBe(to);
  });

  it.each(refused)('refuses %s -> %s and leaves the order as it was', (from, to) => {
    const order = orderIn(from);
    expect(() => moveOrder(db, order.id, from, to)).toThrow(RefusedTransitionError);
    expect(stateOf(order.id)).toBe(from);
  });

  it.each(allowed)('does not move %s -> %s an order that already left %s', (from, to) => {
    const elsewhere = orderStates.find((s) => s !== from)!;
    const order = orderIn(elsewhere);
    expect(moveOrder(db, order.id, from, to)).toBe(false);
    expect(stateOf(order.id)).toBe(elsewhere);
  });
});

describe('order commands', () => {
  it('queues from the balance with its spend and reply, once', () => {
    const order = orderIn('received');
    expect(queueOrder({ db, ledger }, order, ['• memo.ogg'], 30)).toBe(true);
    expect(queueOrder({ db, ledger }, order, ['• memo.ogg'], 30)).toBe(false);
    expect(stateOf(order.id)).toBe('queued');
    expect(ledger.balance(userId)).toBe(70);
    expect(replies(order.id).map((r) => r.key)).toEqual([`quote:${order.id}`]);
    expect(replies(order.id)[0].payload.text).toContain('1 min 10 s left');
  });

  it('writes nothing when its ledger entry cannot be written: state, seconds and reply roll back together', () => {
    const order = orderIn('received');
    expect(() => queueOrder({ db, ledger }, order, [], 500)).toThrow(InsufficientBalanceError);
    expect(stateOf(order.id)).toBe('received');
    expect(ledger.balance(userId)).toBe(100);
    expect(replies(order.id)).toEqual([]);
  });

  it('pays an order once; a late expiry then does nothing', () => {
    const order = orderIn('awaiting_payment', { seconds: 130, heldSeconds: 100, missingSeconds: 30, amountCents: 50, currency: 'usd' });
    ledger.append({ userId, kind: 'spend', seconds: -100, key: `hold:${order.id}`, orderId: order.id });
    const payment = { checkoutId: 'cs_1', amountCents: 50, currency: 'usd', boughtSeconds: 300 };
    expect(markPaid({ db, ledger }, order, payment)).toBe(true);
    expect(markPaid({ db, ledger }, order, payment)).toBe(false);
    expect(expireOrder({ db, ledger }, order)).toBe(false);
    expect(stateOf(order.id)).toBe('queued');
    expect(ledger.balance(userId)).toBe(270);
    const purchases = db.select().from(ledgerTable).where(eq(ledgerTable.kind, 'purchase')).all();
    expect(purchases).toHaveLength(1);
    expect(replies(order.id).map((r) => r.key)).toEqual([`paid:${order.id}`]);
  });

  it('expires an unpaid order and gives the held seconds back', () => {
    const order = orderIn('awaiting_payment', { heldSeconds: 40 });
    ledger.append({ userId, kind: 'spend', seconds: -40, key: `hold:${order.id}`, orderId: order.id });
    expect(expireOrder({ db, ledger }, order)).toBe(true);
    expect(stateOf(order.id)).toBe('expired');
    expect(ledger.balance(userId)).toBe(100);
    expect(replies(order.id)[0].payload.text).toContain('expired');
  });

  it('queues an expired order paid late while its audio is kept, spending all its seconds once', () => {
    const order = orderIn('expired', { seconds: 130, heldSeconds: 100, missingSeconds: 30 });
    const payment = { checkoutId: 'cs_late', amountCents: 50, currency: 'usd', boughtSeconds: 300 };
    expect(markPaidLate({ db, ledger }, order, payment)).toBe(true);
    expect(markPaidLate({ db, ledger }, order, payment)).toBe(false);
    expect(stateOf(order.id)).toBe('queued');
    // 100 on the balance (the hold came back at expiry) + 300 bought - 130 spent.
    expect(ledger.balance(userId)).toBe(270);
    expect(replies(order.id).map((r) => r.key)).toEqual([`paid:${order.id}`]);
  });

  it('does not queue a late payment once the audio is deleted; it only credits, once per checkout', () => {
    const order = orderIn('expired', { seconds: 130 });
    expect(markAudioDeleted(db, order.id)).toBe(true);
    expect(markAudioDeleted(db, order.id)).toBe(false);
    const deleted = db.select().from(orders).where(eq(orders.id, order.id)).get()!;
    const payment = { checkoutId: 'cs_gone', amountCents: 50, currency: 'usd', boughtSeconds: 300 };
    expect(markPaidLate({ db, ledger }, deleted, payment)).toBe(false);
    expect(creditPayment({ db, ledger }, deleted, payment)).toBe(true);
    expect(creditPayment({ db, ledger }, deleted, payment)).toBe(false);
    expect(stateOf(order.id)).toBe('expired');
    expect(ledger.balance(userId)).toBe(400);
    const [reply] = replies(order.id);
    expect(reply.payload.text).toContain('$0.50');
    expect(reply.payload.text).toContain('added 5 min to your balance');
  });

  it('closes an underpaid order: what was paid and what was held become balance', () => {
    const order = orderIn('awaiting_payment', { seconds: 400, heldSeconds: 100, missingSeconds: 300, amountCents: 50, currency: 'usd' });
    ledger.append({ userId, kind: 'spend', seconds: -100, key: `hold:${order.id}`, orderId: order.id });
    const payment = { checkoutId: 'cs_short', amountCents: 20, currency: 'usd', boughtSeconds: 120 };
    expect(closeUnderpaid({ db, ledger }, order, payment)).toBe(true);
    expect(closeUnderpaid({ db, ledger }, order, payment)).toBe(false);
    expect(stateOf(order.id)).toBe('expired');
    expect(ledger.balance(userId)).toBe(220);
    expect(replies(order.id)[0].payload.text).toMatch(/I received \$0\.20, which buys 2 min, but this recording needed 5 min more/);
  });

  it('closes an order whose delayed payment failed, giving the held seconds back', () => {
    const order = orderIn('awaiting_payment', { heldSeconds: 40 });
    ledger.append({ userId, kind: 'spend', seconds: -40, key: `hold:${order.id}`, orderId: order.id });
    expect(failPayment({ db, ledger }, order)).toBe(true);
    expect(failPayment({ db, ledger }, order)).toBe(false);
    expect(stateOf(order.id)).toBe('expired');
    expect(ledger.balance(userId)).toBe(100);
    expect(replies(order.id)[0].payload.text).toContain('did not go through');
    expect(replies(order.id)[0].payload.text).toContain('gave back the 40 s');
  });

  it('starts, requeues and restarts a job, counting attempts', () => {
    const order = orderIn('queued');
    expect(startJobs(db, [{ order, runnerJobId: 'job-1' }])).toBe(1);
    expect(startJobs(db, [{ order, runnerJobId: 'job-1' }])).toBe(0);
    expect(requeueOrder(db, order)).toBe(true);
    expect(requeueOrder(db, order)).toBe(false);
    expect(startJobs(db, [{ order, runnerJobId: 'job-2' }])).toBe(1);
    const row = db.select().from(orders).where(eq(orders.id, order.id)).get()!;
    expect(row).toMatchObject({ state: 'running', runnerJobId: 'job-2', attempts: 2 });
  });

  it('delivers with a refund for the files without a result', () => {
    const order = orderIn('running', { seconds: 60 });
    receiveOrder(db, { id: order.id, userId, channel: 'test', replyTo: order.replyTo, language: null }, [
      { position: 1, name: 'lost.ogg', key: `orders/${order.id}/1`, bytes: 10, duration: 30 },
    ]);
    const inputs = orderFiles(db, order.id);
    expect(completeOrder({ db, ledger }, order, inputs, [inputs[1]])).toBe('delivered');
    expect(completeOrder({ db, ledger }, order, inputs, [inputs[1]])).toBeUndefined();
    expect(stateOf(order.id)).toBe('delivered');
    expect(orderFiles(db, order.id).map((f) => f.state)).toEqual(['done', 'failed']);
    expect(ledger.balance(userId)).toBe(130);
    expect(replies(order.id).map((r) => r.key)).toEqual([`transcript:${order.id}`, `done:${order.id}`, `partial:${order.id}`]);
  });

  it('fails an order none of whose files has a result, refunding all of it once', () => {
    const order = orderIn('running', { seconds: 30 });
    const inputs = orderFiles(db, order.id);
    expect(completeOrder({ db, ledger }, order, inputs, inputs)).toBe('failed');
    expect(failOrder({ db, ledger }, order)).toBe(false);
    expect(stateOf(order.id)).toBe('failed');
    expect(ledger.balance(userId)).toBe(130);
    expect(replies(order.id).map((r) => r.key)).toEqual([`failed:${order.id}`]);
  });
});

describe('an operator retrying a failed order', () => {
  it('queues it again without charging, and a second failure neither refunds nor tells the user again', () => {
    const order = orderIn('running', { seconds: 30 });
    ledger.append({ userId, kind: 'spend', seconds: -30, key: `spend:${order.id}`, orderId: order.id });
    expect(failOrder({ db, ledger }, order)).toBe(true);
    expect(ledger.balance(userId)).toBe(100);
    expect(retryFailedOrder(db, order)).toBe(true);
    expect(retryFailedOrder(db, order)).toBe(false);
    expect(db.select().from(orders).where(eq(orders.id, order.id)).get()).toMatchObject({
      state: 'queued',
      error: null,
      runnerJobId: null,
    });
    expect(ledger.balance(userId)).toBe(100);
    moveOrder(db, order.id, 'queued', 'running');
    expect(failOrder({ db, ledger }, { ...order, state: 'running' })).toBe(true);
    expect(ledger.balance(userId)).toBe(100);
    expect(replies(order.id).map((r) => r.key)).toEqual([`failed:${order.id}`]);
  });
});

describe('retries and clean-up', () => {
  it('defers an order without moving it, and every state change starts its retries afresh', () => {
    const order = orderIn('queued');
    const before = Date.now();
    expect(deferOrder(db, order, 'queued', 5000)).toBe(true);
    expect(deferOrder(db, order, 'queued', 5000)).toBe(true);
    expect(deferOrder(db, order, 'running', 5000)).toBe(false);
    let row = db.select().from(orders).where(eq(orders.id, order.id)).get()!;
    expect(row.state).toBe('queued');
    expect(row.retries).toBe(2);
    expect(row.nextAttemptAt).toBeGreaterThanOrEqual(before + 5000);
    expect(startJobs(db, [{ order, runnerJobId: 'job-1' }])).toBe(1);
    row = db.select().from(orders).where(eq(orders.id, order.id)).get()!;
    expect(row).toMatchObject({ state: 'running', retries: 0, nextAttemptAt: null });
    deferOrder(db, order, 'running', 1000);
    clearRetries(db, order.id, 'running');
    expect(db.select().from(orders).where(eq(orders.id, order.id)).get()).toMatchObject({ retries: 0, nextAttemptAt: null });
  });

  it('fails an order the runner never took, refunding all of it once with its own sentence', () => {
    const order = orderIn('queued', { seconds: 30 });
    expect(failUnstarted({ db, ledger }, order)).toBe(true);
    expect(failUnstarted({ db, ledger }, order)).toBe(false);
    expect(failOrder({ db, ledger }, order)).toBe(false);
    expect(stateOf(order.id)).toBe('failed');
    expect(ledger.balance(userId)).toBe(130);
    const [reply] = replies(order.id);
    expect(reply.key).toBe(`failed:${order.id}`);
    expect(reply.payload.text).toMatch(/could not start transcribing.*gave back the 30 s/);
  });

  it('records the audio of a delivered order as deleted, and of no other', () => {
    const delivered = orderIn('delivered');
    const running = orderIn('running');
    markDeliveredAudioDeleted(db, delivered.id);
    markDeliveredAudioDeleted(db, running.id);
    expect(db.select().from(orders).where(eq(orders.id, delivered.id)).get()!.audioDeletedAt).toBeTypeOf('number');
    expect(db.select().from(orders).where(eq(orders.id, running.id)).get()!.audioDeletedAt).toBeNull();
  });
});

describe('one place for order state changes', () => {
  it('no source file outside the state machine writes an order row', () => {
    const root = join(import.meta.dirname, '../../src');
    const sources = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
      );
    const writers = sources(root)
      .filter((file) => /\.(update|insert)\(\s*orders\s*\)/.test(readFileSync(file, 'utf8')))
      .map((file) => relative(root, file))
      .sort();
    expect(writers).toEqual(['orders/lifecycle.ts', 'orders/states.ts']);
  });
});
