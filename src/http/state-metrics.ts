import { Gauge } from 'prom-client';
import { sql } from 'drizzle-orm';
import type { Db } from '../db';
import { orders } from '../db/schema';
import { registry } from '../metrics';

/**
 * Gauges read from the database at scrape time, so they are right across restarts:
 * orders by state, queue depth and audio seconds transcribed.
 */
export function registerStateMetrics(db: Db): void {
  for (const name of ['transcribe_orders', 'transcribe_queue_depth_orders', 'transcribe_delivered_audio_seconds'])
    registry.removeSingleMetric(name);
  new Gauge({
    name: 'transcribe_orders',
    help: 'Orders in each state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const row of db
        .select({ state: orders.state, n: sql<number>`count(*)` })
        .from(orders)
        .groupBy(orders.state)
        .all()) {
        this.set({ state: row.state }, row.n);
      }
    },
  });
  new Gauge({
    name: 'transcribe_queue_depth_orders',
    help: 'Orders queued or running',
    registers: [registry],
    collect() {
      const row = db
        .select({ n: sql<number>`count(*)` })
        .from(orders)
        .where(sql`${orders.state} in ('queued','running')`)
        .get();
      this.set(row?.n ?? 0);
    },
  });
  new Gauge({
    name: 'transcribe_delivered_audio_seconds',
    help: 'Billable audio seconds in delivered orders',
    registers: [registry],
    collect() {
      const row = db
        .select({ s: sql<number>`coalesce(sum(${orders.seconds}), 0)` })
        .from(orders)
        .where(sql`${orders.state} = 'delivered'`)
        .get();
      this.set(row?.s ?? 0);
    },
  });
}
