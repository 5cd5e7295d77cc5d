import type { Config } from '../config';
import type { Logger } from '../log';
import { PaymentMethods } from '../orders/payment-methods';
import type { ServiceParts } from './service';

/** What the composition root builds for payments; `stars` also goes to the Telegram channel. */
export type PaymentParts = Pick<ServiceParts, 'payments' | 'stripeWebhook' | 'channelPayments'> & {
  stars?: import('../../bots/telegram').TelegramStars;
};

/**
 * Stripe when its keys are set (email, Discord, and Telegram when TELEGRAM_PAYMENTS=stripe); Telegram Stars
 * for the Telegram bot by default, as Telegram's rules require for digital services. Without either, only
 * free seconds are spent, and users are told so when their seconds run out.
 */
export async function paymentsFromConfig(config: Config, log: Logger): Promise<PaymentParts> {
  const parts: PaymentParts = {};
  if (config.telegram?.stars) {
    const { createTelegramStars } = await import('../../bots/telegram');
    const { token, apiRoot, stars } = config.telegram;
    parts.stars = createTelegramStars({ token, apiRoot, log });
    const prices = { pricePerMinuteCents: stars.perMinute, minimumPaymentCents: stars.minimum, currency: 'xtr' };
    parts.channelPayments = { telegram: { payments: parts.stars, prices } };
    log.info({ starsPerMinute: stars.perMinute, starsMinimum: stars.minimum }, 'Telegram payments: Telegram Stars');
  }
  if (!config.stripe) {
    log.info('Stripe off: STRIPE_SECRET_KEY is not set; email and Discord users can spend only free seconds');
    return parts;
  }
  const { secretKey, webhookSecret, apiBase } = config.stripe;
  const { StripePayments } = await import('../payments/stripe-payments');
  const { stripeWebhook } = await import('../payments/stripe-webhook');
  const { checkoutOfPayment } = await import('../payments/stripe-charges');
  const findCheckout = checkoutOfPayment({ secretKey, apiBase });
  return {
    ...parts,
    payments: new StripePayments({ secretKey, apiBase, publicUrl: config.publicUrl, log: log.child({ part: 'stripe' }) }),
    stripeWebhook: (handler) =>
      stripeWebhook({ webhookSecret, handler, checkoutOfPayment: findCheckout, log: log.child({ part: 'stripe-webhook' }) }),
  };
}

/**
 * The payment methods alone, as the service chooses them (Stripe, and Stars for Telegram), for a process
 * that only needs the providers, such as the admin command refunding an order (`refundInvoiceCharges`).
 */
export async function paymentMethodsFromConfig(config: Config, log: Logger): Promise<PaymentMethods> {
  const { payments, channelPayments } = await paymentsFromConfig(config, log);
  return new PaymentMethods(payments ? { payments, prices: config.pricing } : undefined, channelPayments);
}
