import type { Config } from '../config';
import type { Logger } from '../log';
import type { ServiceParts } from './service';

/** Stripe when its keys are set; otherwise no payments, and users are told so when their seconds run out. */
export async function paymentsFromConfig(config: Config, log: Logger): Promise<Pick<ServiceParts, 'payments' | 'stripeWebhook'>> {
  if (!config.stripe) {
    log.info('Payments off: STRIPE_SECRET_KEY is not set; only free seconds can be spent');
    return {};
  }
  const { secretKey, webhookSecret, apiBase } = config.stripe;
  const { StripePayments } = await import('../payments/stripe-payments');
  const { stripeWebhook } = await import('../payments/stripe-webhook');
  return {
    payments: new StripePayments({ secretKey, apiBase, publicUrl: config.publicUrl, log: log.child({ part: 'stripe' }) }),
    stripeWebhook: (handler) => stripeWebhook({ webhookSecret, handler, log: log.child({ part: 'stripe-webhook' }) }),
  };
}
