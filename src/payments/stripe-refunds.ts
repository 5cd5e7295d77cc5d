import type Stripe from 'stripe';
import type { PaymentRefund, PaymentRefunds } from '../ports/payments';
import { stripeClient, type StripeClientOptions } from './stripe-client';

/** The idempotency key for the refund of a checkout's payment: a retried call within Stripe's 24 hours makes no second one. */
export const refundIdempotencyKey = (checkoutId: string): string => `refund-${checkoutId}`;

/**
 * Refunds through Stripe: the checkout session gives the payment intent, and the whole of it is
 * refunded. Exactly once per order: before creating, the intent's refunds are read (Stripe forgets
 * idempotency keys after a day, a refund is forever), and the create call carries an idempotency key
 * for the moments between.
 */
export class StripeRefunds implements PaymentRefunds {
  private readonly stripe: Stripe;

  constructor(options: StripeClientOptions) {
    this.stripe = stripeClient(options);
  }

  async refundCheckout({ orderId, checkoutId }: { orderId: string; checkoutId: string }): Promise<PaymentRefund> {
    const session = await this.stripe.checkout.sessions.retrieve(checkoutId);
    const intent = typeof session.payment_intent === 'string' ? session.payment_intent : session.payment_intent?.id;
    if (!intent || session.payment_status !== 'paid')
      throw new Error(`checkout ${checkoutId} was not paid (${session.payment_status}); nothing to refund`);
    const earlier = (await this.stripe.refunds.list({ payment_intent: intent, limit: 100 })).data.filter(
      (r) => r.status !== 'failed' && r.status !== 'canceled',
    );
    const ours = earlier.find((r) => r.metadata?.order_id === orderId);
    if (!ours && earlier.length > 0 && earlier.reduce((sum, r) => sum + r.amount, 0) >= (session.amount_total ?? 0)) {
      // Refunded in full by other means (Stripe's dashboard): that is the refund to record.
      return {
        id: earlier.map((r) => r.id).join(','),
        amountCents: earlier.reduce((sum, r) => sum + r.amount, 0),
        currency: earlier[0]!.currency,
        status: earlier[0]!.status ?? 'pending',
      };
    }
    const made = ours;
    const refund =
      made ??
      (await this.stripe.refunds.create(
        { payment_intent: intent, reason: 'requested_by_customer', metadata: { order_id: orderId } },
        { idempotencyKey: refundIdempotencyKey(checkoutId) },
      ));
    if (refund.status === 'failed' || refund.status === 'canceled') throw new Error(`Stripe refund ${refund.id} ${refund.status}`);
    return { id: refund.id, amountCents: refund.amount, currency: refund.currency, status: refund.status ?? 'pending' };
  }
}
