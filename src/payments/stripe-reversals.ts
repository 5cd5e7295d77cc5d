import type Koa from 'koa';
import type Stripe from 'stripe';
import type { PaymentOutcome, ReversalNotice } from '../ports/payments';
import { webhookEvents } from './metrics';
import type { StripeWebhookOptions } from './stripe-webhook';

/**
 * Events that give a paid checkout's money back: a refund, a dispute opened, its funds withdrawn (how an inquiry
 * that became a chargeback shows), or a dispute closed.
 */
export const REVERSAL_TYPES = new Set([
  'charge.refunded',
  'charge.dispute.created',
  'charge.dispute.funds_withdrawn',
  'charge.dispute.closed',
]);

type Reversal = Omit<ReversalNotice, 'eventId' | 'orderId' | 'checkoutId' | 'chargedCents'> & {
  paymentIntent: string;
  /** The charge's amount when the event carries it (refunds); disputes take it from the session. */
  chargedCents?: number;
};

/**
 * Handles a verified refund or dispute event: finds the order its payment intent paid for (asking Stripe),
 * and hands the core a `ReversalNotice`. 500 when Stripe or the core failed, so Stripe delivers it again.
 */
export async function handleReversal(ctx: Koa.Context, event: Stripe.Event, options: StripeWebhookOptions): Promise<void> {
  const { handler, log, checkoutOfPayment } = options;
  const answer = (status: number, outcome: PaymentOutcome | 'error', fields: Record<string, unknown> = {}): void => {
    webhookEvents.inc({ type: event.type, outcome });
    if (outcome !== 'error') log.info({ eventId: event.id, type: event.type, outcome, ...fields }, 'stripe event handled');
    ctx.status = status;
    ctx.body = status === 200 ? { received: true, outcome } : { error: 'internal error' };
  };
  const reversal = reversalOf(event);
  if (!reversal || !handler.reversed || !checkoutOfPayment) return answer(200, 'ignored');
  try {
    const paid = await checkoutOfPayment(reversal.paymentIntent);
    if (!paid) {
      // Someone else's payment on the same Stripe account (or one made by hand): nothing of ours to take back.
      log.warn(
        { eventId: event.id, type: event.type, paymentIntent: reversal.paymentIntent },
        'refund or dispute of a payment no order of mine made',
      );
      return answer(200, 'ignored');
    }
    const { paymentIntent: _intent, ...rest } = reversal;
    const notice: ReversalNotice = { ...rest, ...paid, chargedCents: reversal.chargedCents ?? paid.chargedCents, eventId: event.id };
    const outcome = await handler.reversed(notice);
    return answer(200, outcome, { orderId: notice.orderId, kind: notice.kind, reference: notice.reference });
  } catch (error) {
    log.error({ err: error, eventId: event.id, type: event.type }, 'refund or dispute event failed; Stripe will retry');
    return answer(500, 'error');
  }
}

const idOf = (value: string | { id: string } | null | undefined): string | undefined =>
  typeof value === 'string' ? value : (value?.id ?? undefined);

/** What a refund or dispute event says, or undefined when it asks nothing of the service. */
function reversalOf(event: Stripe.Event): Reversal | undefined {
  if (event.type === 'charge.refunded') {
    const charge = event.data.object;
    const paymentIntent = idOf(charge.payment_intent);
    if (!paymentIntent) return undefined;
    return {
      kind: 'refund',
      paymentIntent,
      amountCents: charge.amount_refunded,
      chargedCents: charge.amount,
      currency: charge.currency,
      reference: charge.id,
    };
  }
  if (event.type !== 'charge.dispute.created' && event.type !== 'charge.dispute.funds_withdrawn' && event.type !== 'charge.dispute.closed')
    return undefined;
  const dispute = event.data.object;
  const paymentIntent = idOf(dispute.payment_intent);
  if (!paymentIntent) return undefined;
  const base = { paymentIntent, amountCents: dispute.amount, currency: dispute.currency, reference: dispute.id };
  // An inquiry (`warning_*`) withdraws no funds, and closing one gives nothing back.
  if (dispute.status.startsWith('warning_')) return undefined;
  // Both say the money left; the dispute's id keys what is taken, so the second changes nothing.
  if (event.type === 'charge.dispute.created' || event.type === 'charge.dispute.funds_withdrawn')
    return { ...base, kind: 'dispute_opened' };
  if (dispute.status === 'won') return { ...base, kind: 'dispute_won' };
  if (dispute.status === 'lost') return { ...base, kind: 'dispute_lost' };
  return undefined;
}
