import { EventEmitter } from 'node:events';

/** In-process signals between intake, webhooks and the background processors, so they act without polling delay. */
export class OrderEvents extends EventEmitter<{ queued: []; outbox: [] }> {}
