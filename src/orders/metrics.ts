import { Counter } from 'prom-client';
import { registry } from '../metrics';

/** Payments received and credited (transcribed or kept as balance; replays not counted), by any method. */
export const paymentsSucceeded = new Counter({
  name: 'transcribe_payments_succeeded_total',
  help: 'Payments received and credited',
  registers: [registry],
});

/** Money received, in the currency's smallest unit: cents, or whole Stars for Telegram Stars (`xtr`). */
export const revenueCents = new Counter({
  name: 'transcribe_payments_revenue_cents_total',
  help: 'Revenue applied to orders, in the smallest currency unit (whole Stars for xtr)',
  labelNames: ['currency'] as const,
  registers: [registry],
});

export const orderMetrics = {
  retries: new Counter({
    name: 'transcribe_order_retries_total',
    help: 'Passing failures (runner API, storage) after which an order is tried again later, by step',
    labelNames: ['step'],
    registers: [registry],
  }),
  finished: new Counter({
    name: 'transcribe_orders_finished_total',
    help: 'Orders finished, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  }),
  /** Alert on `reason="unavailable"` rising for a while: the runner's API is down and queued orders are waiting. */
  submitFailures: new Counter({
    name: 'transcribe_runner_submit_failures_total',
    help: 'Orders the runner did not take, by reason: unavailable (its API down or throttled; the order waits), refused (this job refused; counts against its tries)',
    labelNames: ['reason'],
    registers: [registry],
  }),
};

/** Every way a payment can leave the ordinary path (paid as quoted, or expired unpaid), for the operator. */
export const paymentCaseNames = [
  'late_transcribed',
  'late_credited',
  'extra_credited',
  'amount_mismatch_transcribed',
  'underpaid_credited',
  'unpriced_held',
  'unknown_order_held',
  'async_pending',
  'async_failed',
  'sweep_paid',
  'sweep_expired',
  'sweep_closed',
  'reversal_unmatched',
  'debt_recorded',
] as const;

export type PaymentCase = (typeof paymentCaseNames)[number];

/** Payments off the ordinary path by what the service did; each one also has an error-level log line with its order id. */
export const paymentCases = new Counter({
  name: 'transcribe_payments_reconciled_total',
  help: 'Payments off the ordinary path (late, delayed, mismatched, found by the sweep), by what the service did',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
