import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import Router from '@koa/router';
import Koa from 'koa';
import pino from 'pino';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/log';
import { registry } from '../src/metrics';
import { StripePayments } from '../src/payments/stripe-payments';
import { stripeWebhook } from '../src/payments/stripe-webhook';
import type { CheckoutRequest, PaymentHandler, PaymentNotice, PaymentOutcome } from '../src/ports/payments';
import { deliverWebhook, postRaw, startFakeStripe, stripeEvent, type FakeStripe } from './support/fake-stripe';

const PUBLIC_URL = 'https://transcribe.example.com';
const now = (): number => Math.floor(Date.now() / 1000);

const request = (overrides: Partial<CheckoutRequest> = {}): CheckoutRequest => ({
  orderId: `ord_${Math.random().toString(36).slice(2)}`,
  userId: 'usr_1',
  missingSeconds: 750,
  amountCents: 130,
  currency: 'usd',
  description: 'Transcription of 12 min 30 s of audio',
  ...overrides,
});

async function metricValue(name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
  const match = values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return match?.value ?? 0;
}

describe('StripePayments against a Stripe-compatible server', () => {
  let fake: FakeStripe;
  let payments: StripePayments;

  beforeAll(async () => {
    fake = await startFakeStripe();
    payments = new StripePayments({ secretKey: fake.secretKey, apiBase: fake.url, publicUrl: `${PUBLIC_URL}/`, log: silentLogger });
  });
  afterAll(() => fake.close());

  it('creates one payment checkout for the quoted amount, tied to the order, returning where it expires', async () => {
    const order = request({ amountCents: 130, currency: 'usd' });
    const before = now();
    const checkout = await payments.createCheckout(order);

    const [session] = fake.sessionsFor(order.orderId);
    expect(session).toBeDefined();
    expect(checkout.id).toBe(session!.id);
    expect(checkout.id).toMatch(/^cs_test_/);
    expect(checkout.url).toBe(session!.url);
    expect(session).toMatchObject({
      mode: 'payment',
      amount_total: 130,
      currency: 'usd',
      client_reference_id: order.orderId,
      metadata: { order_id: order.orderId },
      payment_status: 'unpaid',
      status: 'open',
      success_url: `${PUBLIC_URL}/pay/success?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${PUBLIC_URL}/pay/cancel`,
    });
    expect(session!.line_items_requested).toEqual([
      {
        quantity: '1',
        price_data: { currency: 'usd', unit_amount: '130', product_data: { name: 'Transcription of 12 min 30 s of audio' } },
      },
    ]);
    // The default lifetime is an hour, inside Stripe's 30 minutes to 24 hours.
    expect(session!.expires_at).toBeGreaterThanOrEqual(before + 3600);
    expect(session!.expires_at).toBeLessThanOrEqual(now() + 3600);
    expect(checkout.expiresAt.getTime()).toBe(session!.expires_at * 1000);

    const page = await fetch(checkout.url);
    expect(page.status).toBe(200);
  });

  it('sends the request currency in lower case and the lifetime it was given', async () => {
    const shortLived = new StripePayments({
      secretKey: fake.secretKey,
      apiBase: fake.url,
      publicUrl: PUBLIC_URL,
      checkoutTtlSeconds: 30 * 60,
      log: silentLogger,
    });
    const order = request({ currency: 'EUR', amountCents: 50 });
    const checkout = await shortLived.createCheckout(order);
    const session = fake.sessions.get(checkout.id)!;
    expect(session.currency).toBe('eur');
    expect(session.amount_total).toBe(50);
    // At the minimum the lifetime gets a minute of slack, so a slow request is never refused.
    expect(session.expires_at - session.created).toBeGreaterThanOrEqual(30 * 60 + 58);
    expect(session.expires_at - session.created).toBeLessThanOrEqual(30 * 60 + 62);
  });

  it('a retried call for the same order gets the same checkout, and counts it once', async () => {
    const order = request();
    const created = await metricValue('transcribe_payments_checkouts_created_total');
    const first = await payments.createCheckout(order);
    const second = await payments.createCheckout(order);
    expect(second).toEqual(first);
    expect(fake.sessionsFor(order.orderId)).toHaveLength(1);
    const keys = fake.requests.filter((r) => r.form.client_reference_id === order.orderId).map((r) => r.idempotencyKey);
    expect(keys).toHaveLength(2);
    expect(new Set(keys).size).toBe(1);
    expect(await metricValue('transcribe_payments_checkouts_created_total')).toBe(created + 1);
  });

  it('a lost answer is retried by the SDK and still makes one checkout', async () => {
    const order = request();
    fake.dropResponses(1);
    const checkout = await payments.createCheckout(order);
    expect(fake.sessionsFor(order.orderId).map((s) => s.id)).toEqual([checkout.id]);
    expect(fake.requests.filter((r) => r.form.client_reference_id === order.orderId)).toHaveLength(2);
  });

  it('after a restart, asking again for an order finds the checkout already made for it', async () => {
    const order = request();
    const first = await payments.createCheckout(order);
    // A fresh instance computes a different expiry, so Stripe refuses the reused key; the open session is found instead.
    const restarted = new StripePayments({
      secretKey: fake.secretKey,
      apiBase: fake.url,
      publicUrl: PUBLIC_URL,
      checkoutTtlSeconds: 2 * 3600,
      log: silentLogger,
    });
    const again = await restarted.createCheckout(order);
    expect(again.id).toBe(first.id);
    expect(again.url).toBe(first.url);
    expect(fake.sessionsFor(order.orderId)).toHaveLength(1);
  });

  it('tells where a checkout stands: open, paid, on its way, failed, expired, or unknown', async () => {
    const status = async (change?: (id: string) => void) => {
      const checkout = await payments.createCheckout(request({ amountCents: 70 }));
      change?.(checkout.id);
      return payments.checkoutStatus(checkout.id);
    };
    expect(await status()).toEqual({ state: 'open', amountCents: 70, currency: 'usd' });
    expect((await status((id) => fake.complete(id)))?.state).toBe('paid');
    expect((await status((id) => fake.complete(id, { async: true })))?.state).toBe('pending');
    expect((await status((id) => fake.failAsync(fake.complete(id, { async: true }).id)))?.state).toBe('failed');
    expect((await status((id) => fake.settleAsync(fake.complete(id, { async: true }).id)))?.state).toBe('paid');
    expect((await status((id) => fake.expire(id)))?.state).toBe('expired');
    expect(await payments.checkoutStatus('cs_test_never_made')).toBeUndefined();
  });

  it("reports a session paid in the payer's currency in the currency it was created in", async () => {
    const checkout = await payments.createCheckout(request({ amountCents: 100, currency: 'usd' }));
    const session = fake.complete(checkout.id);
    Object.assign(session, {
      currency: 'eur',
      amount_total: 92,
      currency_conversion: { amount_subtotal: 100, amount_total: 100, fx_rate: '0.92', source_currency: 'usd' },
    });
    expect(await payments.checkoutStatus(checkout.id)).toEqual({ state: 'paid', amountCents: 100, currency: 'usd' });
  });

  it('closes an open checkout so it cannot be paid later, and reads back one the payer finished first', async () => {
    const open = await payments.createCheckout(request());
    expect(await payments.closeCheckout(open.id)).toMatchObject({ state: 'expired' });
    expect(fake.sessions.get(open.id)).toMatchObject({ status: 'expired', url: null });
    expect(fake.requests.filter((r) => r.path === `/v1/checkout/sessions/${open.id}/expire`)).toHaveLength(1);

    const paid = await payments.createCheckout(request());
    fake.complete(paid.id);
    expect(await payments.closeCheckout(paid.id)).toMatchObject({ state: 'paid' });
    expect(fake.sessions.get(paid.id)!.status).toBe('complete');
  });

  it('surfaces Stripe refusals as errors instead of links', async () => {
    await expect(payments.createCheckout(request({ amountCents: 20 }))).rejects.toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    await expect(payments.createCheckout(request({ amountCents: 0 }))).rejects.toThrow(/positive whole number/);
    await expect(payments.createCheckout(request({ amountCents: 12.5 }))).rejects.toThrow(/positive whole number/);
    await expect(payments.createCheckout(request({ currency: 'dollars' }))).rejects.toThrow(/ISO 4217/);

    const wrongKey = new StripePayments({ secretKey: 'sk_test_wrong', apiBase: fake.url, publicUrl: PUBLIC_URL, log: silentLogger });
    await expect(wrongKey.createCheckout(request())).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });

  it('refuses a checkout lifetime Stripe would not accept, and a base URL it cannot use', () => {
    const base = { secretKey: fake.secretKey, apiBase: fake.url, publicUrl: PUBLIC_URL, log: silentLogger };
    expect(() => new StripePayments({ ...base, checkoutTtlSeconds: 29 * 60 })).toThrow(RangeError);
    expect(() => new StripePayments({ ...base, checkoutTtlSeconds: 25 * 3600 })).toThrow(RangeError);
    expect(() => new StripePayments({ ...base, apiBase: 'ftp://127.0.0.1:1' })).toThrow(/STRIPE_API_BASE/);
  });
});

