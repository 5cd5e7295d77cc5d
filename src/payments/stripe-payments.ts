import Stripe from 'stripe';
import type { Logger } from '../log';
import type { Checkout, CheckoutRequest, CheckoutStatus, Payments } from '../ports/payments';
import { checkoutsCreated } from './metrics';
import { sessionAmount } from './session-amount';

/** Stripe accepts a Checkout Session lifetime from 30 minutes to 24 hours. */
export const MIN_CHECKOUT_TTL_SECONDS = 30 * 60;
export const MAX_CHECKOUT_TTL_SECONDS = 24 * 60 * 60;
/** Room for a slow request and a few seconds of clock difference with Stripe at the 30-minute minimum. */
const CLOCK_SLACK_SECONDS = 60;

export interface StripePaymentsOptions {
  secretKey: string;
  /** `STRIPE_API_BASE`, e.g. `http://127.0.0.1:12111`; Stripe's own API when absent. */
  apiBase?: string;
  /** `PUBLIC_URL`: where the payer's browser comes back to after the checkout. */
  publicUrl: string;
  /** How long a payment link stays payable; default one hour. */
  checkoutTtlSeconds?: number;
  /** Network retries per call, with the SDK's backoff; default 2. */
  maxNetworkRetries?: number;
  /** Per-request timeout; default 30 s. */
  timeoutMs?: number;
  log: Logger;
}

/** The idempotency key for an order's checkout: a retried call can never create a second session. */
export const checkoutIdempotencyKey = (orderId: string): string => `checkout-${orderId}`;

/**
 * The `Payments` port on Stripe Checkout: one hosted Checkout Session per order, in the currency and for
 * the amount the core quoted, carrying the order id so the webhook can find the order again.
 */
export class StripePayments implements Payments {
  private readonly stripe: Stripe;
  private readonly ttlSeconds: number;
  private readonly publicUrl: string;
  private readonly log: Logger;
  /**
   * The `expires_at` first sent for each order. Stripe refuses an idempotency key reused with different
   * parameters, so a retry of the same order in this process must send the very same expiry.
   */
  private readonly expiries = new Map<string, number>();

