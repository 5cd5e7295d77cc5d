import { eq } from 'drizzle-orm';
import type { Db } from '../db';
import { orders } from '../db/schema';
import { isFailure, type ResultFile } from '../domain/transcript';
import { crashPoint } from '../faults';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { completeOrder, failOrder, requeueOrder, type Order } from '../orders/lifecycle';
import { orderMetrics } from '../orders/metrics';
import { orderFiles, type FileRow } from '../orders/summary';
import type { BlobStore } from '../ports/blob-store';
import { resultKey, type Runner } from '../ports/runner';
import type { Wakeups } from './wakeups';

/** A job that failed as a whole is tried this many times before the order fails and is refunded. */
const MAX_ATTEMPTS = 2;

/**
 * Follows running orders and, when the runner is done with one, calls the command that ends it:
 * on success it reads each file's result and completes the order (files without a result are
 * refunded); a job the runner forgot (restart) goes back to the queue; one that keeps failing is
 * refunded.
 */
export class Tracker {
  constructor(private readonly deps: { db: Db; ledger: Ledger; runner: Runner; store: BlobStore; wakeups: Wakeups; log: Logger }) {}

  tick = async (): Promise<void> => {
    const { db, runner, wakeups, log } = this.deps;
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
        if (requeueOrder(db, order)) wakeups.emit('queued');
      } else {
        log.error({ orderId: order.id, reason: status.reason }, 'job failed; order refunded');
        this.fail(order);
      }
    }
  };

  private async complete(order: Order): Promise<void> {
    const { db, wakeups, log } = this.deps;
    const inputs = orderFiles(db, order.id).filter((f) => f.state === 'stored' || f.state === 'done' || f.state === 'failed');
    const results = await Promise.all(inputs.map((f) => this.readResult(f)));
    crashPoint('results-read');
    const failedFiles = inputs.filter((_, i) => results[i] === null || isFailure(results[i]!));
    const outcome = completeOrder(this.deps, order, inputs, failedFiles);
    if (outcome === 'delivered') crashPoint('delivered');
    if (outcome) orderMetrics.finished.inc({ outcome });
    if (outcome === 'delivered') log.info({ orderId: order.id, files: inputs.length, failed: failedFiles.length }, 'order transcribed');
    wakeups.emit('outbox');
  }

  private fail(order: Order): void {
    if (failOrder(this.deps, order)) orderMetrics.finished.inc({ outcome: 'failed' });
    this.deps.wakeups.emit('outbox');
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
