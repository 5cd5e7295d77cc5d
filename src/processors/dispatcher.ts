import { asc, eq } from 'drizzle-orm';
import type { Db } from '../db';
import { orders } from '../db/schema';
import { crashPoint } from '../faults';
import type { Logger } from '../log';
import { startJobs, type Order } from '../orders/lifecycle';
import { orderFiles, type FileRow } from '../orders/summary';
import { submitEach, type JobManifest, type Runner } from '../ports/runner';
import { billableSeconds } from '../pricing';
import type { Wakeups } from './wakeups';

/**
 * Submits queued orders to the runner, each with all its files. Orders queued together are handed over
 * together: the local runner's warm worker puts their files in one queue, the Batch runner into shared jobs.
 */
export class Dispatcher {
  constructor(private readonly deps: { db: Db; runner: Runner; wakeups: Wakeups; log: Logger }) {}

  /** One pass over the queue, oldest first: submit each order, then record them all in one transaction. */
  tick = async (): Promise<void> => {
    const { db, runner, wakeups, log } = this.deps;
    const queued = db.select().from(orders).where(eq(orders.state, 'queued')).orderBy(asc(orders.queuedAt)).limit(50).all();
    if (queued.length === 0) return;
    const submitted: { order: Order; runnerJobId: string; files: FileRow[] }[] = [];
    const files = queued.map((order) => orderFiles(db, order.id));
    const manifests = queued.map((order, i): JobManifest => ({
      version: 1,
      jobId: order.id,
      inputs: files[i]!
        .filter((f) => f.state === 'stored')
        // The seconds each file was charged for (its decoded length, rounded up): the worker stops there.
        .map((f) => ({ key: f.blobKey, name: f.name, ...(f.duration !== null ? { chargedSeconds: billableSeconds(f.duration) } : {}) })),
      options: { language: order.language ?? 'auto' },
    }));
    // A runner that groups orders may hold some back a moment for others to join them.
    const held = runner.hold?.(queued.map((order, i) => ({ manifest: manifests[i]!, queuedAt: order.queuedAt ?? 0 })), Date.now()) ?? [];
    const going = queued.flatMap((order, i) => (held[i] ? [] : [i]));
    if (going.length === 0) return;
    // All at once, so a runner can put orders queued together into one job (one Batch job for many notes).
    // Submitting twice is harmless (the runner dedupes by job id; a re-run rewrites the same results).
    const since = Math.min(...going.map((i) => queued[i]!.queuedAt ?? 0));
    const outcomes = await submitEach(runner, going.map((i) => manifests[i]!), since);
    for (const [n, i] of going.entries()) {
      const order = queued[i]!;
      const outcome = outcomes[n]!;
      if ('runnerJobId' in outcome) submitted.push({ order, runnerJobId: outcome.runnerJobId, files: files[i]! });
      else log.warn({ orderId: order.id, err: outcome.error }, 'runner refused the job; trying again later');
    }
    if (submitted.length === 0) return;
    crashPoint('submitted');
    startJobs(db, submitted);
    log.info({ orders: submitted.length }, 'orders submitted');
    crashPoint('running');
    wakeups.emit('outbox');
  };
}
