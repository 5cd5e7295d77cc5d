import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ledger, orders } from '../src/db/schema';
import { deliverWebhook, startFakeStripe, stripeEvent, type FakeSession, type FakeStripe } from './support/fake-stripe';
import { ScriptedRunner } from './support/runners';
import { startTestService, type OrderRow, type TestService } from './support/service';
import { TestChannel } from './support/test-channel';

/**
 * Every payment is honoured: money Stripe reports (through its signed webhook, or when the sweep asks
 * it about an order whose notices never came) always becomes a transcript or balance, the user is told,
 * and the operator sees the case in `/metrics` and in an error-level log line with the order id. Every
 * event is delivered twice and must leave exactly one ledger entry.
 *
 * Jobs stay `running` on a scripted runner: these tests are about money and state; the real engine on a
 * paid order is covered by stripe-e2e.
 */

const SPEECH = '/usr/share/sounds/alsa/Front_Center.wav'; // 1.43 s, billed as 2 s
const WEBHOOK_SECRET = 'whsec_reconcile_test_secret';
// No free seconds, a dollar a second: 2 s are quoted at $60.00 (6000 cents), which buys 60 s.
const PRICES = { NEW_USER_FREE_SECONDS: '0', PRICE_PER_MINUTE_CENTS: '6000', MINIMUM_PAYMENT_CENTS: '50', CURRENCY: 'usd' };
const HOUR = 3_600_000;

interface LogLine {
  level: number;
  msg: string;
  orderId?: string;
  outcome?: string;
}

let fake: FakeStripe;
let svc: TestService | undefined;
let chat: TestChannel;
let webhook: string;
const logLines: LogLine[] = [];

beforeAll(async () => {
  fake = await startFakeStripe();
});
afterAll(() => fake.close());
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
  logLines.length = 0;
});

async function start(env: Record<string, string> = {}): Promise<TestService> {
  chat = new TestChannel();
  const logTo = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  svc = await startTestService({
    env: { ...PRICES, STRIPE_SECRET_KEY: fake.secretKey, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: fake.url, ...env },
    channels: [chat],
    runner: new ScriptedRunner('pending'),
    logTo,
  });
  webhook = `${svc.url}/webhooks/stripe`;
  return svc;
}

/** Sends the clip as `sender` and returns the order once its payment link went out. */
async function orderAwaitingPayment(sender: string): Promise<{ order: OrderRow; session: FakeSession }> {
  // Order ids come from message ids; each test's are its own, as the Stripe server outlives the services.
  await chat.receive(chat.message(sender, [SPEECH], `${sender}-1`));
  await chat.waitForReply((r, to) => to.chatId === sender && r.kind === 'quote' && r.action !== undefined);
  const order = await svc!.waitForOrder((o) => o.senderId === sender && o.state === 'awaiting_payment' && o.checkoutId !== null);
  return { order, session: fake.sessions.get(order.checkoutId!)! };
}

/** Delivers one event twice, as Stripe does when an answer is lost; both are acknowledged. */
async function deliverTwice(type: string, snapshot: object): Promise<string[]> {
  const event = stripeEvent(type, snapshot);
  const outcomes: string[] = [];
  for (let i = 0; i < 2; i++) {
    const delivery = await deliverWebhook(webhook, event, { secret: WEBHOOK_SECRET });
    expect(delivery.status).toBe(200);
    outcomes.push((JSON.parse(delivery.body) as { outcome: string }).outcome);
  }
  return outcomes;
}

const orderOf = (id: string): OrderRow => svc!.orders().find((o) => o.id === id)!;
const entries = (orderId: string, kind?: string) =>
  svc!.service.db
    .select()
    .from(ledger)
    .where(eq(ledger.orderId, orderId))
    .all()
    .filter((e) => !kind || e.kind === kind);
const notices = (sender: string) => chat.repliesTo(sender).filter((r) => r.kind === 'notice' || r.kind === 'status');
const audioOf = (orderId: string): string[] => {
  const dir = join(svc!.dataDir, 'blobs', 'orders', orderId);
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : [];
};

