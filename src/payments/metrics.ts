import { Counter } from 'prom-client';
import { registry } from '../metrics';

/** Checkout Sessions Stripe created for orders (an idempotent replay is not counted again). */
export const checkoutsCreated = new Counter({
  name: 'transcribe_payments_checkouts_created_total',
  help: 'Stripe Checkout Sessions created for orders',
  registers: [registry],
});

// Counted for every payment method (Stripe here, in-chat invoices in the core): defined with the core's metrics.
export { paymentsSucceeded, revenueCents } from '../orders/metrics';

/** Asynchronous payments that failed (the order is closed and its held seconds returned). */
export const paymentsFailed = new Counter({
  name: 'transcribe_payments_failed_total',
  help: 'Asynchronous payments that failed',
  registers: [registry],
});

/** Checkouts that expired unpaid and expired their order. */
export const checkoutsExpired = new Counter({
  name: 'transcribe_payments_checkouts_expired_total',
  help: 'Checkouts that expired unpaid',
  registers: [registry],
});

/** Every verified webhook delivery by event type (`other` for types the service does not handle) and what came of it. */
export const webhookEvents = new Counter({
  name: 'transcribe_payments_webhook_events_total',
  help: 'Verified Stripe webhook events by type and outcome',
  labelNames: ['type', 'outcome'] as const,
  registers: [registry],
});
