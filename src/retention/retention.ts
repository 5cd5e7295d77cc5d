import { and, eq, inArray, isNotNull, isNull, lt, notExists, or, sql } from 'drizzle-orm';
import type { Db } from '../db';
import { orders, outbox } from '../db/schema';
import type { Logger } from '../log';
import { markPurged } from '../orders/lifecycle';
import type { BlobStore } from '../ports/blob-store';

const DAY_MS = 86_400_000;
/**
 * Orders in these states are done with their blobs once old. An expired order counts only once its
 * audio was deleted (a late payment may still queue it while the audio is kept).
 */
const FINISHED = ['delivered', 'failed', 'rejected'] as const;
/** Rows per delete: short transactions, so the service's writers never wait long. */
const BATCH = 500;

export interface RetentionReport {
  ordersPurged: number;
  inboundMessages: number;
  outboxReplies: number;
  paymentEvents: number;
}

/**
 * Keeps the bucket and the database from growing without bound. Audio is deleted as soon as the
 * transcript is delivered (`OutboxSender`); this sweeps what is left: after `resultDays`, a finished
 * order's whole blob folder (results, and audio a failed order kept for a retry), and after
 * `recordDays` the records that only exist to make redeliveries harmless (handled platform messages,
 * sent or abandoned replies, payment provider events). Orders, their files' names and durations, users
 * and the ledger stay: they are the accounts. A days value of 0 keeps that kind forever.
 */
export class Retention {
  constructor(private readonly deps: { db: Db; store: BlobStore; resultDays: number; recordDays: number; log: Logger }) {}

  /** One pass; for a `Loop`. Safe to run in several processes or to interrupt: each step is keyed by state. */
  sweep = async (now = Date.now()): Promise<RetentionReport> => {
    const { resultDays, recordDays, log } = this.deps;
    const report: RetentionReport = { ordersPurged: 0, inboundMessages: 0, outboxReplies: 0, paymentEvents: 0 };
    if (resultDays > 0) report.ordersPurged = await this.purgeOrders(now - resultDays * DAY_MS);
    if (recordDays > 0) {
      const before = now - recordDays * DAY_MS;
      report.inboundMessages = this.deleteOld('inbound_messages', 'received_at', before);
      report.outboxReplies = this.deleteOld('outbox', 'created_at', before, "state IN ('sent', 'dead')");
      report.paymentEvents = this.deleteOld('stripe_events', 'received_at', before);
    }
    if (Object.values(report).some((n) => n > 0)) log.info(report, 'retention: old blobs and records deleted');
    return report;
  };

  /**
   * Deletes the blob folders of orders finished before `before`, then marks them purged. An order whose
   * transcript reply is still pending (the platform refused it for weeks) keeps them: the sender renders
   * the reply's files from the results when it finally goes out. Sent or given up (`dead`), they may go.
   */
  private async purgeOrders(before: number): Promise<number> {
    const { db, store } = this.deps;
    // The lane of an order's replies is its id (`replyLane`): the outbox_lane index answers this.
    const transcriptStillPending = db
      .select({ one: sql`1` })
      .from(outbox)
      .where(
        and(
          eq(outbox.lane, orders.id),
          eq(outbox.state, 'pending'),
          eq(outbox.orderId, orders.id),
          sql`json_extract(${outbox.payload}, '$.kind') = 'transcript'`,
        ),
      );
    let purged = 0;
    for (;;) {
      const due = db
        .select({ id: orders.id })
        .from(orders)
        .where(
          and(
            or(inArray(orders.state, [...FINISHED]), and(eq(orders.state, 'expired'), isNotNull(orders.audioDeletedAt))),
            isNull(orders.purgedAt),
            lt(orders.updatedAt, before),
            notExists(transcriptStillPending),
          ),
        )
        .limit(100)
        .all();
      if (due.length === 0) return purged;
      for (const { id } of due) {
        // Blobs first: a crash in between leaves the order unmarked, and the next pass deletes again (harmless).
        await store.deletePrefix(`orders/${id}`);
        markPurged(db, id);
        purged += 1;
      }
    }
  }

  private deleteOld(table: string, column: string, before: number, extra?: string): number {
    const statement = this.deps.db.$client.prepare(
      `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ${column} < ? ${extra ? `AND ${extra}` : ''} LIMIT ${BATCH})`,
    );
    let total = 0;
    for (;;) {
      const { changes } = statement.run(before);
      total += changes;
      if (changes < BATCH) return total;
    }
  }
}
