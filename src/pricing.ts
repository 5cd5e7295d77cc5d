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
 * 20 seconds leaves the rest for next time. Rounded down so no fraction of a cent is given away.
 */
export function secondsFor(amountCents: number, prices: PriceList): number {
  return Math.floor((amountCents * 60) / prices.pricePerMinuteCents);
}
