import type { ChannelName } from '../ports/channel';
import type { Payments } from '../ports/payments';
import type { PriceList } from '../pricing';

/** One way to pay: a provider and the prices it charges in (Stripe in `CURRENCY`, Telegram Stars in `xtr`). */
export interface PaymentMethod {
  payments: Payments;
  prices: PriceList;
}

/**
 * Which provider bills an order. Each channel may have its own (Telegram sells for Stars, as its rules
 * require); the others use the default (Stripe). An order's currency, fixed at its quote, names the method
 * for everything after it (its checkout, the sweep's questions, the seconds a payment buys), so switching
 * a channel's method later leaves the orders already quoted with the provider they were quoted for.
 */
export class PaymentMethods {
  constructor(
    private readonly fallback: PaymentMethod | undefined,
    private readonly byChannel: Partial<Record<ChannelName, PaymentMethod>> = {},
  ) {}

  /** The method that quotes a new order from `channel`; undefined when payments are off for it. */
  forChannel(channel: string): PaymentMethod | undefined {
    return this.byChannel[channel as ChannelName] ?? this.fallback;
  }

  /** The method whose prices are in `currency`; undefined for a currency no method charges in. */
  forCurrency(currency: string | null | undefined): PaymentMethod | undefined {
    if (!currency) return undefined;
    const wanted = currency.toLowerCase();
    return [...Object.values(this.byChannel), this.fallback].find((m) => m?.prices.currency.toLowerCase() === wanted);
  }
}