async function metric(outcome: string): Promise<number> {
  return metricLine(`transcribe_payments_reconciled_total{outcome="${outcome}"}`);
}

/** The value of one line of GET /metrics, e.g. `transcribe_payments_revenue_cents_total{currency="usd"}`; 0 when absent. */
async function metricLine(prefix: string): Promise<number> {
  const body = await (await fetch(`${svc!.url}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${prefix} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

/** The operator's error-level line for the case, naming the order. */
function errorLine(orderId: string, outcome: string): LogLine | undefined {
  return logLines.find((l) => l.level === 50 && l.orderId === orderId && l.outcome === outcome);
}

/** Makes the order's checkout look expired long enough ago for the sweep to ask Stripe about it. */
function pastCheckoutExpiry(orderId: string): void {
  svc!.service.db
    .update(orders)
    .set({ checkoutExpiresAt: Date.now() - HOUR })
    .where(eq(orders.id, orderId))
    .run();
}

describe('a payment that arrives after the order expired', () => {
  it('transcribes the order while its audio is kept, crediting the payment once', async () => {
    await start();
    const { order, session } = await orderAwaitingPayment('ann');
    expect(order).toMatchObject({ amountCents: 6000, currency: 'usd', missingSeconds: 2, heldSeconds: 0 });
    const before = await metric('late_transcribed');
    await deliverTwice('checkout.session.expired', fake.expire(session.id));
    expect(orderOf(order.id).state).toBe('expired');
    // Kept for a payment still on its way; the user is told until when.
    expect(audioOf(order.id).length).toBeGreaterThan(0);
    const expiredNotice = await chat.waitForReply((r, to) => to.chatId === 'ann' && r.text.includes('expired'));
    expect(expiredNotice.text).toContain('within 72 h');

    // The webhook said expired, yet the money arrived (as after a sweep that could not ask, or events out of order).
    expect(
      await deliverTwice('checkout.session.completed', { ...fake.sessions.get(session.id)!, status: 'complete', payment_status: 'paid' }),
    ).toEqual(['applied', 'duplicate']);
    await svc!.waitForOrder((o) => o.id === order.id && o.state === 'running');
    expect(entries(order.id, 'purchase')).toHaveLength(1);
    expect(entries(order.id, 'spend').map((e) => e.seconds)).toEqual([-2]);
    expect(svc!.balance('test', 'ann')).toBe(58);
    await chat.waitForReply((r, to) => to.chatId === 'ann' && r.text.startsWith('Payment received'));
    expect(await metric('late_transcribed')).toBe(before + 1);
    expect(errorLine(order.id, 'late_transcribed')).toBeDefined();
  });

  it('credits the balance once and says so when the audio is already deleted', async () => {
    await start();
    const { order, session } = await orderAwaitingPayment('ben');
    await deliverTwice('checkout.session.expired', fake.expire(session.id));
    // The keep time passes: the sweep deletes the audio and records it.
    expect(await svc!.service.orderPayments.purgeExpiredAudio(Date.now() + 73 * HOUR)).toBe(1);
    expect(audioOf(order.id)).toEqual([]);
    expect(orderOf(order.id).audioDeletedAt).not.toBeNull();

    const before = await metric('late_credited');
    const outcomes = await deliverTwice('checkout.session.completed', {
      ...fake.sessions.get(session.id)!,
      status: 'complete',
      payment_status: 'paid',
    });
    expect(outcomes).toEqual(['credited', 'duplicate']);
    expect(orderOf(order.id).state).toBe('expired');
    expect(entries(order.id, 'purchase')).toHaveLength(1);
    expect(svc!.balance('test', 'ben')).toBe(60);
    const told = await chat.waitForReply((r, to) => to.chatId === 'ben' && r.text.includes('added 1 min to your balance'));
    expect(told.text).toContain('$60.00');
    expect(told.balanceSeconds).toBe(60);
    expect(await metric('late_credited')).toBe(before + 1);
    expect(errorLine(order.id, 'late_credited')).toBeDefined();
  });

  it('with no keep time, deletes the audio at expiry', async () => {
    await start({ EXPIRED_AUDIO_KEEP_HOURS: '0' });
    const { order, session } = await orderAwaitingPayment('bea');
    await deliverTwice('checkout.session.expired', fake.expire(session.id));
    expect(audioOf(order.id)).toEqual([]);
    const notice = await chat.waitForReply((r, to) => to.chatId === 'bea' && r.text.includes('expired'));
    expect(notice.text).toContain('I deleted the recording');
  });
});

describe('a delayed payment method (bank debit)', () => {
  it('waits for the money, tells the user once, and transcribes when it arrives', async () => {
    await start();
    const { order, session } = await orderAwaitingPayment('cat');
    const pendingBefore = await metric('async_pending');
    expect(await deliverTwice('checkout.session.completed', fake.complete(session.id, { async: true }))).toEqual(['pending', 'duplicate']);
    expect(orderOf(order.id).state).toBe('awaiting_payment');
    await chat.waitForReply((r, to) => to.chatId === 'cat' && r.text.includes('payment is on its way'));
    expect(await metric('async_pending')).toBe(pendingBefore + 1);
    expect(errorLine(order.id, 'async_pending')).toBeDefined();
    expect(entries(order.id)).toEqual([]);

    expect(await deliverTwice('checkout.session.async_payment_succeeded', fake.settleAsync(session.id))).toEqual(['applied', 'duplicate']);
    await svc!.waitForOrder((o) => o.id === order.id && o.state === 'running');
    expect(entries(order.id, 'purchase')).toHaveLength(1);
    expect(svc!.balance('test', 'cat')).toBe(58);
    expect(notices('cat').filter((r) => r.text.includes('on its way'))).toHaveLength(1);
  });

  it('gives the held seconds back and tells the user when it fails', async () => {
    await start({ NEW_USER_FREE_SECONDS: '1' });
    const { order, session } = await orderAwaitingPayment('dan');
    // The one free second is held for the order; the missing second is still quoted at a minute's price.
    expect(order).toMatchObject({ heldSeconds: 1, missingSeconds: 1, amountCents: 6000 });
    expect(svc!.balance('test', 'dan')).toBe(0);
    await deliverTwice('checkout.session.completed', fake.complete(session.id, { async: true }));
    const failedBefore = await metric('async_failed');
    expect(await deliverTwice('checkout.session.async_payment_failed', fake.failAsync(session.id))).toEqual(['applied', 'duplicate']);
    expect(orderOf(order.id).state).toBe('expired');
    expect(entries(order.id, 'refund').map((e) => e.seconds)).toEqual([1]);
    expect(entries(order.id, 'purchase')).toEqual([]);
    expect(svc!.balance('test', 'dan')).toBe(1);
    const told = await chat.waitForReply((r, to) => to.chatId === 'dan' && r.text.includes('did not go through'));
    expect(told.text).toContain('gave back the 1 s');
    expect(await metric('async_failed')).toBe(failedBefore + 1);
    expect(errorLine(order.id, 'async_failed')).toBeDefined();
  });
});

describe('a payment that differs from the quote', () => {
  it('more than quoted: transcribed, the rest stays on the balance', async () => {
    await start();
    const { order, session } = await orderAwaitingPayment('eve');
    const before = await metric('amount_mismatch_transcribed');
    expect(await deliverTwice('checkout.session.completed', { ...fake.complete(session.id), amount_total: 7000 })).toEqual([
      'applied',
      'duplicate',
    ]);
    await svc!.waitForOrder((o) => o.id === order.id && o.state === 'running');
    expect(entries(order.id, 'purchase').map((e) => [e.seconds, e.amountCents])).toEqual([[70, 7000]]);
    expect(svc!.balance('test', 'eve')).toBe(68);
    expect(await metric('amount_mismatch_transcribed')).toBe(before + 1);
    expect(errorLine(order.id, 'amount_mismatch_transcribed')).toBeDefined();
  });

  it('less than needed: credited at the configured price, rounded up within a second, the order held back and the user told', async () => {
    await start();
    const { order, session } = await orderAwaitingPayment('fox');
    const before = await metric('underpaid_credited');
    // 50 cents at a dollar a second is half a second: credited as one, less than the 2 s missing.
    expect(await deliverTwice('checkout.session.completed', { ...fake.complete(session.id), amount_total: 50 })).toEqual([
      'credited',
      'duplicate',
    ]);
    expect(orderOf(order.id).state).toBe('expired');
    expect(entries(order.id, 'purchase').map((e) => [e.seconds, e.amountCents])).toEqual([[1, 50]]);
    expect(svc!.balance('test', 'fox')).toBe(1);
    const told = await chat.waitForReply((r, to) => to.chatId === 'fox' && r.text.startsWith('I received $0.50'));
    expect(told.text).toContain('needed 2 s more');
    expect(told.text).toContain('You now have 1 s');
    expect(await metric('underpaid_credited')).toBe(before + 1);
    expect(errorLine(order.id, 'underpaid_credited')).toBeDefined();
  });

  it("paid in the payer's currency through Stripe's conversion: valued in ours and transcribed", async () => {
    await start();
    const { order, session } = await orderAwaitingPayment('gil');
    const converted = {
      ...fake.complete(session.id),
      currency: 'eur',
      amount_total: 5520,
      currency_conversion: { amount_subtotal: 6000, amount_total: 6000, fx_rate: '0.92', source_currency: 'usd' },
    };
    expect(await deliverTwice('checkout.session.completed', converted)).toEqual(['applied', 'duplicate']);
    await svc!.waitForOrder((o) => o.id === order.id && o.state === 'running');
    expect(entries(order.id, 'purchase').map((e) => [e.amountCents, e.currency])).toEqual([[6000, 'usd']]);
    expect(svc!.balance('test', 'gil')).toBe(58);
  });

  it('in a currency with no price: nothing credited, the user told, the operator alerted', async () => {
    await start();
    const { order, session } = await orderAwaitingPayment('hal');
    const before = await metric('unpriced_held');
    expect(await deliverTwice('checkout.session.completed', { ...fake.complete(session.id), currency: 'eur' })).toEqual([
      'held',
      'duplicate',
    ]);
    expect(entries(order.id)).toEqual([]);
    await chat.waitForReply((r, to) => to.chatId === 'hal' && r.text.includes('60.00 EUR') && r.text.includes('operator'));
    expect(await metric('unpriced_held')).toBe(before + 1);
    expect(errorLine(order.id, 'unpriced_held')).toBeDefined();
  });
});

describe('the sweep asks Stripe before it expires an order', () => {
  it('finds a payment whose webhook never came, and the late webhook then changes nothing', async () => {
    await start();
    const { order, session } = await orderAwaitingPayment('ida');
    fake.complete(session.id); // paid at Stripe; the webhook is lost
    pastCheckoutExpiry(order.id);
    const before = await metric('sweep_paid');
    const revenueBefore = await metricLine('transcribe_payments_revenue_cents_total{currency="usd"}');
    await svc!.service.orderPayments.sweep();
    await svc!.service.orderPayments.sweep();
    await svc!.waitForOrder((o) => o.id === order.id && o.state === 'running');
    expect(fake.requests.some((r) => r.method === 'GET' && r.path === `/v1/checkout/sessions/${session.id}`)).toBe(true);

    expect(await deliverTwice('checkout.session.completed', fake.sessions.get(session.id)!)).toEqual(['duplicate', 'duplicate']);
    expect(entries(order.id, 'purchase')).toHaveLength(1);
    expect(svc!.balance('test', 'ida')).toBe(58);
    expect(chat.repliesTo('ida').filter((r) => r.text.startsWith('Payment received'))).toHaveLength(1);
    expect(await metric('sweep_paid')).toBe(before + 1);
    expect(errorLine(order.id, 'sweep_paid')).toBeDefined();
    // Money the sweep found is revenue too, counted once (the late webhook was a duplicate).
    expect(await metricLine('transcribe_payments_revenue_cents_total{currency="usd"}')).toBe(revenueBefore + session.amount_total);
  });

  it('closes a checkout still open at Stripe so it cannot be paid later, then expires the order', async () => {
    await start();
    const { order, session } = await orderAwaitingPayment('jon');
    pastCheckoutExpiry(order.id);
    const closedBefore = await metric('sweep_closed');
    const expiredBefore = await metric('sweep_expired');
    await svc!.service.orderPayments.sweep();
    await svc!.service.orderPayments.sweep();
    expect(fake.sessions.get(session.id)).toMatchObject({ status: 'expired', url: null });
    expect(fake.requests.filter((r) => r.method === 'POST' && r.path === `/v1/checkout/sessions/${session.id}/expire`)).toHaveLength(1);
    expect(orderOf(order.id).state).toBe('expired');
    await chat.waitForReply((r, to) => to.chatId === 'jon' && r.text.includes('expired'));
    expect(await metric('sweep_closed')).toBe(closedBefore + 1);
    expect(await metric('sweep_expired')).toBe(expiredBefore + 1);
    expect(errorLine(order.id, 'sweep_expired')).toBeDefined();

    // Stripe's own expiry event, twice, afterwards: nothing more.
    expect(await deliverTwice('checkout.session.expired', fake.sessions.get(session.id)!)).toEqual(['ignored', 'duplicate']);
    expect(chat.repliesTo('jon').filter((r) => r.text.includes('expired'))).toHaveLength(1);
    expect(entries(order.id)).toEqual([]);
  });

  it('leaves an order whose bank payment is on its way, and closes it when Stripe says it failed', async () => {
    await start({ NEW_USER_FREE_SECONDS: '1' });
    await chat.receive(chat.message('kim', [SPEECH], 'kim-1'));
    const order = await svc!.waitForOrder((o) => o.senderId === 'kim' && o.checkoutId !== null);
    fake.complete(order.checkoutId!, { async: true });
    pastCheckoutExpiry(order.id);
    const sweep = svc!.service.orderPayments;
    await sweep.sweep();
    expect(orderOf(order.id).state).toBe('awaiting_payment');
    await chat.waitForReply((r, to) => to.chatId === 'kim' && r.text.includes('on its way'));

    fake.failAsync(order.checkoutId!);
    // Asked again after its back-off.
    await sweep.sweep(Date.now() + 5 * 60_000);
    expect(orderOf(order.id).state).toBe('expired');
    expect(entries(order.id, 'refund').map((e) => e.seconds)).toEqual([1]);
    expect(svc!.balance('test', 'kim')).toBe(1);
    await chat.waitForReply((r, to) => to.chatId === 'kim' && r.text.includes('did not go through'));

    // Stripe's failure event, twice, after the sweep: nothing more.
    expect(await deliverTwice('checkout.session.async_payment_failed', fake.sessions.get(order.checkoutId!)!)).toEqual([
      'ignored',
      'duplicate',
    ]);
    expect(entries(order.id)).toHaveLength(2); // the hold and its refund
  });

  it('does not expire an order while Stripe cannot be asked', async () => {
    await start({ STRIPE_API_BASE: 'http://127.0.0.1:9' });
    await chat.receive(chat.message('lou', [SPEECH], 'lou-1'));
    // No checkout could be made either: the order waits, its link is retried by the same loop.
    const order = await svc!.waitForOrder((o) => o.senderId === 'lou' && o.state === 'awaiting_payment');
    svc!.service.db
      .update(orders)
      .set({ checkoutId: 'cs_test_unreachable', checkoutExpiresAt: Date.now() - HOUR })
      .where(eq(orders.id, order.id))
      .run();
    expect(await svc!.service.orderPayments.sweep()).toBe(0);
    expect(orderOf(order.id).state).toBe('awaiting_payment');
    expect(logLines.some((l) => l.orderId === order.id && l.msg.includes('could not ask the payment provider'))).toBe(true);
  });
});
