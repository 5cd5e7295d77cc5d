import { and, eq, isNull, lte, or } from 'drizzle-orm';
import type { Db } from '../db';
import { orders } from '../db/schema';
import { isFailure, parseResultFile, type ResultFile } from '../domain/transcript';
import { crashPoint } from '../faults';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { clearRetries, completeOrder, deferOrder, failOrder, requeueOrder, type Order } from '../orders/lifecycle';
import { orderMetrics } from '../orders/metrics';
import { orderFiles, type FileRow } from '../orders/summary';
import { BlobNotFoundError, type BlobStore } from '../ports/blob-store';
import { resultKey, type JobStatus, type Runner } from '../ports/runner';
import { backoff } from '../retry/backoff';
import type { Wakeups } from './wakeups';
import { findOrder } from '../orders/states';

/** A job that failed as a whole is tried this many times before the order fails and is refunded. */
const MAX_ATTEMPTS = 2;
/**
 * A job the runner has no record of (a Batch job aged out, a worker that vanished) is run again, but an order is
 * started at most this many times in all: one whose jobs keep vanishing is refunded instead of going round for
 * ever. A local job lost because the service itself restarted is run again without counting (`lostInRestart`):
 * a crash loop would otherwise refund the whole queue.
 */
const MAX_LOST_ATTEMPTS = 5;
/** While the runner's API or the store cannot be read, an order is looked at again 2 s, 4 s, ... up to 5 min later, for as long as it takes. */
const UNREACHABLE_BASE_MS = 2000;
const UNREACHABLE_MAX_MS = 5 * 60_000;

/**
 * Follows running orders and, when the runner is done with one, calls the command that ends it:
 * on success it reads each file's result and completes the order (files without a result are
 * refunded); a job the runner forgot (restart) goes back to the queue; one that keeps failing is
 * refunded. When the runner or the store cannot be reached, that order stays running and is looked
 * at again after a back-off: an outage delays an order, it never refunds finished work.
 */
export class Tracker {
  constructor(private readonly deps: { db: Db; ledger: Ledger; runner: Runner; store: BlobStore; wakeups: Wakeups; log: Logger }) {}

  tick = async (): Promise<void> => {
    const { db } = this.deps;
    // Only what the status check needs: this runs every poll interval over every running order.
    const due = or(isNull(orders.nextAttemptAt), lte(orders.nextAttemptAt, Date.now()));
    const running = db
      .select({ id: orders.id, runnerJobId: orders.runnerJobId, retries: orders.retries })
      .from(orders)
      .where(and(eq(orders.state, 'running'), due))
      .all();
    let statuses: Map<string, JobStatus> | undefined;
    try {
      statuses = await this.statusesOf(running);
    } catch (error) {
      for (const job of running) this.unreachable(job, error);
      return;
    }
    for (const job of running) {
      // Not asked about this pass (its runner's poll interval has not passed): looked at next time.
      if (statuses && job.runnerJobId && !statuses.has(job.runnerJobId)) continue;
      try {
        await this.check(job, statuses?.get(job.runnerJobId ?? ''));
      } catch (error) {
        this.unreachable(job, error);
      }
    }
  };

  /** Every running job's status in as few runner calls as the runner allows; undefined when it asks one at a time. */
  private async statusesOf(running: { runnerJobId: string | null }[]): Promise<Map<string, JobStatus> | undefined> {
    const { runner } = this.deps;
    const ids = running.flatMap((job) => (job.runnerJobId ? [job.runnerJobId] : []));
    if (!runner.statusMany || ids.length === 0) return undefined;
    return runner.statusMany(ids);
  }

  private async check(job: { id: string; runnerJobId: string | null; retries: number }, known?: JobStatus): Promise<void> {
    const { db, runner, wakeups, log } = this.deps;
    const status = known ?? (job.runnerJobId ? await runner.status(job.runnerJobId) : { state: 'unknown' as const });
    // The runner answered again: a back-off from earlier failures no longer applies.
    if (job.retries > 0 && status.state !== 'succeeded') clearRetries(db, job.id, 'running');
    if (status.state === 'pending' || status.state === 'running') return;
    const order = findOrder(db, job.id);
    if (!order || order.state !== 'running') return;
    if (status.state === 'succeeded') {
      await this.complete(order);
    } else if (status.state === 'unknown' && status.lostInRestart) {
      log.info({ orderId: order.id, attempts: order.attempts }, 'job lost in a restart; queued again');
      if (requeueOrder(db, order, { lostInRestart: true })) wakeups.emit('queued');
    } else if (status.state === 'unknown' ? order.attempts < MAX_LOST_ATTEMPTS : order.attempts < MAX_ATTEMPTS) {
      log.warn(
        { orderId: order.id, state: status.state, attempts: order.attempts, reason: status.reason },
        'job lost or failed; queued again',
      );
      if (requeueOrder(db, order)) wakeups.emit('queued');
    } else {
      log.error({ orderId: order.id, state: status.state, attempts: order.attempts, reason: status.reason }, 'job failed; order refunded');
      this.fail(order);
    }
  }

  /** The runner's API or the store failed while looking at this order: it stays running and is looked at again later. */
  private unreachable(job: { id: string; retries: number }, error: unknown): void {
    const failures = job.retries + 1;
    const delayMs = backoff(failures, UNREACHABLE_BASE_MS, UNREACHABLE_MAX_MS);
    this.deps.log.warn(
      { orderId: job.id, tries: failures, retryInMs: delayMs, err: error },
      'runner or store unreachable; order checked again later',
    );
    orderMetrics.retries.inc({ step: 'track' });
    deferOrder(this.deps.db, job, 'running', delayMs);
  }

  private async complete(order: Order): Promise<void> {
    const { db, wakeups, log } = this.deps;
    const inputs = orderFiles(db, order.id).filter((f) => f.state === 'stored' || f.state === 'done' || f.state === 'failed');
    // Any read error other than "not found" throws here, before anything is written.
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

  /**
   * A file's result, or null when the worker wrote none (not found) or what it wrote is not a result file.
   * Every other error (store unreachable, throttled, access denied) is thrown: the result may well be
   * there, so the order must wait, not be refunded.
   */
  private async readResult(file: FileRow): Promise<ResultFile | null> {
    let bytes: Buffer;
    try {
      bytes = await this.deps.store.getBuffer(resultKey(file.blobKey));
    } catch (error) {
      if (error instanceof BlobNotFoundError) return null;
      throw error;
    }
    const read = parseResultFile(bytes.toString('utf8'));
    if (read.ok) return read.result;
    this.deps.log.warn({ orderId: file.orderId, key: resultKey(file.blobKey), reason: read.reason }, 'result file is not a result');
    return null;
  }
}
