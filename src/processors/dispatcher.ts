import { and, asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db';
import { orders } from '../db/schema';
import { crashPoint } from '../faults';
import type { Logger } from '../log';
import type { OrderEvents } from '../orders/order-events';
import { fileLines, orderFiles, type FileRow } from '../orders/summary';
import { transaction } from '../db/tx';
import { text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { JobManifest, Runner } from '../ports/runner';

/** Submits queued orders to the runner: one job per order with all its files, so the model loads once. */
export class Dispatcher {
  constructor(private readonly deps: { db: Db; runner: Runner; events: OrderEvents; log: Logger }) {}

  /** One pass over the queue, oldest first: submit each order, then record them all in one transaction. */
  tick = async (): Promise<void> => {
    const { db, runner, events, log } = this.deps;
    const queued = db.select().from(orders).where(eq(orders.state, 'queued')).orderBy(asc(orders.queuedAt)).limit(50).all();
    if (queued.length === 0) return;
    const submitted: { order: (typeof queued)[number]; runnerJobId: string; files: FileRow[] }[] = [];
    for (const order of queued) {
      const files = orderFiles(db, order.id);
      const manifest: JobManifest = {
        version: 1,
        jobId: order.id,
        inputs: files.filter((f) => f.state === 'stored').map((f) => ({ key: f.blobKey, name: f.name })),
        options: { language: order.language ?? 'auto' },
      };
      // Submitting twice is harmless (the runner dedupes by job id; a re-run rewrites the same results).
      submitted.push({ order, runnerJobId: await runner.submit(manifest), files });
    }
    crashPoint('submitted');
    transaction(db, () => {
      for (const { order, runnerJobId, files } of submitted) {
        const moved = db
          .update(orders)
          .set({ state: 'running', runnerJobId, attempts: sql`${orders.attempts} + 1`, updatedAt: Date.now() })
          .where(and(eq(orders.id, order.id), eq(orders.state, 'queued')))
          .run();
        if (moved.changes !== 1) continue;
        // Progress for chats (Telegram edits its status message and shows "typing"); mail drops it.
        enqueueReply(db, order.replyTo, {
          key: `running:${order.id}`,
          orderId: order.id,
          kind: 'status',
          transient: true,
          text: `${fileLines(files).join('\n')}\n\n${text.working()}`,
        });
      }
    });
    log.info({ orders: submitted.length }, 'orders submitted');
    crashPoint('running');
    events.emit('outbox');
  };
}
