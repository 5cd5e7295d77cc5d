import type { Checkout, CheckoutRequest, Payments } from '../../src/ports/payments';

/** A `Payments` that hands out checkout links and remembers what it was asked; tests then play the provider's events. */
export class RecordingPayments implements Payments {
  readonly requests: CheckoutRequest[] = [];
  failNext = 0;

  async createCheckout(request: CheckoutRequest): Promise<Checkout> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('provider unavailable');
    }
    this.requests.push(request);
    return { id: `cs_${request.orderId}`, url: `https://pay.example.test/${request.orderId}`, expiresAt: new Date(Date.now() + 3_600_000) };
  }
}
