import type { AdminTools } from '../admin/cli';
import { silentLogger } from '../log';
import { paymentMethodsFromConfig } from './payments';
import { blobStoreFromConfig } from './storage';

/** The adapters behind the admin command: the service's blob store, Stripe refunds when Stripe is configured, and the chat payment methods (Stars). */
export const adminTools: AdminTools = {
  store: blobStoreFromConfig,
  async refunds(config) {
    if (!config.stripe) return undefined;
    const { StripeRefunds } = await import('../payments/stripe-refunds');
    return new StripeRefunds({ secretKey: config.stripe.secretKey, apiBase: config.stripe.apiBase });
  },
  paymentMethods: (config) => paymentMethodsFromConfig(config, silentLogger),
};
