import { and, eq } from 'drizzle-orm';
import type { Db } from '../db';
import { files, orders } from '../db/schema';
import { transaction } from '../db/tx';
import { isFailure, type ResultFile } from '../domain/transcript';
import { crashPoint } from '../faults';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { text } from '../messages';
import { enqueueReply } from '../outbox/outbox';
import type { OrderEvents } from '../orders/order-events';
import { fileLines, orderFiles, type FileRow } from '../orders/summary';
import type { BlobStore } from '../ports/blob-store';
import { resultKey, type Runner } from '../ports/runner';
import { billableSeconds } from '../pricing';
import { orderMetrics } from './metrics';

type Order = typeof orders.$inferSelect;

/** A job that failed as a whole is tried this many times before the order fails and is refunded. */
const MAX_ATTEMPTS = 2;

/**
 * Follows running orders. On success it reads each file's result and, in one transaction,
 * refunds files that failed, marks the order delivered and queues the transcript reply. A job the
 * runner forgot (restart) goes back to the queue; one that keeps failing is refunded.
 */
export class Tracker {
  constructor(private readonly deps: { db: Db; ledger: Ledger; runner: Runner; store: BlobStore; events: OrderEvents; log: Logger }) {}

  tick = async (): Promise<void> => {
    const { db, runner, events, log } = this.deps;
    // Only what the status check needs: this runs every half second over every running order.
    const running = db
      .select({ id: orders.id, runnerJobId: orders.runnerJobId, attempts: orders.attempts })
      .from(orders)
      .where(eq(orders.state, 'running'))
      .all();
    for (const job of running) {
      const status = job.runnerJobId ? await runner.status(job.runnerJobId) : { state: 'unknown' as const };
      if (status.state === 'pending' || status.state === 'running') continue;
      const order = db.select().from(orders).where(eq(orders.id, job.id)).get();
      if (!order || order.state !== 'running') continue;
      if (status.state === 'succeeded') {
        await this.complete(order);
      } else if (status.state === 'unknown' || order.attempts < MAX_ATTEMPTS) {
        log.warn({ orderId: order.id, state: status.state, reason: status.reason }, 'job lost or failed; queued again');
        this.requeue(order);
        events.emit('queued');
      } else {
        log.error({ orderId: order.id, reason: status.reason }, 'job failed; order refunded');
        this.fail(order);
      }
    }
  };

  private requeue(order: Order): void {
    this.deps.db
      .update(orders)
      .set({ state: 'queued', runnerJobId: null, updatedAt: Date.now() })
      .where(and(eq(orders.id, order.id), eq(orders.state, 'running')))
      .run();
  }

  private async complete(order: Order): Promise<void> {
    const { db, ledger, store, events, log } = this.deps;
    const inputs = orderFiles(db, order.id).filter((f) => f.state === 'stored' || f.state === 'done' || f.state === 'failed');
    const results = await Promise.all(inputs.map((f) => this.readResult(f)));
    crashPoint('results-read');
    const failedFiles = inputs.filter((_, i) => results[i] === null || isFailure(results[i]!));
    if (failedFiles.length === inputs.length) return this.fail(order);

    transaction(db, () => {
      const moved = db
        .update(orders)
        .set({ state: 'delivered', deliveredAt: Date.now(), updatedAt: Date.now() })
        .where(and(eq(orders.id, order.id), eq(orders.state, 'running')))
        .run();
      if (moved.changes !== 1) return;
      for (const file of inputs) {
        const failed = failedFiles.includes(file);
        db.update(files).set({ state: failed ? 'failed' : 'done' }).where(eq(files.id, file.id)).run();
        if (failed) {
          ledger.append({ userId: order.userId, kind: 'refund', seconds: billableSeconds(file.duration ?? 0), key: `refund:${order.id}:${file.id}`, orderId: order.id });
        }
      }
      const balance = ledger.balance(order.userId);
      const lines = fileLines(orderFiles(db, order.id)).join('\n');
      enqueueReply(db, order.replyTo, { key: `done:${order.id}`, orderId: order.id, kind: 'status', transient: true, text: `${lines}\n\n${text.finished()}` });
      enqueueReply(db, order.replyTo, { key: `transcript:${order.id}`, orderId: order.id, kind: 'transcript', text: text.delivered(), balanceSeconds: balance });
      if (failedFiles.length > 0) {
        const refunded = failedFiles.reduce((sum, f) => sum + billableSeconds(f.duration ?? 0), 0);
        enqueueReply(db, order.replyTo, {
          key: `partial:${order.id}`,
          orderId: order.id,
          kind: 'notice',
          text: text.partlyFailed(failedFiles.map((f) => f.name), refunded),
          balanceSeconds: balance,
        });
      }
    });
    crashPoint('delivered');
    orderMetrics.finished.inc({ outcome: 'delivered' });
    log.info({ orderId: order.id, files: inputs.length, failed: failedFiles.length }, 'order transcribed');
    events.emit('outbox');
  }

  private fail(order: Order): void {
    const { db, ledger, events } = this.deps;
    transaction(db, () => {
      const moved = db
        .update(orders)
        .set({ state: 'failed', error: 'transcription failed', updatedAt: Date.now() })
        .where(and(eq(orders.id, order.id), eq(orders.state, 'running')))
        .run();
      if (moved.changes !== 1) return;
      ledger.append({ userId: order.userId, kind: 'refund', seconds: order.seconds, key: `refund:${order.id}`, orderId: order.id });
      const balance = ledger.balance(order.userId);
      enqueueReply(db, order.replyTo, { key: `failed:${order.id}`, orderId: order.id, kind: 'notice', text: text.failed(order.seconds), balanceSeconds: balance });
    });
    orderMetrics.finished.inc({ outcome: 'failed' });
    events.emit('outbox');
  }

  /** A file's result, or null when the worker wrote none or it is unreadable. */
  private async readResult(file: FileRow): Promise<ResultFile | null> {
    try {
      return JSON.parse((await this.deps.store.getBuffer(resultKey(file.blobKey))).toString('utf8')) as ResultFile;
    } catch {
      return null;
    }
  }
}
