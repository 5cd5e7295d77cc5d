/** How to space the tries of something that fails for a reason that may pass. */
export interface Backoff {
  /** Wait after the first failure. */
  baseMs: number;
  /** The wait doubles after each failure up to this. */
  maxMs: number;
}

/** The wait after the `failures`-th failure in a row (1 for the first). */
export function backoffDelay({ baseMs, maxMs }: Backoff, failures: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
}
