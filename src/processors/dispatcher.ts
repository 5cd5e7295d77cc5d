import { and, asc, eq, isNull, lte, or } from 'drizzle-orm';
import type { Db } from '../db';
import { orders } from '../db/schema';
import { crashPoint } from '../faults';
import type { Ledger } from '../ledger';
import type { Logger } from '../log';
import { deferOrder, failUnstarted, postponeOrder, startJobs, type Order } from '../orders/lifecycle';
import { orderMetrics } from '../orders/metrics';
import { orderFiles } from '../orders/summary';
import { RunnerUnavailableError, submitEach, type JobManifest, type Runner } from '../ports/runner';
import { billableSeconds } from '../pricing';
import { backoff } from '../retry/backoff';
import type { Wakeups } from './wakeups';

/** How often the runner may refuse an order's job, and how far apart, before the order fails and is refunded. */
export interface SubmitRetries {
  tries: number;
  /** Wait after the first refusal, doubling after each further one up to `maxMs`. */
  baseMs: number;
  maxMs: number;
}

/** 10 tries, 5 s doubling to 10 min apart: about half an hour of a refusing runner before an order is refunded. */
export const defaultSubmitRetries: SubmitRetries = { tries: 10, baseMs: 5000, maxMs: 10 * 60_000 };

/**
 * Submits queued orders to the runner, each with all its files. Orders queued together are handed over
 * together: the local runner's warm worker puts their files in one queue, the Batch runner into shared jobs.
 * An order the runner refuses waits out its own back-off and does not hold up the others.
 */
export class Dispatcher {
  private readonly retries: SubmitRetries;
  /** Passes in a row in which the runner could not be reached: the wait before the next try grows with them. */
  private outagePasses = 0;

  constructor(private readonly deps: { db: Db; ledger: Ledger; runner: Runner; wakeups: Wakeups; log: Logger; retries?: SubmitRetries }) {
    this.retries = deps.retries ?? defaultSubmitRetries;
  }

  /**
   * One pass over the queue, oldest first: submit each order that is not waiting out a back-off, then
   * record the accepted ones in one transaction. An order the runner refuses waits on its own and
   * does not hold up the others.
   */
  tick = async (): Promise<void> => {
    const { db, runner, wakeups, log } = this.deps;
    const due = or(isNull(orders.nextAttemptAt), lte(orders.nextAttemptAt, Date.now()));
    const queued = db
      .select()
      .from(orders)
      .where(and(eq(orders.state, 'queued'), due))
      .orderBy(asc(orders.queuedAt))
      .limit(50)
      .all();
    if (queued.length === 0) return;
    const submitted: { order: Order; runnerJobId: string }[] = [];
    let refused = 0;
    const unavailable: { order: Order; error: RunnerUnavailableError }[] = [];
    const files = queued.map((order) => orderFiles(db, order.id));
    const manifests = queued.map((order, i): JobManifest => ({
      version: 1,
      // An operator's retry of a failed order must run anew, not find the failed job again.
      jobId: order.operatorRetries > 0 ? `${order.id}-retry${order.operatorRetries}` : order.id,
      inputs: files[i]!.filter((f) => f.state === 'stored')
        // The seconds each file was charged for (its decoded length, rounded up): the worker stops there.
        .map((f) => ({ key: f.blobKey, name: f.name, ...(f.duration !== null ? { chargedSeconds: billableSeconds(f.duration) } : {}) })),
      options: { language: order.language ?? 'auto', ...(order.translate ? { translate: true } : {}) },
    }));
    // A runner that groups orders may hold some back a moment for others to join them.
    const held =
      runner.hold?.(
        queued.map((order, i) => ({ manifest: manifests[i]!, queuedAt: order.queuedAt ?? 0 })),
        Date.now(),
      ) ?? [];
    const going = queued.flatMap((order, i) => (held[i] ? [] : [i]));
    if (going.length === 0) return;
    // All at once, so a runner can put orders queued together into one job (one Batch job for many notes).
    // Submitting twice is harmless (the runner dedupes by job id; a re-run rewrites the same results).
    const since = Math.min(...going.map((i) => queued[i]!.queuedAt ?? 0));
    const outcomes = await submitEach(
      runner,
      going.map((i) => manifests[i]!),
      since,
    );
    for (const [n, i] of going.entries()) {
      const order = queued[i]!;
      const outcome = outcomes[n]!;
      if ('runnerJobId' in outcome) submitted.push({ order, runnerJobId: outcome.runnerJobId });
      else if (outcome.error instanceof RunnerUnavailableError) unavailable.push({ order, error: outcome.error });
      else {
        refused += 1;
        this.refused(order, outcome.error);
      }
    }
    // A pass in which the runner took something ends the outage; one in which it could not be reached lengthens it.
    if (unavailable.length > 0) this.outagePasses = submitted.length > 0 ? 1 : this.outagePasses + 1;
    else if (submitted.length > 0) this.outagePasses = 0;
    for (const { order, error } of unavailable) this.unavailable(order, error);
    if (submitted.length === 0) return;
    crashPoint('submitted');
    startJobs(db, submitted);
    log.info({ orders: submitted.length, refused }, 'orders submitted');
    crashPoint('running');
    wakeups.emit('outbox');
  };

  /**
   * The runner could not be reached: the order stays queued, its tries untouched, and is tried again after a wait
   * that grows with the outage (as a refusal's does, up to its longest), for as long as the outage lasts.
   */
  private unavailable(order: Order, error: RunnerUnavailableError): void {
    const delayMs = backoff(this.outagePasses, this.retries.baseMs, this.retries.maxMs);
    this.deps.log.warn({ orderId: order.id, retryInMs: delayMs, err: error }, 'runner unavailable; order stays queued');
    orderMetrics.submitFailures.inc({ reason: 'unavailable' });
    postponeOrder(this.deps.db, order, 'queued', delayMs);
  }

  /** The runner refused the order's job: try again after a back-off, or fail and refund it once the tries are used up. */
  private refused(order: Order, error: unknown): void {
    const { db, ledger, wakeups, log } = this.deps;
    const failures = order.retries + 1;
    orderMetrics.submitFailures.inc({ reason: 'refused' });
    if (failures >= this.retries.tries) {
      log.error({ orderId: order.id, tries: failures, err: error }, 'runner kept refusing the job; order refunded');
      if (failUnstarted({ db, ledger }, order)) orderMetrics.finished.inc({ outcome: 'failed' });
      wakeups.emit('outbox');
      return;
    }
    const delayMs = backoff(failures, this.retries.baseMs, this.retries.maxMs);
    log.warn({ orderId: order.id, tries: failures, retryInMs: delayMs, err: error }, 'runner refused the job; trying again later');
    orderMetrics.retries.inc({ step: 'submit' });
    deferOrder(db, order, 'queued', delayMs);
  }
}
