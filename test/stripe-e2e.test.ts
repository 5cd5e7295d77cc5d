import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reply } from '../src/ports/channel';
import { deliverWebhook, startFakeStripe, stripeEvent, type FakeSession, type FakeStripe } from './support/fake-stripe';
import { startTestService, type OrderRow, type TestService } from './support/service';
import { TestChannel } from './support/test-channel';

/**
 * The whole paid path through the real service: a message that the balance does not cover gets a
 * Stripe Checkout link (the real SDK against a Stripe-compatible local server), Stripe's signed
 * webhooks pay or expire the order, and a paid order is transcribed by the real engine and delivered.
 */

const SPEECH = '/usr/share/sounds/alsa/Front_Center.wav'; // 1.43 s of "Front center", billed as 2 s
const WEBHOOK_SECRET = 'whsec_end_to_end_test_secret';
// No free seconds, 10 cents a minute, 50 cents minimum: 2 s cost the minimum, which buys 300 s.
const PRICES = { NEW_USER_FREE_SECONDS: '0', PRICE_PER_MINUTE_CENTS: '10', MINIMUM_PAYMENT_CENTS: '50', CURRENCY: 'usd' };

describe('paying for a transcription with Stripe', () => {
  let fake: FakeStripe;
  let svc: TestService;
  let webhook: string;
  const chat = new TestChannel();

  beforeAll(async () => {
    fake = await startFakeStripe();
    svc = await startTestService({
      env: { ...PRICES, STRIPE_SECRET_KEY: fake.secretKey, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: fake.url },
      channels: [chat],
    });
    webhook = `${svc.url}/webhooks/stripe`;
  });
  afterAll(async () => {
    await svc?.stop();
    await fake?.close();
  });

  /** Sends the speech clip as `sender` and returns the order once its payment link went out. */
  async function orderAwaitingPayment(sender: string): Promise<{ order: OrderRow; session: FakeSession; quote: Reply }> {
    await chat.receive(chat.message(sender, [SPEECH]));
    const quote = await chat.waitForReply((r, to) => to.chatId === sender && r.kind === 'quote' && r.action !== undefined);
    const order = await svc.waitForOrder((o) => o.senderId === sender && o.state === 'awaiting_payment' && o.checkoutId !== null);
    const session = fake.sessions.get(order.checkoutId!)!;
    expect(session).toBeDefined();
    return { order, session, quote };
  }

  const orderOf = (id: string): OrderRow => svc.orders().find((o) => o.id === id)!;
  const pay = (session: FakeSession, type = 'checkout.session.completed') =>
    deliverWebhook(webhook, stripeEvent(type, fake.complete(session.id)), { secret: WEBHOOK_SECRET });
  const texts = (sender: string): string[] => chat.repliesTo(sender).map((r) => r.text);

  async function metric(name: string): Promise<number> {
    const body = await (await fetch(`${svc.url}/metrics`)).text();
    const line = body.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line ? Number(line.split(' ').pop()) : 0;
  }

  it('a paid order is transcribed and delivered, and the rest of the minimum payment stays as balance', async () => {
    const { order, session, quote } = await orderAwaitingPayment('alice');
    // The minimum payment for 2 missing seconds, in the configured currency, tied to the order.
    expect(session).toMatchObject({ amount_total: 50, currency: 'usd', client_reference_id: order.id, status: 'open' });
    expect(session.metadata.order_id).toBe(order.id);
    expect(session.success_url).toBe('http://127.0.0.1:8080/pay/success?session_id={CHECKOUT_SESSION_ID}');
    expect(session.cancel_url).toBe('http://127.0.0.1:8080/pay/cancel');
    const lifetime = session.expires_at - session.created;
    expect(lifetime).toBeGreaterThanOrEqual(30 * 60);
    expect(lifetime).toBeLessThanOrEqual(24 * 3600);
    expect(quote.action!.url).toBe(session.url);
    expect((await fetch(quote.action!.url)).status).toBe(200);
    expect(svc.balance('test', 'alice')).toBe(0);

    const delivery = await pay(session);
    expect(delivery.status).toBe(200);

    const transcript = await chat.waitForReply((r, to) => to.chatId === 'alice' && r.kind === 'transcript');
    const everything = [transcript.text, ...(transcript.files ?? []).map((f) => f.content.toString('utf8'))].join('\n');
    // Words, not punctuation: the engine may write "Front, center."
    expect(everything.toLowerCase().replace(/[^\w\s]/g, '')).toContain('front center');
    expect(orderOf(order.id).state).toBe('delivered');
    // 50 cents at 10 cents a minute buy 300 s; the order took 2.
    expect(svc.balance('test', 'alice')).toBe(298);
    expect(texts('alice').some((t) => t.startsWith('Payment received'))).toBe(true);

    // The balance left over pays the next recording without another link.
    await chat.receive(chat.message('alice', [SPEECH]));
    const second = await svc.waitForOrder((o) => o.senderId === 'alice' && o.id !== order.id && o.state === 'delivered');
    expect(second.checkoutId).toBeNull();
    expect(svc.balance('test', 'alice')).toBe(296);
    expect(fake.sessionsFor(second.id)).toHaveLength(0);
    expect(await metric('transcribe_payments_revenue_cents_total')).toBe(50);
  });

  it('the same event 100 times, and completed with async_payment_succeeded for one order, fulfil it once', async () => {
    const { order, session } = await orderAwaitingPayment('bob');
    const paidBefore = await metric('transcribe_payments_succeeded_total');
    const completed = stripeEvent('checkout.session.completed', fake.complete(session.id));
    const statuses: number[] = [];
    for (let round = 0; round < 10; round++) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => deliverWebhook(webhook, completed, { secret: WEBHOOK_SECRET })));
      statuses.push(...batch.map((d) => d.status));
    }
    expect(statuses).toEqual(Array(100).fill(200));
    const succeeded = await deliverWebhook(webhook, stripeEvent('checkout.session.async_payment_succeeded', session), {
      secret: WEBHOOK_SECRET,
    });
    expect(succeeded.status).toBe(200);

    await svc.waitForOrder((o) => o.id === order.id && o.state === 'delivered');
    await chat.waitForReply((r, to) => to.chatId === 'bob' && r.kind === 'transcript');
    expect(svc.balance('test', 'bob')).toBe(298);
    expect(texts('bob').filter((t) => t.startsWith('Payment received'))).toHaveLength(1);
    expect(chat.repliesTo('bob', 'transcript')).toHaveLength(1);
    expect(await metric('transcribe_payments_succeeded_total')).toBe(paidBefore + 1);
  });

  it('an expiry arriving after the payment leaves the order paid', async () => {
    const { order, session } = await orderAwaitingPayment('carol');
    expect((await pay(session)).status).toBe(200);
    const late = await deliverWebhook(webhook, stripeEvent('checkout.session.expired', { ...session, status: 'expired' }), {
      secret: WEBHOOK_SECRET,
    });
    expect(late.status).toBe(200);

    await svc.waitForOrder((o) => o.id === order.id && o.state === 'delivered');
    await chat.waitForReply((r, to) => to.chatId === 'carol' && r.kind === 'transcript');
    expect(texts('carol').some((t) => t.includes('expired'))).toBe(false);
    expect(svc.balance('test', 'carol')).toBe(298);
  });

  it('an unpaid checkout that expires expires the order and tells the user; a payment arriving later still transcribes it', async () => {
    const { order, session } = await orderAwaitingPayment('dave');
    expect(blobsOf(svc.dataDir, order.id).length).toBeGreaterThan(0);
    const expiredBefore = await metric('transcribe_payments_checkouts_expired_total');

    const delivery = await deliverWebhook(webhook, stripeEvent('checkout.session.expired', fake.expire(session.id)), {
      secret: WEBHOOK_SECRET,
    });
    expect(delivery.status).toBe(200);

    expect(orderOf(order.id).state).toBe('expired');
    await chat.waitForReply((r, to) => to.chatId === 'dave' && r.kind === 'notice' && r.text.includes('expired'));
    expect(svc.balance('test', 'dave')).toBe(0);
    expect(await metric('transcribe_payments_checkouts_expired_total')).toBe(expiredBefore + 1);
    // The audio is kept for a payment still on its way (EXPIRED_AUDIO_KEEP_HOURS).
    expect(blobsOf(svc.dataDir, order.id).length).toBeGreaterThan(0);

    // Money that arrives after all is honoured: the order is transcribed, the rest is balance.
    expect((await pay(session)).status).toBe(200);
    const transcript = await chat.waitForReply((r, to) => to.chatId === 'dave' && r.kind === 'transcript');
    expect(
      [transcript.text, ...(transcript.files ?? []).map((f) => f.content.toString('utf8'))]
        .join('\n')
        .toLowerCase()
        .replace(/[^\w\s]/g, ''),
    ).toContain('front center');
    expect(orderOf(order.id).state).toBe('delivered');
    expect(svc.balance('test', 'dave')).toBe(298);
  });

  it('a payment whose amount differs from the quote is credited at what was paid, and transcribes when it covers the order', async () => {
    const { order, session } = await orderAwaitingPayment('erin');
    const paid = fake.complete(session.id);
    // 10 cents at 10 cents a minute buy 60 s: less than quoted, more than the 2 s missing.
    const cheaper = await deliverWebhook(webhook, stripeEvent('checkout.session.completed', { ...paid, amount_total: 10 }), {
      secret: WEBHOOK_SECRET,
    });
    const again = await deliverWebhook(webhook, stripeEvent('checkout.session.completed', { ...paid, amount_total: 10 }), {
      secret: WEBHOOK_SECRET,
    });
    expect([cheaper.status, again.status]).toEqual([200, 200]);
    expect(JSON.parse(again.body)).toMatchObject({ outcome: 'duplicate' });
    await svc.waitForOrder((o) => o.id === order.id && o.state === 'delivered');
    expect(svc.balance('test', 'erin')).toBe(58);
    expect(texts('erin').filter((t) => t.startsWith('Payment received'))).toHaveLength(1);
  });

  it('a forged, tampered or stale delivery answers 400 and changes nothing; other event types are acknowledged', async () => {
    const { order, session } = await orderAwaitingPayment('frank');
    const event = stripeEvent('checkout.session.completed', fake.complete(session.id));
    expect((await deliverWebhook(webhook, event, { secret: 'whsec_forged' })).status).toBe(400);
    expect((await deliverWebhook(webhook, event, { secret: WEBHOOK_SECRET, timestamp: Math.floor(Date.now() / 1000) - 3600 })).status).toBe(
      400,
    );
    const other = await deliverWebhook(webhook, stripeEvent('customer.created', { id: 'cus_1', object: 'customer' }), {
      secret: WEBHOOK_SECRET,
    });
    expect(other.status).toBe(200);
    expect(orderOf(order.id).state).toBe('awaiting_payment');
    expect(svc.balance('test', 'frank')).toBe(0);

    // The genuine delivery still pays it.
    expect((await deliverWebhook(webhook, event, { secret: WEBHOOK_SECRET })).status).toBe(200);
    expect(orderOf(order.id).state).not.toBe('awaiting_payment');
  });
});

/** Files stored for an order in the local blob store. */
function blobsOf(dataDir: string, orderId: string): string[] {
  const dir = join(dataDir, 'blobs', 'orders', orderId);
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : [];
}
