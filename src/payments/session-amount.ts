import type Stripe from 'stripe';

/**
 * What a session charged, in the currency it was created in: with Adaptive Pricing the payer sees (and
 * `amount_total` is in) their own currency, and `currency_conversion` carries the amount in ours.
 */
export function sessionAmount(session: Stripe.Checkout.Session): { amountCents: number; currency: string } {
  const converted = session.currency_conversion;
  if (converted?.source_currency) return { amountCents: converted.amount_total, currency: converted.source_currency.toLowerCase() };
  return { amountCents: session.amount_total ?? 0, currency: (session.currency ?? '').toLowerCase() };
}
