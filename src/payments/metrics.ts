import { Counter } from 'prom-client';
import { registry } from '../metrics';

/** Checkout Sessions Stripe created for orders (an idempotent replay is not counted again). */
export const checkoutsCreated = new Counter({
  name: 'transcribe_payments_checkouts_created_total',
  help: 'Stripe Checkout Sessions created for orders',
  registers: [registry],
});

/** Payments received through the webhook and credited (transcribed or kept as balance; replays not counted). */
export const paymentsSucceeded = new Counter({
  name: 'transcribe_payments_succeeded_total',
  help: 'Payments received and credited',
  registers: [registry],
});

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

/** Money received, in the currency's smallest unit. */
export const revenueCents = new Counter({
  name: 'transcribe_payments_revenue_cents_total',
  help: 'Revenue applied to orders, in the smallest currency unit',
  labelNames: ['currency'] as const,
  registers: [registry],
});

/** Every verified webhook delivery by event type (`other` for types the service does not handle) and what came of it. */
export const webhookEvents = new Counter({
  name: 'transcribe_payments_webhook_events_total',
  help: 'Verified Stripe webhook events by type and outcome',
  labelNames: ['type', 'outcome'] as const,
  registers: [registry],
});
