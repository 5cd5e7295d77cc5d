import type Koa from 'koa';
import Stripe from 'stripe';
import type { Logger } from '../log';
import type { PaymentHandler, PaymentNotice, PaymentOutcome } from '../ports/payments';
import { checkoutsExpired, paymentsFailed, paymentsSucceeded, revenueCents, webhookEvents } from './metrics';
import { BodyTooLargeError, readRawBody } from './raw-body';
import { sessionAmount } from './session-amount';
import { REVERSAL_TYPES, handleReversal } from './stripe-reversals';
import type { CheckoutOfPayment } from './stripe-charges';

/** Stripe's events are a few kilobytes; anything near this is not from Stripe. */
export const DEFAULT_WEBHOOK_MAX_BYTES = 1024 * 1024;

export interface StripeWebhookOptions {
  /** `STRIPE_WEBHOOK_SECRET` (`whsec_...`). */
  webhookSecret: string;
  /** The core's handling of payment notices. */
  handler: PaymentHandler;
  log: Logger;
  /** Oldest signature timestamp accepted, in seconds; Stripe's default (300) when absent. */
  toleranceSeconds?: number;
  maxBytes?: number;
  /** Finds the order a refunded or disputed charge paid for; without it such events are ignored. */
  checkoutOfPayment?: CheckoutOfPayment;
}

type Handler = 'paid' | 'pending' | 'failed' | 'expired';

const HANDLED_TYPES = new Set([
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
]);

/**
 * Koa middleware for `POST /webhooks/stripe`. Verifies the signature on the raw body (400 and nothing
 * changed when it is bad or stale), turns checkout events into `PaymentHandler` calls, and answers 200
 * once the core has recorded the outcome, or 500 when the core failed so that Stripe delivers again.
 */
export function stripeWebhook(options: StripeWebhookOptions): Koa.Middleware {
  const { webhookSecret, handler, log } = options;
  const tolerance = options.toleranceSeconds ?? Stripe.webhooks.DEFAULT_TOLERANCE;
  const maxBytes = options.maxBytes ?? DEFAULT_WEBHOOK_MAX_BYTES;

  return async (ctx) => {
    if (ctx.method !== 'POST') {
      ctx.set('Allow', 'POST');
      return reply(ctx, 405, { error: 'method not allowed' });
    }

    let raw: Buffer;
    try {
      raw = await readRawBody(ctx.req, maxBytes);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      log.warn({ limit: maxBytes }, 'stripe webhook body too large');
      // The rest of the body is never read, so the connection cannot be reused.
      ctx.set('Connection', 'close');
      return reply(ctx, 413, { error: 'payload too large' });
    }

    const signature = ctx.get('stripe-signature');
    if (!signature) {
      log.warn('stripe webhook without a signature');
      return reply(ctx, 400, { error: 'missing Stripe-Signature header' });
    }
    let event: Stripe.Event;
    try {
      event = Stripe.webhooks.constructEvent(raw, signature, webhookSecret, tolerance);
    } catch (error) {
      log.warn({ reason: (error as Error).message }, 'stripe webhook signature rejected');
      return reply(ctx, 400, { error: 'invalid signature' });
    }

    if (REVERSAL_TYPES.has(event.type)) return handleReversal(ctx, event, options);
    const typeLabel = HANDLED_TYPES.has(event.type) ? event.type : 'other';
    const call = routeEvent(event);
    if (!call.handler) {
      log.info({ eventId: event.id, type: event.type, reason: call.reason }, 'stripe event ignored');
      webhookEvents.inc({ type: typeLabel, outcome: 'ignored' });
      return reply(ctx, 200, { received: true, outcome: 'ignored' });
    }

    let outcome: PaymentOutcome;
    try {
      outcome = await handler[call.handler](call.notice);
    } catch (error) {
      log.error(
        { err: error, eventId: event.id, type: event.type, orderId: call.notice.orderId },
        'payment event failed; Stripe will retry',
      );
      webhookEvents.inc({ type: typeLabel, outcome: 'error' });
      return reply(ctx, 500, { error: 'internal error' });
    }

    count(call.handler, outcome, call.notice);
    webhookEvents.inc({ type: typeLabel, outcome });
    // Cases off the ordinary path are logged at error level by the core, with what it did.
    log.info(
      { eventId: event.id, type: event.type, orderId: call.notice.orderId, checkoutId: call.notice.checkoutId, outcome },
      'stripe event handled',
    );
    return reply(ctx, 200, { received: true, outcome });
  };
}

type Route = { handler: Handler; notice: PaymentNotice; reason?: undefined } | { handler?: undefined; reason: string };

/** Which core call an event means, if any. */
function routeEvent(event: Stripe.Event): Route {
  if (!HANDLED_TYPES.has(event.type)) return { reason: 'unhandled type' };
  const session = event.data.object as Stripe.Checkout.Session;
  if (session.object !== 'checkout.session') return { reason: 'not a checkout session' };
  const orderId = session.client_reference_id ?? session.metadata?.order_id;
  if (!orderId) return { reason: 'no order id on the session' };
  const notice: PaymentNotice = { eventId: event.id, orderId, checkoutId: session.id, ...sessionAmount(session) };
  switch (event.type) {
    case 'checkout.session.completed':
      // Bank debits and vouchers complete the checkout before the money arrives; their
      // async_payment_succeeded (or _failed) event settles the order later.
      if (session.payment_status === 'unpaid') return { handler: 'pending', notice };
      if (session.payment_status !== 'paid') return { reason: `payment_status ${session.payment_status}` };
      return { handler: 'paid', notice };
    case 'checkout.session.async_payment_succeeded':
      return { handler: 'paid', notice };
    case 'checkout.session.async_payment_failed':
      return { handler: 'failed', notice };
    case 'checkout.session.expired':
      return { handler: 'expired', notice };
    default:
      return { reason: 'unhandled type' };
  }
}

function count(handler: Handler, outcome: PaymentOutcome, notice: PaymentNotice): void {
  if (handler === 'paid' && (outcome === 'applied' || outcome === 'credited')) {
    paymentsSucceeded.inc();
    revenueCents.inc({ currency: notice.currency }, notice.amountCents);
  } else if (handler === 'failed' && outcome === 'applied') {
    paymentsFailed.inc();
  } else if (handler === 'expired' && outcome === 'applied') {
    checkoutsExpired.inc();
  }
}

function reply(ctx: Koa.Context, status: number, body: Record<string, unknown>): void {
  ctx.status = status;
  ctx.body = body;
}