  constructor(options: StripePaymentsOptions) {
    this.ttlSeconds = options.checkoutTtlSeconds ?? 60 * 60;
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < MIN_CHECKOUT_TTL_SECONDS || this.ttlSeconds > MAX_CHECKOUT_TTL_SECONDS) {
      throw new RangeError(
        `checkout lifetime must be ${MIN_CHECKOUT_TTL_SECONDS}..${MAX_CHECKOUT_TTL_SECONDS} seconds, got ${this.ttlSeconds}`,
      );
    }
    this.publicUrl = options.publicUrl.replace(/\/+$/, '');
    this.log = options.log;
    this.stripe = new Stripe(options.secretKey, {
      ...apiBaseConfig(options.apiBase),
      maxNetworkRetries: options.maxNetworkRetries ?? 2,
      timeout: options.timeoutMs ?? 30_000,
      telemetry: false,
      appInfo: { name: 'transcribe-service' },
    });
  }

  /** Creates the order's Checkout Session, or returns the one already made for it. */
  async createCheckout(request: CheckoutRequest): Promise<Checkout> {
    assertAmount(request);
    const params = this.sessionParams(request);
    const idempotencyKey = checkoutIdempotencyKey(request.orderId);
    let session: Stripe.Checkout.Session;
    let created: boolean;
    try {
      const response = await this.stripe.checkout.sessions.create(params, { idempotencyKey });
      session = response;
      created = response.lastResponse?.headers?.['idempotent-replayed'] !== 'true';
    } catch (error) {
      // After a restart the expiry differs from the first attempt's, so Stripe refuses the key: the
      // session made then is still the order's one, and still payable if it is open.
      if (!(error instanceof Stripe.errors.StripeIdempotencyError)) throw error;
      const existing = await this.findOpenSession(request.orderId);
      if (!existing) throw error;
      this.log.info({ orderId: request.orderId, checkoutId: existing.id }, "reusing the order's open checkout");
      session = existing;
      created = false;
    }
    if (!session.url) throw new Error(`checkout ${session.id} has no url`);
    if (created) checkoutsCreated.inc();
    this.log.info(
      {
        orderId: request.orderId,
        checkoutId: session.id,
        amountCents: request.amountCents,
        currency: request.currency.toLowerCase(),
        created,
      },
      'checkout ready',
    );
    return { id: session.id, url: session.url, expiresAt: new Date(session.expires_at * 1000) };
  }

  /** Retrieves the session (with its PaymentIntent, to tell a delayed payment on its way from a failed one). */
  async checkoutStatus(checkoutId: string): Promise<CheckoutStatus | undefined> {
    let session: Stripe.Checkout.Session;
    try {
      session = await this.stripe.checkout.sessions.retrieve(checkoutId, { expand: ['payment_intent'] });
    } catch (error) {
      if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'resource_missing') return undefined;
      throw error;
    }
    return statusOf(session);
  }

  /** Expires an open session (`POST /v1/checkout/sessions/:id/expire`) and reads back where it stands. */
  async closeCheckout(checkoutId: string): Promise<CheckoutStatus | undefined> {
    try {
      await this.stripe.checkout.sessions.expire(checkoutId);
      this.log.info({ checkoutId }, 'checkout closed');
    } catch (error) {
      // Only an open session can be expired: this one was paid or expired meanwhile, which the read-back tells.
      if (!(error instanceof Stripe.errors.StripeInvalidRequestError)) throw error;
    }
    return this.checkoutStatus(checkoutId);
  }

  private sessionParams(request: CheckoutRequest): Stripe.Checkout.SessionCreateParams {
    const metadata = { order_id: request.orderId, user_id: request.userId };
    return {
      mode: 'payment',
      line_items: [
        {
          quantity: 1,
          price_data: {
            currency: request.currency.toLowerCase(),
            unit_amount: request.amountCents,
            product_data: { name: request.description },
          },
        },
      ],
      client_reference_id: request.orderId,
      metadata,
      payment_intent_data: { metadata },
      expires_at: this.expiryFor(request.orderId),
      success_url: `${this.publicUrl}/pay/success?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${this.publicUrl}/pay/cancel`,
    };
  }

  private expiryFor(orderId: string): number {
    const now = Math.floor(Date.now() / 1000);
    for (const [id, expiresAt] of this.expiries) if (expiresAt <= now) this.expiries.delete(id);
    let expiresAt = this.expiries.get(orderId);
    // Stripe counts the 30 minutes from its own clock at creation; a stale first expiry would be refused,
    // and so would one made at exactly the minimum by a request that took a second to arrive.
    if (expiresAt === undefined || expiresAt - now < MIN_CHECKOUT_TTL_SECONDS + CLOCK_SLACK_SECONDS) {
      expiresAt = now + Math.max(this.ttlSeconds, MIN_CHECKOUT_TTL_SECONDS + CLOCK_SLACK_SECONDS);
      this.expiries.set(orderId, expiresAt);
    }
    return expiresAt;
  }

  /** The open session made for an order in the last day (Stripe cannot filter by reference, so scan). */
  private async findOpenSession(orderId: string): Promise<Stripe.Checkout.Session | undefined> {
    const since = Math.floor(Date.now() / 1000) - MAX_CHECKOUT_TTL_SECONDS;
    for await (const session of this.stripe.checkout.sessions.list({ status: 'open', created: { gte: since }, limit: 100 })) {
      if (session.client_reference_id === orderId || session.metadata?.order_id === orderId) return session;
    }
    return undefined;
  }
}

/** Where a session stands, in the port's terms. */
function statusOf(session: Stripe.Checkout.Session): CheckoutStatus {
  const amount = sessionAmount(session);
  if (session.status === 'open') return { state: 'open', ...amount };
  if (session.status === 'expired') return { state: 'expired', ...amount };
  if (session.payment_status !== 'unpaid') return { state: 'paid', ...amount };
  // Complete but unpaid: a delayed method. Its PaymentIntent says whether the money is still coming.
  const intent = typeof session.payment_intent === 'object' ? session.payment_intent : null;
  if (intent?.status === 'succeeded') return { state: 'paid', ...amount };
  if (intent?.status === 'requires_payment_method' || intent?.status === 'canceled') return { state: 'failed', ...amount };
  return { state: 'pending', ...amount };
}

/** Host, port and protocol for the SDK from a base URL such as `http://127.0.0.1:12111`. */
function apiBaseConfig(apiBase: string | undefined): Pick<Stripe.StripeConfig, 'host' | 'port' | 'protocol'> {
  if (!apiBase) return {};
  const url = new URL(apiBase);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`STRIPE_API_BASE must be http(s): ${apiBase}`);
  if (url.pathname !== '/' && url.pathname !== '') throw new RangeError(`STRIPE_API_BASE must not have a path: ${apiBase}`);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: url.port || (protocol === 'http' ? 80 : 443), protocol };
}

function assertAmount(request: CheckoutRequest): void {
  if (!Number.isSafeInteger(request.amountCents) || request.amountCents <= 0) {
    throw new RangeError(`checkout amount must be a positive whole number of cents, got ${request.amountCents}`);
  }
  if (!/^[a-z]{3}$/i.test(request.currency)) throw new RangeError(`currency must be an ISO 4217 code, got ${request.currency}`);
}
