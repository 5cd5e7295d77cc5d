import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

/**
 * A local stand-in for the parts of Stripe's API the service uses: Checkout Sessions, the payment intents
 * that paid them and refunds of those, over the real wire protocol (form-encoded bodies as the SDK sends
 * them, bearer auth, idempotency keys, Stripe's error JSON). Sessions: create, list, retrieve (with
 * `expand[]=payment_intent`) and expire, which like Stripe's refuses a session that is not open. Test
 * controls pay (by card or a delayed method that then settles or fails) or expire a session, refund one
 * as if in Stripe's dashboard, and deliver its signed webhook events.
 */

/** A Checkout Session as the fake keeps it; the fields the service and its tests read. */
export interface FakeSession {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number;
  amount_total: number;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: number;
  currency: string;
  expires_at: number;
  livemode: false;
  metadata: Record<string, string>;
  mode: 'payment';
  payment_intent: string | null;
  payment_status: 'paid' | 'unpaid' | 'no_payment_required';
  /** Adaptive Pricing: the payer's currency is `currency`; this holds the amount in the one the session was created in. */
  currency_conversion: { amount_subtotal: number; amount_total: number; fx_rate: string; source_currency: string } | null;
  status: 'open' | 'complete' | 'expired';
  success_url: string | null;
  url: string | null;
  /** Not a Stripe field on the session object; kept so tests can check what was asked for. */
  line_items_requested: FormValue[];
}

/** The PaymentIntent a completed session created: the fields refunds and tests read. */
export interface FakePaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_received: number;
  currency: string;
  created: number;
  latest_charge: string;
  metadata: Record<string, string>;
  status: 'succeeded' | 'processing' | 'requires_payment_method';
}

/** A refund as Stripe's API answers it. */
export interface FakeRefund {
  id: string;
  object: 'refund';
  amount: number;
  balance_transaction: string | null;
  charge: string;
  created: number;
  currency: string;
  metadata: Record<string, string>;
  payment_intent: string;
  reason: 'duplicate' | 'fraudulent' | 'requested_by_customer' | null;
  receipt_number: null;
  status: 'succeeded' | 'pending' | 'failed' | 'canceled';
}

export type FormValue = string | FormValue[] | { [key: string]: FormValue };

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey?: string;
  stripeVersion?: string;
  /** The parsed form body (nested as Stripe reads it). */
  form: Record<string, FormValue>;
  status: number;
}

export interface FakeStripe {
  /** Base URL for `STRIPE_API_BASE`. */
  readonly url: string;
  /** The key the fake accepts as `Authorization: Bearer`. */
  readonly secretKey: string;
  readonly requests: RecordedRequest[];
  readonly sessions: Map<string, FakeSession>;
  readonly paymentIntents: Map<string, FakePaymentIntent>;
  /** Every refund made, by id, in the order made. */
  readonly refunds: Map<string, FakeRefund>;
  /** Refunds of the payment intent that paid `sessionId`. */
  refundsFor(sessionId: string): FakeRefund[];
  /** Sessions whose `client_reference_id` is the order id. */
  sessionsFor(orderId: string): FakeSession[];
  /** The payer finished the checkout: paid at once by card, or `async` (bank debit) still unpaid. */
  complete(sessionId: string, options?: { async?: boolean }): FakeSession;
  /** The delayed payment of an async checkout arrived. */
  settleAsync(sessionId: string): FakeSession;
  /** The delayed payment of an async checkout failed (its PaymentIntent wants a new payment method). */
  failAsync(sessionId: string): FakeSession;
  /** The PaymentIntent status the fake answers for a session's `payment_intent` when asked to expand it. */
  intentStatus(sessionId: string): string | undefined;
  /** The checkout ran out of time unpaid. */
  expire(sessionId: string): FakeSession;
  /** Someone refunded the session's payment in Stripe's dashboard (not through the API the service calls). */
  refundInDashboard(sessionId: string): FakeRefund;
  /** The charge that paid `sessionId`, as a `charge.refunded` event carries it (`amount_refunded` from the refunds made). */
  chargeFor(sessionId: string): object;
  /** A dispute of the charge that paid `sessionId`, as `charge.dispute.*` events carry it. */
  disputeFor(sessionId: string, options: { id: string; status: string; amount?: number }): object;
  /** The next `count` answers are lost after the work is done (socket destroyed), as on a network cut. */
  dropResponses(count: number): void;
  close(): Promise<void>;
}

