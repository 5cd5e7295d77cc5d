import { asc, eq } from 'drizzle-orm';
import type { Db } from '../db';
import { orders } from '../db/schema';
import { crashPoint } from '../faults';
import type { Logger } from '../log';
import { startJobs, type Order } from '../orders/lifecycle';
import { orderFiles, type FileRow } from '../orders/summary';
import type { JobManifest, Runner } from '../ports/runner';
import { billableSeconds } from '../pricing';
import type { Wakeups } from './wakeups';

/** Submits queued orders to the runner: one job per order with all its files, so the model loads once. */
export class Dispatcher {
  constructor(private readonly deps: { db: Db; runner: Runner; wakeups: Wakeups; log: Logger }) {}

  /** One pass over the queue, oldest first: submit each order, then record them all in one transaction. */
  tick = async (): Promise<void> => {
    const { db, runner, wakeups, log } = this.deps;
    const queued = db.select().from(orders).where(eq(orders.state, 'queued')).orderBy(asc(orders.queuedAt)).limit(50).all();
    if (queued.length === 0) return;
    const submitted: { order: Order; runnerJobId: string; files: FileRow[] }[] = [];
    for (const order of queued) {
      const files = orderFiles(db, order.id);
      const manifest: JobManifest = {
        version: 1,
        jobId: order.id,
        inputs: files
          .filter((f) => f.state === 'stored')
          // The seconds each file was charged for (its decoded length, rounded up): the worker stops there.
          .map((f) => ({ key: f.blobKey, name: f.name, ...(f.duration !== null ? { chargedSeconds: billableSeconds(f.duration) } : {}) })),
        options: { language: order.language ?? 'auto', ...(order.translate ? { translate: true } : {}) },
      };
      // Submitting twice is harmless (the runner dedupes by job id; a re-run rewrites the same results).
      submitted.push({ order, runnerJobId: await runner.submit(manifest), files });
    }
    crashPoint('submitted');
    startJobs(db, submitted);
    log.info({ orders: submitted.length }, 'orders submitted');
    crashPoint('running');
    wakeups.emit('outbox');
  };
}
