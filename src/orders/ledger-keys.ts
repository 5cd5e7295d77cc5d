/**
 * The ledger key of each kind of entry an order writes. The ledger skips an entry whose key exists, so a
 * key names one event that may happen once in the order's life; two different events must never share
 * one, or the second is silently lost.
 */

/** The balance held against an order awaiting payment (a spend). */
export const holdKey = (orderId: string): string => `hold:${orderId}`;

/** The held seconds given back when the order closes unpaid (expired, underpaid, payment failed). */
export const releaseKey = (orderId: string): string => `release:${orderId}`;

/** The order's seconds spent when it is queued (from the balance, or by its payment). */
export const spendKey = (orderId: string): string => `spend:${orderId}`;

/**
 * The whole order given back when it fails. Once per order, across operator retries: a retried order that
 * fails again, or delivers only part, is not refunded a second time.
 */
export const failureRefundKey = (orderId: string): string => `refund:${orderId}`;

/** One file's seconds given back when the order is delivered without it. */
export const fileRefundKey = (orderId: string, fileId: string): string => `refund:${orderId}:${fileId}`;

/** A payment: one purchase per checkout, however often or by whom it is reported. */
export const purchaseKey = (orderId: string, checkoutId: string): string => `purchase:${orderId}:${checkoutId}`;
