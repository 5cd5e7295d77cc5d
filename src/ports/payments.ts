import type { ReplyAddress } from './channel';

/** A request for a checkout covering the seconds the user's balance does not. */
export interface CheckoutRequest {
  orderId: string;
  userId: string;
  /** Where the order came from: a provider that bills inside the chat (Telegram Stars) sends its invoice there. */
  replyTo?: ReplyAddress;
  /** Seconds the balance is short of. */
  missingSeconds: number;
  /** What to charge, already rounded up to whole minutes and at least the minimum payment. */
  amountCents: number;
  currency: string;
  /** One line shown on the payment page, e.g. "Transcription of 12 min 30 s of audio". */
  description: string;
}

export interface Checkout {
  id: string;
  /** The payment page; empty when the provider put the invoice into the chat itself (Telegram Stars). */
  url: string;
  expiresAt: Date;
}

/**
 * Where a checkout stands at the provider. `paid`: the money arrived; `pending`: the payer finished but
 * the money is still on its way (a bank debit); `failed`: that delayed payment failed, so the checkout can
 * no longer be paid; `open`: still payable; `expired`: closed unpaid for good.
 */
export interface CheckoutStatus {
  state: 'open' | 'paid' | 'pending' | 'failed' | 'expired';
  /** What was charged (or is asked), in the currency the checkout was created in. */
  amountCents: number;
  currency: string;
}

/** Takes payments (Stripe Checkout). Absent when payments are not configured. */
export interface Payments {
  /** Creates (idempotently per order) a hosted checkout page for the request. */
  createCheckout(request: CheckoutRequest): Promise<Checkout>;
  /**
   * Asks the provider where a checkout stands; undefined when the provider has no such checkout.
   * Optional: without it the service cannot check before expiring an order whose notices never came.
   */
  checkoutStatus?(checkoutId: string): Promise<CheckoutStatus | undefined>;
  /**
   * Closes an open checkout so it can no longer be paid, and returns where it stands afterwards (paid,
   * when the payer finished first). Optional: a provider whose links cannot be closed leaves it out.
   */
  closeCheckout?(checkoutId: string): Promise<CheckoutStatus | undefined>;
  /**
   * Gives one received payment back to its payer. Resolves once the provider holds it refunded, also when
   * it was refunded before (so a retry after a crash is harmless). Optional: used by the operator's refund.
   */
  refundPayment?(payment: ReceivedPayment): Promise<void>;
  /** A provider that bills inside a chat is given the core's handler for what its payers do there. */
  attach?(handler: InvoiceHandler): void;
}

/** A payment the provider reported inside a chat (Telegram's `successful_payment`), as the core records it. */
export interface ReceivedPayment {
  /** The provider's id of the charge (`telegram_payment_charge_id`): credited once, refunded with it. */
  chargeId: string;
  orderId: string;
  /** The platform id of who paid (the refund goes back to them). */
  payerId: string;
  /** In the provider's smallest unit (whole Stars). */
  amount: number;
  currency: string;
}

/** The answer to "may this invoice be paid now?": a reason for the payer when not. */
export type PayableAnswer = { ok: true } | { ok: false; reason: string };

/**
 * What the core does for a provider that bills inside a chat (Telegram Stars): it is asked before the
 * payer is charged, and told once the charge went through. Implemented by the core, called by the adapter.
 */
export interface InvoiceHandler {
  /** Whether the order still awaits this payment (state, expiry, amount and currency all as quoted). */
  payable(orderId: string, amount: number, currency: string): PayableAnswer;
  /** The payer was charged: record it and credit it exactly once (by its charge id), as any payment. */
  received(payment: ReceivedPayment): Promise<PaymentOutcome>;
  /** The provider reports the charge refunded (Telegram's `refunded_payment`): record it once, as the operator's refund does. */
  refunded?(chargeId: string): Promise<PaymentOutcome>;
}

/** A verified notice from the payment provider about one checkout (a Stripe event), in the core's terms. */
export interface PaymentNotice {
  /** Provider event id, stored once: a replayed notice does nothing. */
  eventId: string;
  orderId: string;
  checkoutId: string;
  /** What was paid, in the currency the checkout was created in (the provider's conversion undone). */
  amountCents: number;
  currency: string;
}

/**
 * What the core did with a notice. `applied`: what the notice says happened (paid and queued, expired,
 * closed after a failed payment); `credited`: money became balance but the order was not transcribed
 * with it (paid late or too little); `pending`: the payment is on its way; `held`: money the service
 * could not price (the operator must act); `duplicate`: seen before; `ignored`: nothing to do.
 */
export type PaymentOutcome = 'applied' | 'credited' | 'pending' | 'held' | 'duplicate' | 'ignored';

/** What the core does when the provider reports on a checkout; implemented by the core, called by the webhook. */
export interface PaymentHandler {
  /**
   * Money arrived: credit what was paid, and transcribe the order if it covers it (also after the
   * order expired, while its audio is kept); tell the user either way.
   */
  paid(notice: PaymentNotice): Promise<PaymentOutcome>;
  /** The payer finished but the money is on its way (a bank debit): tell the user, keep waiting. */
  pending(notice: PaymentNotice): Promise<PaymentOutcome>;
  /** That delayed payment failed: the checkout cannot be paid any more; close the order, give the held seconds back, tell the user. */
  failed(notice: PaymentNotice): Promise<PaymentOutcome>;
  /** The checkout expired unpaid: expire the order, give the held seconds back, tell the user. */
  expired(notice: PaymentNotice): Promise<PaymentOutcome>;
  /**
   * Money paid for a checkout went back (refund) or was disputed: take back the seconds it bought (what the
   * balance lacks becomes a debt), or give them back when a dispute is won; tell the user. Optional: a
   * handler without it leaves such notices to the operator.
   */
  reversed?(notice: ReversalNotice): Promise<PaymentOutcome>;
}

/**
 * A verified notice that a checkout's payment was refunded or disputed (Stripe's `charge.refunded`,
 * `charge.dispute.created` and `charge.dispute.closed`). Amounts are in the charge's currency; the share of
 * the purchase they stand for is `amountCents / chargedCents`.
 */
export interface ReversalNotice {
  eventId: string;
  orderId: string;
  checkoutId: string;
  /** `refund`: refunded so far (cumulative); `dispute_opened`: funds withdrawn; `dispute_won`/`dispute_lost`: closed. */
  kind: 'refund' | 'dispute_opened' | 'dispute_won' | 'dispute_lost';
  /** Refund: everything refunded of the charge so far; dispute: the disputed amount. */
  amountCents: number;
  /** What the charge collected. */
  chargedCents: number;
  currency: string;
  /** The provider's id of the dispute (`dp_...`), or of the charge for a refund. */
  reference: string;
}

/** Money sent back to whoever paid an order's checkout. */
export interface PaymentRefund {
  /** The provider's id (Stripe: `re_...`). */
  id: string;
  amountCents: number;
  currency: string;
  /** The provider's word for where it stands (Stripe: `succeeded`, `pending`...). */
  status: string;
}

/** Gives money back for a checkout (Stripe). Used by the operator's `refund` command. */
export interface PaymentRefunds {
  /**
   * Refunds in full what the order's checkout collected, once per order: asked again (a rerun, a retry
   * after a crash) it returns the refund made the first time instead of making another.
   */
  refundCheckout(request: { orderId: string; checkoutId: string }): Promise<PaymentRefund>;
}
