/** A request for a checkout covering the seconds the user's balance does not. */
export interface CheckoutRequest {
  orderId: string;
  userId: string;
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
  url: string;
  expiresAt: Date;
}

/** Takes payments (Stripe Checkout). Absent when payments are not configured. */
export interface Payments {
  /** Creates (idempotently per order) a hosted checkout page for the request. */
  createCheckout(request: CheckoutRequest): Promise<Checkout>;
}

/** A verified notice from the payment provider about one checkout (a Stripe event), in the core's terms. */
export interface PaymentNotice {
  /** Provider event id, stored once: a replayed notice does nothing. */
  eventId: string;
  orderId: string;
  checkoutId: string;
  amountCents: number;
  currency: string;
}

export type PaymentOutcome = 'applied' | 'duplicate' | 'ignored' | 'mismatch';

/** What the core does when the provider reports on a checkout; implemented by the core, called by the webhook. */
export interface PaymentHandler {
  /** Money arrived: credit it, spend the order's seconds, queue the order, tell the user. */
  paid(notice: PaymentNotice): Promise<PaymentOutcome>;
  /** An asynchronous payment failed: tell the user; the order stays payable until the session expires. */
  failed(notice: PaymentNotice): Promise<PaymentOutcome>;
  /** The checkout expired unpaid: expire the order, delete its audio, tell the user. */
  expired(notice: PaymentNotice): Promise<PaymentOutcome>;
}
