import { EventEmitter } from 'node:events';

/**
 * In-process nudges that wake a background loop at once instead of at its next interval: `queued`
 * wakes the dispatcher, `outbox` the reply sender. Emit after the transaction that made the work
 * durable commits; a missed nudge only costs one interval.
 */
export class Wakeups extends EventEmitter<{ queued: []; outbox: [] }> {}
