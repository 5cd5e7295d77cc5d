/** Prices in the smallest currency unit; durations in whole seconds. */
export interface PriceList {
  pricePerMinuteCents: number;
  minimumPaymentCents: number;
  currency: string;
}

/** Seconds a file is billed for: its duration rounded up, at least one. */
export function billableSeconds(durationSeconds: number): number {
  return Math.max(1, Math.ceil(durationSeconds - 1e-6));
}

/** What to charge for `missingSeconds`: whole minutes at the minute price, never below the minimum payment. */
export function priceFor(missingSeconds: number, prices: PriceList): number {
  const minutes = Math.ceil(missingSeconds / 60);
  return Math.max(minutes * prices.pricePerMinuteCents, prices.minimumPaymentCents);
}

/**
 * Seconds bought by a payment: everything paid becomes balance, so paying the minimum for
 * 20 seconds leaves the rest for next time. A fraction of a second is rounded up, in the payer's
 * favour: never more than one second's worth given away.
 */
export function secondsFor(amountCents: number, prices: PriceList): number {
  return Math.ceil((amountCents * 60) / prices.pricePerMinuteCents);
}