const MIN_TTL = 30 * 60;
const MAX_TTL = 24 * 60 * 60;
/** Stripe's minimum charge per currency, in the smallest unit (the ones tests may meet). */
const MINIMUM_CHARGE: Record<string, number> = { usd: 50, eur: 50, gbp: 30, cad: 50, aud: 50, chf: 50, jpy: 50 };
const MAXIMUM_CHARGE = 99_999_999;

class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: { type: string; message: string; param?: string; code?: string },
  ) {
    super(body.message);
  }
}

const invalid = (message: string, param?: string, code = 'parameter_invalid'): StripeApiError =>
  new StripeApiError(400, { type: 'invalid_request_error', message, ...(param ? { param } : {}), code });

/** Starts the fake on a random loopback port. */
export async function startFakeStripe(options: { secretKey?: string } = {}): Promise<FakeStripe> {
  const secretKey = options.secretKey ?? `sk_test_${token(24)}`;
  const sessions = new Map<string, FakeSession>();
  const paymentIntents = new Map<string, FakePaymentIntent>();
  const refunds = new Map<string, FakeRefund>();
  const requests: RecordedRequest[] = [];
  const idempotent = new Map<string, { body: string; path: string; status: number; response: string }>();
  let toDrop = 0;
  let baseUrl = '';

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const form = req.method === 'GET' ? parseForm(url.searchParams) : parseForm(new URLSearchParams(body));
    const idempotencyKey = header(req, 'idempotency-key');
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      idempotencyKey,
      stripeVersion: header(req, 'stripe-version'),
      form,
      status: 0,
    };
    requests.push(record);

    const send = (status: number, json: string, headers: Record<string, string> = {}): void => {
      record.status = status;
      if (toDrop > 0) {
        toDrop -= 1;
        res.socket?.destroy();
        return;
      }
      res.writeHead(status, { 'Content-Type': 'application/json', 'Request-Id': `req_${token(14)}`, ...headers });
      res.end(json);
    };

    try {
      if (url.pathname.startsWith('/c/pay/')) {
        res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>Checkout</title><p>Pay here.</p>');
        return;
      }
      if (header(req, 'authorization') !== `Bearer ${secretKey}`) {
        throw new StripeApiError(401, {
          type: 'invalid_request_error',
          message: 'Invalid API Key provided: ' + redactKey(header(req, 'authorization')),
        });
      }
      const creates: Record<string, () => object> = {
        '/v1/checkout/sessions': () => {
          const session = createSession(form);
          sessions.set(session.id, session);
          return present(session);
        },
        '/v1/refunds': () => {
          const refund = createRefund(form);
          refunds.set(refund.id, refund);
          return refund;
        },
      };
      const create = req.method === 'POST' ? creates[url.pathname] : undefined;
      if (create) {
        if (idempotencyKey) {
          const previous = idempotent.get(idempotencyKey);
          if (previous) {
            if (previous.body !== body || previous.path !== url.pathname) {
              throw new StripeApiError(400, {
                type: 'idempotency_error',
                message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
              });
            }
            return send(previous.status, previous.response, { 'Idempotent-Replayed': 'true', 'Idempotency-Key': idempotencyKey });
          }
        }
        const response = JSON.stringify(create());
        // Like Stripe, only requests that got past validation are remembered under their key.
        if (idempotencyKey) idempotent.set(idempotencyKey, { body, path: url.pathname, status: 200, response });
        return send(200, response, idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {});
      }
      if (req.method === 'GET' && url.pathname === '/v1/checkout/sessions') {
        return send(200, JSON.stringify(list(form)));
      }
      if (req.method === 'GET' && url.pathname === '/v1/refunds') {
        return send(200, JSON.stringify(listRefunds(form)));
      }
      const intentMatch = /^\/v1\/payment_intents\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && intentMatch) {
        return send(200, JSON.stringify(intentOf(decodeURIComponent(intentMatch[1]!), 'intent')));
      }
      const match = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'GET' && match) {
        const session = find(match[1]!);
        return send(200, JSON.stringify(expand(present(session), form.expand)));
      }
      const expireMatch = /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/.exec(url.pathname);
      if (req.method === 'POST' && expireMatch) {
        const session = find(expireMatch[1]!);
        if (session.status !== 'open') {
          throw invalid(
            `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
            undefined,
            'checkout_session_not_open',
          );
        }
        session.status = 'expired';
        session.url = null;
        return send(200, JSON.stringify(present(session)));
      }
      throw new StripeApiError(404, {
        type: 'invalid_request_error',
        message: `Unrecognized request URL (${req.method}: ${url.pathname}).`,
      });
    } catch (error) {
      if (error instanceof StripeApiError) return send(error.status, JSON.stringify({ error: error.body }));
      send(500, JSON.stringify({ error: { type: 'api_error', message: String(error) } }));
    }
  }

  function find(rawId: string): FakeSession {
    const session = sessions.get(decodeURIComponent(rawId));
    if (!session) {
      throw new StripeApiError(404, {
        type: 'invalid_request_error',
        message: `No such checkout.session: '${rawId}'`,
        param: 'session',
        code: 'resource_missing',
      });
    }
    return session;
  }

  /** Replaces `payment_intent` with the object when asked (`expand[0]=payment_intent` or `expand[]=...`). */
  function expand(session: ReturnType<typeof present>, fields: FormValue | undefined): object {
    const wanted = Array.isArray(fields) ? fields : fields === undefined ? [] : [fields];
    if (!wanted.includes('payment_intent') || !session.payment_intent) return session;
    const id = session.payment_intent;
    return {
      ...session,
      payment_intent: {
        id,
        object: 'payment_intent',
        amount: session.amount_total,
        currency: session.currency,
        status: paymentIntents.get(id)?.status ?? 'processing',
      },
    };
  }

  function createSession(form: Record<string, FormValue>): FakeSession {
    const now = Math.floor(Date.now() / 1000);
    const mode = str(form, 'mode');
    if (mode === undefined) throw invalid('Missing required param: mode.', 'mode', 'parameter_missing');
    if (mode !== 'payment') throw invalid(`Invalid mode: this fake only supports payment, got ${mode}`, 'mode');

    const items = form.line_items;
    if (!Array.isArray(items) || items.length === 0) {
      throw invalid('Missing required param: line_items.', 'line_items', 'parameter_missing');
    }
    let total = 0;
    let currency: string | undefined;
    items.forEach((item, i) => {
      const param = `line_items[${i}]`;
      if (typeof item !== 'object' || Array.isArray(item)) throw invalid('Invalid object', param);
      const quantity = integer(item.quantity, `${param}[quantity]`) ?? 1;
      if (quantity < 1) throw invalid('This value must be greater than or equal to 1.', `${param}[quantity]`);
      const priceData = item.price_data;
      if (typeof priceData !== 'object' || Array.isArray(priceData)) {
        throw invalid('You must specify either `price` or `price_data` for each line item.', param, 'parameter_missing');
      }
      const itemCurrency = typeof priceData.currency === 'string' ? priceData.currency.toLowerCase() : undefined;
      if (!itemCurrency) throw invalid('Missing required param: currency.', `${param}[price_data][currency]`, 'parameter_missing');
      if (!/^[a-z]{3}$/.test(itemCurrency)) throw invalid(`Invalid currency: ${itemCurrency}`, `${param}[price_data][currency]`);
      if (currency && currency !== itemCurrency) throw invalid('All line items must use the same currency.', param);
      currency = itemCurrency;
      const unitAmount = integer(priceData.unit_amount, `${param}[price_data][unit_amount]`);
      if (unitAmount === undefined) {
        throw invalid('Missing required param: unit_amount.', `${param}[price_data][unit_amount]`, 'parameter_missing');
      }
      if (unitAmount < 0) throw invalid('This value must be greater than or equal to 0.', `${param}[price_data][unit_amount]`);
      const product = priceData.product_data;
      if (typeof product !== 'object' || Array.isArray(product) || typeof product.name !== 'string' || product.name === '') {
        throw invalid('Missing required param: name.', `${param}[price_data][product_data][name]`, 'parameter_missing');
      }
      total += unitAmount * quantity;
    });
    const minimum = MINIMUM_CHARGE[currency!] ?? 50;
    if (total < minimum) {
      throw invalid(
        `The Checkout Session's total amount due must add up to at least ${minimum} ${currency} (smallest unit).`,
        'line_items',
        'amount_too_small',
      );
    }
    if (total > MAXIMUM_CHARGE) throw invalid("The Checkout Session's total amount due is too large.", 'line_items', 'amount_too_large');

    const expiresAt = integer(form.expires_at, 'expires_at') ?? now + MAX_TTL;
    if (expiresAt < now + MIN_TTL) {
      throw invalid('The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.', 'expires_at');
    }
    if (expiresAt > now + MAX_TTL) {
      throw invalid('The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.', 'expires_at');
    }
    const successUrl = optionalUrl(form, 'success_url');
    const cancelUrl = optionalUrl(form, 'cancel_url');
    const reference = str(form, 'client_reference_id') ?? null;
    if (reference !== null && (reference.length === 0 || reference.length > 200)) {
      throw invalid('client_reference_id must be 1 to 200 characters.', 'client_reference_id');
    }
    const metadata = parseMetadata(form.metadata);

    const id = `cs_test_${token(58)}`;
    return {
      id,
      object: 'checkout.session',
      amount_subtotal: total,
      amount_total: total,
      cancel_url: cancelUrl,
      client_reference_id: reference,
      created: now,
      currency: currency!,
      expires_at: expiresAt,
      livemode: false,
      metadata,
      mode: 'payment',
      payment_intent: null,
      payment_status: 'unpaid',
      currency_conversion: null,
      status: 'open',
      success_url: successUrl,
      url: `${baseUrl}/c/pay/${id}`,
      line_items_requested: items,
    };
  }

  function intentOf(id: string, param: string): FakePaymentIntent {
    const intent = paymentIntents.get(id);
    if (!intent) {
      throw new StripeApiError(404, {
        type: 'invalid_request_error',
        message: `No such payment_intent: '${id}'`,
        param,
        code: 'resource_missing',
      });
    }
    return intent;
  }

  function refunded(intentId: string): number {
    return [...refunds.values()]
      .filter((r) => r.payment_intent === intentId && r.status !== 'failed' && r.status !== 'canceled')
      .reduce((sum, r) => sum + r.amount, 0);
  }

  /** `POST /v1/refunds` as Stripe answers it: of a payment intent, in full unless `amount`, never more than is left. */
  function createRefund(form: Record<string, FormValue>, origin: 'api' | 'dashboard' = 'api'): FakeRefund {
    const intentId = str(form, 'payment_intent');
    if (intentId === undefined) {
      throw invalid(
        'One of the following params should be provided for this request: payment_intent or charge.',
        undefined,
        'parameter_missing',
      );
    }
    const intent = intentOf(intentId, 'payment_intent');
    if (intent.status !== 'succeeded') {
      throw invalid(
        `This PaymentIntent (${intent.id}) does not have a successful charge to refund.`,
        'payment_intent',
        'charge_not_refundable',
      );
    }
    const left = intent.amount_received - refunded(intent.id);
    if (left <= 0) throw invalid(`Charge ${intent.latest_charge} has already been refunded.`, undefined, 'charge_already_refunded');
    const amount = integer(form.amount, 'amount') ?? left;
    if (amount < 1) throw invalid('This value must be greater than or equal to 1.', 'amount');
    if (amount > left) {
      throw invalid(`Refund amount (${amount}) is greater than unrefunded amount on charge (${left})`, 'amount', 'amount_too_large');
    }
    const reason = str(form, 'reason') ?? null;
    if (reason !== null && !['duplicate', 'fraudulent', 'requested_by_customer'].includes(reason)) {
      throw invalid(`Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer`, 'reason');
    }
    return {
      id: `re_${token(24)}`,
      object: 'refund',
      amount,
      balance_transaction: `txn_${token(24)}`,
      charge: intent.latest_charge,
      created: Math.floor(Date.now() / 1000),
      currency: intent.currency,
      metadata: origin === 'api' ? parseMetadata(form.metadata) : {},
      payment_intent: intent.id,
      reason: reason as FakeRefund['reason'],
      receipt_number: null,
      status: 'succeeded',
    };
  }

  function listRefunds(query: Record<string, FormValue>): object {
    const intent = str(query, 'payment_intent');
    const limit = Math.min(integer(query.limit, 'limit') ?? 10, 100);
    const all = [...refunds.values()].reverse().filter((r) => intent === undefined || r.payment_intent === intent);
    return { object: 'list', data: all.slice(0, limit), has_more: all.length > limit, url: '/v1/refunds' };
  }

  function list(query: Record<string, FormValue>): object {
    const status = str(query, 'status');
    const created = query.created;
    const gte = typeof created === 'object' && !Array.isArray(created) ? integer(created.gte, 'created[gte]') : undefined;
    const limit = Math.min(integer(query.limit, 'limit') ?? 10, 100);
    const after = str(query, 'starting_after');
    let all = [...sessions.values()].reverse();
    if (status) all = all.filter((s) => s.status === status);
    const intent = str(query, 'payment_intent');
    if (intent) all = all.filter((s) => s.payment_intent === intent);
    if (gte !== undefined) all = all.filter((s) => s.created >= gte);
    if (after) all = all.slice(all.findIndex((s) => s.id === after) + 1);
    const page = all.slice(0, limit);
    return { object: 'list', data: page.map(present), has_more: all.length > page.length, url: '/v1/checkout/sessions' };
  }

  function get(sessionId: string): FakeSession {
    const session = sessions.get(sessionId);
    if (!session) throw new Error(`no such session ${sessionId}`);
    return session;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url: baseUrl,
    secretKey,
    requests,
    sessions,
    paymentIntents,
    refunds,
    refundsFor: (sessionId) => [...refunds.values()].filter((r) => r.payment_intent === get(sessionId).payment_intent),
    sessionsFor: (orderId) => [...sessions.values()].filter((s) => s.client_reference_id === orderId),
    complete(sessionId, options = {}) {
      const session = get(sessionId);
      session.status = 'complete';
      session.payment_status = options.async ? 'unpaid' : 'paid';
      session.payment_intent = `pi_${token(24)}`;
      paymentIntents.set(session.payment_intent, {
        id: session.payment_intent,
        object: 'payment_intent',
        amount: session.amount_total,
        amount_received: options.async ? 0 : session.amount_total,
        currency: session.currency,
        created: Math.floor(Date.now() / 1000),
        latest_charge: `ch_${token(24)}`,
        metadata: { ...session.metadata },
        status: options.async ? 'processing' : 'succeeded',
      });
      return session;
    },
    settleAsync(sessionId) {
      const session = get(sessionId);
      session.payment_status = 'paid';
      const intent = session.payment_intent ? paymentIntents.get(session.payment_intent) : undefined;
      if (intent) Object.assign(intent, { status: 'succeeded', amount_received: intent.amount });
      return session;
    },
    failAsync(sessionId) {
      const session = get(sessionId);
      const intent = session.payment_intent ? paymentIntents.get(session.payment_intent) : undefined;
      if (intent) intent.status = 'requires_payment_method';
      return session;
    },
    intentStatus: (sessionId) => {
      const id = get(sessionId).payment_intent;
      return id ? paymentIntents.get(id)?.status : undefined;
    },
    refundInDashboard(sessionId) {
      const intent = get(sessionId).payment_intent;
      if (!intent) throw new Error(`session ${sessionId} was not paid`);
      const refund = createRefund({ payment_intent: intent }, 'dashboard');
      refunds.set(refund.id, refund);
      return refund;
    },
    expire(sessionId) {
      const session = get(sessionId);
      session.status = 'expired';
      session.url = null;
      return session;
    },
    chargeFor(sessionId) {
      const intent = intentOf(get(sessionId).payment_intent ?? '', 'payment_intent');
      const amountRefunded = refunded(intent.id);
      return {
        id: intent.latest_charge,
        object: 'charge',
        amount: intent.amount_received,
        amount_captured: intent.amount_received,
        amount_refunded: amountRefunded,
        captured: true,
        created: intent.created,
        currency: intent.currency,
        disputed: false,
        livemode: false,
        metadata: {},
        paid: true,
        payment_intent: intent.id,
        refunded: amountRefunded >= intent.amount_received,
        status: 'succeeded',
      };
    },
    disputeFor(sessionId, { id, status, amount }) {
      const intent = intentOf(get(sessionId).payment_intent ?? '', 'payment_intent');
      return {
        id,
        object: 'dispute',
        amount: amount ?? intent.amount_received,
        charge: intent.latest_charge,
        created: Math.floor(Date.now() / 1000),
        currency: intent.currency,
        is_charge_refundable: false,
        livemode: false,
        metadata: {},
        payment_intent: intent.id,
        reason: 'fraudulent',
        status,
      };
    },
    dropResponses(count) {
      toDrop = count;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** The session as Stripe's API answers it (without the fake's bookkeeping). */
function present(session: FakeSession): Omit<FakeSession, 'line_items_requested'> {
  const { line_items_requested: _omitted, ...visible } = session;
  return visible;
}

export type CheckoutEventType =
  | 'checkout.session.completed'
  | 'checkout.session.async_payment_succeeded'
  | 'checkout.session.async_payment_failed'
  | 'checkout.session.expired'
  | (string & {});

/** A Stripe event carrying a snapshot of `object` (normally a session), shaped like Stripe's. */
export function stripeEvent(type: CheckoutEventType, object: object, options: { id?: string; created?: number } = {}): object {
  const snapshot = 'line_items_requested' in object ? present(object as FakeSession) : object;
  return {
    id: options.id ?? `evt_${token(24)}`,
    object: 'event',
    api_version: Stripe.API_VERSION,
    created: options.created ?? Math.floor(Date.now() / 1000),
    data: { object: structuredClone(snapshot) },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
}

export interface Delivery {
  status: number;
  body: string;
}

/**
 * Posts `event` to a webhook URL as Stripe does: the JSON body and a `Stripe-Signature` header made with
 * the SDK's own test helper. `timestamp` (seconds) lets a test send a stale signature.
 */
export async function deliverWebhook(url: string, event: object, options: { secret: string; timestamp?: number }): Promise<Delivery> {
  const payload = JSON.stringify(event, null, 2);
  const signature = Stripe.webhooks.generateTestHeaderString({
    payload,
    secret: options.secret,
    timestamp: options.timestamp ?? Math.floor(Date.now() / 1000),
  });
  return postRaw(url, Buffer.from(payload), { 'Content-Type': 'application/json; charset=utf-8', 'Stripe-Signature': signature });
}

/**
 * A POST with exact bytes and headers, answered even when the server closes early. `chunked` sends the
 * body in pieces without a declared length, as a streaming client would.
 */
export function postRaw(
  url: string,
  body: Buffer,
  headers: Record<string, string>,
  options: { chunked?: boolean } = {},
): Promise<Delivery> {
  return new Promise((resolve, reject) => {
    const length: Record<string, string> = options.chunked ? {} : { 'Content-Length': String(body.length) };
    const req = httpRequest(url, { method: 'POST', headers: { ...headers, ...length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // A server refusing a large body may close before taking all of it; the answer still counts.
    req.on('error', (error) => {
      if (!req.writableFinished && 'code' in error && (error.code === 'EPIPE' || error.code === 'ECONNRESET')) return;
      reject(error);
    });
    if (!options.chunked) return void req.end(body);
    const piece = 64 * 1024;
    for (let offset = 0; offset < body.length; offset += piece) req.write(body.subarray(offset, offset + piece));
    req.end();
  });
}

/** Parses Stripe's bracketed form encoding (`a[b][0][c]=v`) into nested objects and arrays. */
export function parseForm(params: URLSearchParams): Record<string, FormValue> {
  const root: Record<string, FormValue> = {};
  for (const [key, value] of params) {
    const path = key.split(/[[\]]+/).filter((part) => part !== '');
    let node: Record<string, FormValue> | FormValue[] = root;
    path.forEach((part, i) => {
      const last = i === path.length - 1;
      const container = node as Record<string, FormValue>;
      if (last) {
        container[part] = value;
        return;
      }
      const nextIsIndex = /^\d+$/.test(path[i + 1]!);
      container[part] ??= nextIsIndex ? [] : {};
      node = container[part] as Record<string, FormValue> | FormValue[];
    });
  }
  return root;
}

function parseMetadata(value: FormValue | undefined): Record<string, string> {
  if (value === undefined || value === '') return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalid('Invalid object', 'metadata');
  const entries = Object.entries(value);
  if (entries.length > 50) throw invalid('You can specify up to 50 metadata keys.', 'metadata');
  const metadata: Record<string, string> = {};
  for (const [key, v] of entries) {
    if (key.length > 40) throw invalid('Metadata keys can be at most 40 characters.', `metadata[${key}]`);
    if (typeof v !== 'string' || v.length > 500)
      throw invalid('Metadata values must be strings of at most 500 characters.', `metadata[${key}]`);
    metadata[key] = v;
  }
  return metadata;
}

function optionalUrl(form: Record<string, FormValue>, name: string): string | null {
  const value = str(form, name);
  if (value === undefined) return null;
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw invalid('Not a valid URL', name, 'url_invalid');
  }
  return value;
}

function str(form: Record<string, FormValue>, name: string): string | undefined {
  const value = form[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`Invalid string: ${name}`, name);
  return value;
}

function integer(value: FormValue | undefined, param: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^-?\d+$/.test(value))
    throw invalid(`Invalid integer: ${typeof value === 'string' ? value : JSON.stringify(value)}`, param, 'parameter_invalid_integer');
  return Number(value);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function redactKey(authorization: string | undefined): string {
  const key = authorization?.replace(/^Bearer /, '') ?? '';
  return key.length > 8 ? `${key.slice(0, 8)}***${key.slice(-4)}` : '***';
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function token(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte % ALPHABET.length];
  return out;
}