describe('the fake Stripe server answers like Stripe', () => {
  let fake: FakeStripe;
  let stripe: Stripe;
  beforeAll(async () => {
    fake = await startFakeStripe();
    const port = Number(new URL(fake.url).port);
    stripe = new Stripe(fake.secretKey, { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0 });
  });
  afterAll(() => fake.close());

  const valid = (): Stripe.Checkout.SessionCreateParams => ({
    mode: 'payment',
    line_items: [{ quantity: 1, price_data: { currency: 'usd', unit_amount: 100, product_data: { name: 'x' } } }],
    expires_at: now() + 3600,
  });

  it('refuses an expiry outside 30 minutes to 24 hours, naming the parameter', async () => {
    for (const expiresAt of [now() + 60, now() + 25 * 3600]) {
      const error = await stripe.checkout.sessions.create({ ...valid(), expires_at: expiresAt }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
      expect((error as Stripe.errors.StripeError).param).toBe('expires_at');
    }
  });

  it('refuses a missing mode or line items, and reads a session back', async () => {
    const { mode: _mode, ...noMode } = valid();
    const error = await stripe.checkout.sessions.create(noMode as Stripe.Checkout.SessionCreateParams).catch((e: unknown) => e);
    expect((error as Stripe.errors.StripeError).param).toBe('mode');
    const noItems = await stripe.checkout.sessions.create({ ...valid(), line_items: [] }).catch((e: unknown) => e);
    expect((noItems as Stripe.errors.StripeError).code).toBe('parameter_missing');

    const session = await stripe.checkout.sessions.create(valid());
    const read = await stripe.checkout.sessions.retrieve(session.id);
    expect(read.id).toBe(session.id);
    const missing = await stripe.checkout.sessions.retrieve('cs_test_nope').catch((e: unknown) => e);
    expect((missing as Stripe.errors.StripeError).code).toBe('resource_missing');
  });

  it('expires only an open session, and expands its PaymentIntent on request', async () => {
    const session = await stripe.checkout.sessions.create(valid());
    const expired = await stripe.checkout.sessions.expire(session.id);
    expect(expired).toMatchObject({ id: session.id, status: 'expired', url: null });
    const again = await stripe.checkout.sessions.expire(session.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((again as Stripe.errors.StripeError).code).toBe('checkout_session_not_open');

    const paid = await stripe.checkout.sessions.create(valid());
    fake.complete(paid.id, { async: true });
    const read = await stripe.checkout.sessions.retrieve(paid.id, { expand: ['payment_intent'] });
    expect(read.payment_intent).toMatchObject({ object: 'payment_intent', status: 'processing' });
    expect(typeof (await stripe.checkout.sessions.retrieve(paid.id)).payment_intent).toBe('string');
  });

  it('refuses a reused idempotency key with different parameters', async () => {
    await stripe.checkout.sessions.create(valid(), { idempotencyKey: 'k1' });
    const error = await stripe.checkout.sessions
      .create({ ...valid(), expires_at: now() + 7200 }, { idempotencyKey: 'k1' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
  });
});

type Kind = 'paid' | 'pending' | 'failed' | 'expired';

/** Records what the webhook asks of the core, answering with a chosen outcome (or failure). */
class RecordingEvents implements PaymentHandler {
  calls: { kind: Kind; event: PaymentNotice }[] = [];
  outcome: PaymentOutcome = 'applied';
  failures = 0;
  private answer(kind: Kind, event: PaymentNotice): Promise<PaymentOutcome> {
    this.calls.push({ kind, event });
    if (this.failures > 0) {
      this.failures -= 1;
      return Promise.reject(new Error('database is locked'));
    }
    return Promise.resolve(this.outcome);
  }
  paid = (event: PaymentNotice) => this.answer('paid', event);
  pending = (event: PaymentNotice) => this.answer('pending', event);
  failed = (event: PaymentNotice) => this.answer('failed', event);
  expired = (event: PaymentNotice) => this.answer('expired', event);
}

describe('the Stripe webhook', () => {
  const secret = 'whsec_test_secret_for_the_webhook';
  const events = new RecordingEvents();
  const logLines: { level: number; msg: string; [key: string]: unknown }[] = [];
  let server: Server;
  let url: string;
  let fake: FakeStripe;

  beforeAll(async () => {
    const log = pino(
      { level: 'debug' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(JSON.parse(chunk.toString('utf8')));
          done();
        },
      }),
    );
    const app = new Koa();
    const router = new Router();
    router.post('/webhooks/stripe', stripeWebhook({ webhookSecret: secret, handler: events, log }));
    app.use(router.routes());
    const callback = app.callback();
    server = createServer((req, res) => void callback(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/stripe`;
    fake = await startFakeStripe();
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await fake.close();
  });
  beforeEach(() => {
    events.calls = [];
    events.outcome = 'applied';
    events.failures = 0;
    logLines.length = 0;
  });

  /** An open session for an order, made through the SDK like the service does. */
  async function openSession(orderId: string, amountCents = 250, currency = 'usd') {
    const payments = new StripePayments({ secretKey: fake.secretKey, apiBase: fake.url, publicUrl: PUBLIC_URL, log: silentLogger });
    const checkout = await payments.createCheckout(request({ orderId, amountCents, currency }));
    return fake.sessions.get(checkout.id)!;
  }

  it('a completed, paid checkout pays the order with the amount and currency charged', async () => {
    const session = await openSession('ord_paid', 250, 'usd');
    const revenue = await metricValue('transcribe_payments_revenue_cents_total', { currency: 'usd' });
    const paid = await metricValue('transcribe_payments_succeeded_total');
    const event = stripeEvent('checkout.session.completed', fake.complete(session.id)) as { id: string };

    const delivery = await deliverWebhook(url, event, { secret });
    expect(delivery.status).toBe(200);
    expect(events.calls).toEqual([
      { kind: 'paid', event: { eventId: event.id, orderId: 'ord_paid', checkoutId: session.id, amountCents: 250, currency: 'usd' } },
    ]);
    expect(await metricValue('transcribe_payments_revenue_cents_total', { currency: 'usd' })).toBe(revenue + 250);
    expect(await metricValue('transcribe_payments_succeeded_total')).toBe(paid + 1);
  });

  it('a checkout completed before an async payment arrives is pending, then paid by async_payment_succeeded', async () => {
    const session = await openSession('ord_async');
    events.outcome = 'pending';
    const completed = await deliverWebhook(url, stripeEvent('checkout.session.completed', fake.complete(session.id, { async: true })), {
      secret,
    });
    expect(completed.status).toBe(200);
    expect(JSON.parse(completed.body)).toMatchObject({ outcome: 'pending' });
    expect(events.calls.map((c) => c.kind)).toEqual(['pending']);
    events.calls = [];
    events.outcome = 'applied';

    const succeeded = await deliverWebhook(url, stripeEvent('checkout.session.async_payment_succeeded', fake.settleAsync(session.id)), {
      secret,
    });
    expect(succeeded.status).toBe(200);
    expect(events.calls.map((c) => [c.kind, c.event.orderId, c.event.amountCents])).toEqual([['paid', 'ord_async', 250]]);
  });

  it('maps a failed async payment and an expired checkout', async () => {
    const failing = await openSession('ord_failing');
    fake.complete(failing.id, { async: true });
    expect((await deliverWebhook(url, stripeEvent('checkout.session.async_payment_failed', failing), { secret })).status).toBe(200);
    const expiring = await openSession('ord_expiring');
    const expiredBefore = await metricValue('transcribe_payments_checkouts_expired_total');
    expect((await deliverWebhook(url, stripeEvent('checkout.session.expired', fake.expire(expiring.id)), { secret })).status).toBe(200);
    expect(events.calls.map((c) => [c.kind, c.event.orderId, c.event.checkoutId])).toEqual([
      ['failed', 'ord_failing', failing.id],
      ['expired', 'ord_expiring', expiring.id],
    ]);
    expect(await metricValue('transcribe_payments_checkouts_expired_total')).toBe(expiredBefore + 1);
  });

  it('finds the order in the metadata when the reference is missing', async () => {
    const session = await openSession('ord_meta');
    const snapshot = { ...fake.complete(session.id), client_reference_id: null };
    expect((await deliverWebhook(url, stripeEvent('checkout.session.completed', snapshot), { secret })).status).toBe(200);
    expect(events.calls.map((c) => c.event.orderId)).toEqual(['ord_meta']);
  });

  it('answers 200 to event types it does not handle, calling nothing', async () => {
    const delivery = await deliverWebhook(url, stripeEvent('payment_intent.succeeded', { id: 'pi_1', object: 'payment_intent' }), {
      secret,
    });
    expect(delivery.status).toBe(200);
    expect(events.calls).toEqual([]);
  });

  it('refuses a wrong secret, a tampered body, a missing signature and a stale timestamp with 400, calling nothing', async () => {
    const session = await openSession('ord_forged');
    const event = stripeEvent('checkout.session.completed', fake.complete(session.id));

    expect((await deliverWebhook(url, event, { secret: 'whsec_someone_else' })).status).toBe(400);

    const payload = JSON.stringify(event);
    const header = Stripe.webhooks.generateTestHeaderString({ payload, secret });
    const tampered = Buffer.from(payload.replace('"amount_total":250', '"amount_total":25000'));
    expect((await postRaw(url, tampered, { 'Content-Type': 'application/json', 'Stripe-Signature': header })).status).toBe(400);
    expect((await postRaw(url, Buffer.from(payload), { 'Content-Type': 'application/json' })).status).toBe(400);

    // Stripe's default tolerance is five minutes.
    expect((await deliverWebhook(url, event, { secret, timestamp: now() - 10 * 60 })).status).toBe(400);
    expect(events.calls).toEqual([]);

    expect((await deliverWebhook(url, event, { secret, timestamp: now() - 60 })).status).toBe(200);
    expect(events.calls).toHaveLength(1);
  });

  it('answers 500 when the core fails, so Stripe delivers again, and 200 to the retry', async () => {
    const session = await openSession('ord_retry');
    const event = stripeEvent('checkout.session.completed', fake.complete(session.id));
    events.failures = 1;
    expect((await deliverWebhook(url, event, { secret })).status).toBe(500);
    expect((await deliverWebhook(url, event, { secret })).status).toBe(200);
    expect(events.calls).toHaveLength(2);
    expect(logLines.some((l) => l.level === 50 && l.msg.includes('Stripe will retry'))).toBe(true);
  });

  it('answers 200 to a duplicate without counting revenue again', async () => {
    const session = await openSession('ord_dup', 300);
    const event = stripeEvent('checkout.session.completed', fake.complete(session.id));
    const revenue = await metricValue('transcribe_payments_revenue_cents_total', { currency: 'usd' });
    events.outcome = 'duplicate';
    expect((await deliverWebhook(url, event, { secret })).status).toBe(200);
    expect(await metricValue('transcribe_payments_revenue_cents_total', { currency: 'usd' })).toBe(revenue);
  });

  it('hands the core the amount in the currency the session was created in when Stripe converted it for the payer', async () => {
    const session = await openSession('ord_converted', 100, 'usd');
    const snapshot = {
      ...fake.complete(session.id),
      currency: 'eur',
      amount_total: 92,
      currency_conversion: { amount_subtotal: 100, amount_total: 100, fx_rate: '0.92', source_currency: 'usd' },
    };
    expect((await deliverWebhook(url, stripeEvent('checkout.session.completed', snapshot), { secret })).status).toBe(200);
    expect(events.calls.map((c) => [c.kind, c.event.amountCents, c.event.currency])).toEqual([['paid', 100, 'usd']]);
  });

  it('counts money credited without a transcript as revenue too', async () => {
    const session = await openSession('ord_credited', 300);
    const revenue = await metricValue('transcribe_payments_revenue_cents_total', { currency: 'usd' });
    events.outcome = 'credited';
    expect((await deliverWebhook(url, stripeEvent('checkout.session.completed', fake.complete(session.id)), { secret })).status).toBe(200);
    expect(await metricValue('transcribe_payments_revenue_cents_total', { currency: 'usd' })).toBe(revenue + 300);
    expect(
      await metricValue('transcribe_payments_webhook_events_total', { type: 'checkout.session.completed', outcome: 'credited' }),
    ).toBeGreaterThan(0);
  });

  it('refuses a body over 1 MB with 413, declared or streamed, calling nothing', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 0x20);
    const header = Stripe.webhooks.generateTestHeaderString({ payload: big.toString(), secret });
    const delivery = await postRaw(url, big, { 'Content-Type': 'application/json', 'Stripe-Signature': header });
    expect(delivery.status).toBe(413);
    const streamed = await postRaw(url, big, { 'Content-Type': 'application/json', 'Stripe-Signature': header }, { chunked: true });
    expect(streamed.status).toBe(413);
    expect(events.calls).toEqual([]);
  });

  it('never writes the webhook secret or the signature into the log', async () => {
    const session = await openSession('ord_logs');
    await deliverWebhook(url, stripeEvent('checkout.session.completed', fake.complete(session.id)), { secret: 'whsec_wrong' });
    await deliverWebhook(url, stripeEvent('checkout.session.completed', session), { secret });
    const text = JSON.stringify(logLines);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('v1=');
  });
});
