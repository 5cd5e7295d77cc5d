import { Writable } from 'node:stream';
import { eq } from 'drizzle-orm';
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { ledger as ledgerTable } from '../../src/db/schema';
import { MoneyDesk } from '../support/money-desk';

/**
 * Money paths that cross: a payment after the order expired, an operator's retry of a failed order, a
 * refund of a refunded order. Each plays the events through the service's own commands and checks what
 * the user would see: the balance and the sentence they were told.
 */

let desk: MoneyDesk;
beforeEach(() => {
  desk = new MoneyDesk();
});

const entries = (orderId: string) =>
  desk.db
    .select({ kind: ledgerTable.kind, key: ledgerTable.key, seconds: ledgerTable.seconds })
    .from(ledgerTable)
    .where(eq(ledgerTable.orderId, orderId))
    .all();

describe('a late payment, then a failure', () => {
  it('gives back the whole order, as the failure notice says, besides the held seconds returned at expiry', async () => {
    const user = desk.user(30);
    const order = desk.send(user, [100]);
    expect(order).toMatchObject({ state: 'awaiting_payment', heldSeconds: 30, missingSeconds: 70 });
    expect(desk.balance(user)).toBe(0);
    await desk.expire(order.id);
    expect(desk.balance(user)).toBe(30);

    // 50 cents, the quote, buy 300 s: with the 30 s back on the balance they cover the order, which is queued.
    expect(await desk.pay(order.id, `cs_${order.id}`, 50)).toBe('applied');
    expect(desk.order(order.id).state).toBe('queued');
    expect(desk.balance(user)).toBe(230);
    expect(desk.start(order.id)).toBe(true);
    expect(desk.finish(order.id, [0])).toBe('failed');

    expect(desk.replies(order.id).at(-1)).toBe('Sorry, the transcription failed. I gave back the 1 min 40 s it cost.');
    expect(desk.balance(user)).toBe(330);
    // Each kind of entry has its own key: the hold's return and the failure's refund both stand.
    expect(entries(order.id).filter((e) => e.kind === 'refund')).toEqual([
      { kind: 'refund', key: `release:${order.id}`, seconds: 30 },
      { kind: 'refund', key: `refund:${order.id}`, seconds: 100 },
    ]);
  });
});

describe("an operator's retry of a failed order", () => {
  it('refunds nothing more when a file fails on the retry: the whole order was given back when it failed', async () => {
    const user = desk.user(100);
    const order = desk.send(user, [50, 50]);
    expect(order.state).toBe('queued');
    desk.start(order.id);
    expect(desk.finish(order.id, [0, 1])).toBe('failed');
    expect(desk.balance(user)).toBe(100);

    expect(await desk.retry(order.id)).toMatchObject({ requeued: true });
    desk.start(order.id);
    expect(desk.finish(order.id, [1])).toBe('delivered');

    expect(desk.balance(user)).toBe(100);
    expect(desk.replies(order.id).at(-1)).toBe('I could not transcribe f1.ogg; its seconds were given back when the first try failed.');
  });
});

describe('a payment in a currency with no price', () => {
  it('closes the order awaiting it and gives its held seconds back, telling the user and the operator', async () => {
    const lines: { level: number; msg: string; orderId?: string; outcome?: string }[] = [];
    const logTo = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString('utf8')) as (typeof lines)[number]);
        done();
      },
    });
    desk = new MoneyDesk(':memory:', pino(logTo));
    const user = desk.user(30);
    const order = desk.send(user, [100]);
    expect(desk.balance(user)).toBe(0);

    expect(await desk.pay(order.id, `cs_${order.id}`, 50, 'eur')).toBe('held');
    expect(desk.order(order.id)).toMatchObject({ state: 'expired', error: 'paid in a currency with no price' });
    expect(desk.balance(user)).toBe(30);
    expect(entries(order.id).filter((e) => e.kind === 'purchase')).toEqual([]);
    expect(desk.replies(order.id).at(-1)).toBe(
      'I received a payment of 0.50 EUR that I cannot match to a price, so I did not transcribe this recording and gave back the 30 s held for it. The operator has been told and will sort out the payment.',
    );
    const alert = lines.find((l) => l.orderId === order.id && l.outcome === 'unpriced_held');
    expect(alert).toMatchObject({ level: 50 });
    expect(alert!.msg).toMatch(/no configured price.*held seconds returned.*settle it by hand/);
  });
});

describe("the operator's refund of an order that failed", () => {
  it('takes back only what the failure gave back, once, and then refuses to retry the order for free', async () => {
    const user = desk.user(0);
    const order = desk.send(user, [100]);
    await desk.pay(order.id, `cs_${order.id}`, 50);
    expect(desk.balance(user)).toBe(200);
    desk.start(order.id);
    desk.finish(order.id, [0]);
    expect(desk.balance(user)).toBe(300);

    expect(await desk.refund(order.id)).toMatchObject({ applied: true, balanceSeconds: 0 });
    expect(await desk.refund(order.id)).toMatchObject({ applied: false, balanceSeconds: 0 });
    expect(desk.refunds.made.size).toBe(1);
    expect(desk.replies(order.id).at(-1)).toBe(
      'Your payment of $0.50 was refunded. I took the 5 min it bought off your balance. You now have 0 s.',
    );

    await expect(desk.retry(order.id)).rejects.toThrow(
      `order ${order.id}: its payment was refunded or disputed, so a retry would transcribe it for free; nothing done`,
    );
    expect(desk.order(order.id).state).toBe('failed');
    expect(desk.balance(user)).toBe(0);
  });

  it('is refused while the order is queued or running, before the provider is asked', async () => {
    const user = desk.user(0);
    const order = desk.send(user, [100]);
    await desk.pay(order.id, `cs_${order.id}`, 50);
    await expect(desk.refund(order.id)).rejects.toThrow(`order ${order.id} is queued; refund it once it is delivered or failed`);
    desk.start(order.id);
    await expect(desk.refund(order.id)).rejects.toThrow(`order ${order.id} is running; refund it once it is delivered or failed`);
    expect(desk.refunds.made.size).toBe(0);
    expect(desk.balance(user)).toBe(200);
  });
});
