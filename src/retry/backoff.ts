/**
 * Exponential back-off: the wait before retry number `attempt` (1 for the first retry) is `baseMs`,
 * doubling with each further retry, never above `maxMs`. The one formula every retry loop uses.
 */
export function backoff(attempt: number, baseMs: number, maxMs = Number.POSITIVE_INFINITY): number {
  // 2 ** 1100 is Infinity, and Math.min keeps it at maxMs: no overflow however long a loop runs.
  return Math.min(baseMs * 2 ** Math.max(0, attempt - 1), maxMs);
}
