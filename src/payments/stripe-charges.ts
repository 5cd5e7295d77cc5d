import type Stripe from 'stripe';
import { stripeClient, type StripeClientOptions } from './stripe-client';

/** The order and checkout a payment paid for. */
export interface PaidCheckout {
  orderId: string;
  checkoutId: string;
  /** What the session charged, in the currency the payer paid in (that of the charge and its disputes). */
  chargedCents: number;
}

/** Finds the checkout a payment intent paid for; undefined when none of this service's did. */
export type CheckoutOfPayment = (paymentIntentId: string) => Promise<PaidCheckout | undefined>;

/**
 * Asks Stripe which Checkout Session a payment intent belongs to, for refunds and disputes: their events
 * name the charge and its payment intent, never the session or the order.
 */
export function checkoutOfPayment(options: StripeClientOptions): CheckoutOfPayment {
  const stripe: Stripe = stripeClient(options);
  return async (paymentIntentId) => {
    const { data } = await stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 });
    const session = data[0];
    const orderId = session?.client_reference_id ?? session?.metadata?.order_id;
    return session && orderId ? { orderId, checkoutId: session.id, chargedCents: session.amount_total ?? 0 } : undefined;
  };
}
