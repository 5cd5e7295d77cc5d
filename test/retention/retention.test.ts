import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { Service } from '../../src/app/service';
import { loadConfig } from '../../src/config';
import { openDatabase } from '../../src/db';
import { inboundMessages, ledger as ledgerTable, orders, outbox, paymentNotices } from '../../src/db/schema';
import { transaction } from '../../src/db/tx';
import { Ledger } from '../../src/ledger';
import { silentLogger } from '../../src/log';
import { failOrder, queueOrder, receiveOrder, startJobs, completeOrder, type Order } from '../../src/orders/lifecycle';
import { orderFiles } from '../../src/orders/summary';
import { Retention } from '../../src/retention/retention';
import { LocalBlobStore } from '../../src/storage/local-blob-store';
import { findOrCreateUser } from '../../src/users';
import { ScriptedRunner } from '../support/runners';

/**
 * Retention on a real database and blob folder: what is old and finished goes (blobs of delivered and
 * failed orders, handled-message records, sent replies, payment events), what is recent or still in
 * flight stays, and the ledger is never touched.
 */

const DAY = 86_400_000;
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function setup() {
  const dataDir = await mkdtemp(join(tmpdir(), 'retention-'));
  dirs.push(dataDir);
  const db = openDatabase(join(dataDir, 'service.db'));
  const ledger = new Ledger(db);
  const store = new LocalBlobStore(join(dataDir, 'blobs'));
  const userId = transaction(db, () => findOrCreateUser(db, ledger, 'test', 'ann', 10_000)).id;
  return { dataDir, db, ledger, store, userId };
}

/** An order with one stored file and its result, taken through the real commands to `to`, last changed `ageDays` ago. */
async function order(
  ctx: Awaited<ReturnType<typeof setup>>,
  id: string,
  to: 'delivered' | 'failed' | 'running',
  ageDays: number,
): Promise<Order> {
  const { db, ledger, store, userId } = ctx;
  receiveOrder(db, { id, userId, channel: 'test', replyTo: { channel: 'test', chatId: 'ann', messageId: id }, language: null }, [
    { position: 0, name: 'memo.ogg', key: `orders/${id}/0`, bytes: 5, duration: 3 },
  ]);
  await store.put(`orders/${id}/0`, Buffer.from('audio'));
  await store.put(`orders/${id}/0_result.json`, Buffer.from('{}'));
  const row = () => db.select().from(orders).where(eq(orders.id, id)).get()!;
  queueOrder({ db, ledger }, row(), ['• memo.ogg'], 3);
  startJobs(db, [{ order: row(), runnerJobId: `job-${id}` }]);
  if (to === 'delivered') completeOrder({ db, ledger }, row(), orderFiles(db, id), []);
  if (to === 'failed') failOrder({ db, ledger }, row());
  db.$client.prepare('UPDATE orders SET updated_at = ? WHERE id = ?').run(Date.now() - ageDays * DAY, id);
  return row();
}

const blobs = (dataDir: string, id: string) => existsSync(join(dataDir, 'blobs', 'orders', id));

describe('retention', () => {
  it("deletes old finished orders' blobs and old message records, keeps recent and running ones, never the ledger", async () => {
    const ctx = await setup();
    const { db, store, dataDir } = ctx;
    await order(ctx, 'old-delivered', 'delivered', 40);
    await order(ctx, 'old-failed', 'failed', 31);
    await order(ctx, 'new-delivered', 'delivered', 2);
    await order(ctx, 'old-running', 'running', 60);
    const age = (table: string, column: string, days: number) =>
      db.$client.prepare(`UPDATE ${table} SET ${column} = ?`).run(Date.now() - days * DAY);
    db.insert(inboundMessages).values({ channel: 'test', messageId: 'old' }).run();
    age('inbound_messages', 'received_at', 100);
    db.insert(inboundMessages).values({ channel: 'test', messageId: 'new' }).run();
    db.insert(paymentNotices).values({ eventId: 'evt_old', type: 'paid', outcome: 'applied' }).run();
    age('stripe_events', 'received_at', 100);
    age('outbox', 'created_at', 100);
    db.update(outbox).set({ state: 'sent' }).where(eq(outbox.key, 'done:old-delivered')).run();
    db.update(outbox).set({ state: 'sent' }).where(eq(outbox.key, 'transcript:old-delivered')).run();
    db.update(outbox).set({ state: 'dead' }).where(eq(outbox.key, 'failed:old-failed')).run();
    const ledgerBefore = db.select().from(ledgerTable).all();

    const retention = new Retention({ db, store, resultDays: 30, recordDays: 90, log: silentLogger });
    const report = await retention.sweep();
    expect(report).toEqual({ ordersPurged: 2, inboundMessages: 1, outboxReplies: 3, paymentEvents: 1 });
    expect([
      blobs(dataDir, 'old-delivered'),
      blobs(dataDir, 'old-failed'),
      blobs(dataDir, 'new-delivered'),
      blobs(dataDir, 'old-running'),
    ]).toEqual([false, false, true, true]);
    const purged = db.select({ id: orders.id, purgedAt: orders.purgedAt }).from(orders).all();
    expect(
      purged
        .filter((o) => o.purgedAt !== null)
        .map((o) => o.id)
        .sort(),
    ).toEqual(['old-delivered', 'old-failed']);
    expect(
      db
        .select()
        .from(inboundMessages)
        .all()
        .map((m) => m.messageId),
    ).toEqual(['new']);
    // Old replies still waiting to be sent stay; sent and given-up ones go.
    expect(db.select({ key: outbox.key }).from(outbox).where(eq(outbox.key, 'done:old-delivered')).all()).toEqual([]);
    expect(db.select({ key: outbox.key }).from(outbox).where(eq(outbox.key, 'quote:old-running')).all()).toHaveLength(1);
    expect(db.select().from(ledgerTable).all()).toEqual(ledgerBefore);

    expect(await retention.sweep()).toEqual({ ordersPurged: 0, inboundMessages: 0, outboxReplies: 0, paymentEvents: 0 });
    expect(await new Retention({ db, store, resultDays: 0, recordDays: 0, log: silentLogger }).sweep(Date.now() + 1000 * DAY)).toEqual({
      ordersPurged: 0,
      inboundMessages: 0,
      outboxReplies: 0,
      paymentEvents: 0,
    });
    db.$client.close();
  });

  it("keeps an old order's results while its transcript is still to be sent; deletes them once it is sent or given up", async () => {
    const ctx = await setup();
    const { db, store, dataDir } = ctx;
    // Delivered 40 days ago, but the platform has refused the transcript since (a long outage): still pending.
    await order(ctx, 'waiting', 'delivered', 40);
    await order(ctx, 'given-up', 'delivered', 40);
    const transcriptState = (id: string) =>
      db
        .select({ state: outbox.state })
        .from(outbox)
        .where(eq(outbox.key, `transcript:${id}`))
        .get()?.state;
    expect(transcriptState('waiting')).toBe('pending');
    db.update(outbox).set({ state: 'dead' }).where(eq(outbox.key, 'transcript:given-up')).run();
    const retention = new Retention({ db, store, resultDays: 30, recordDays: 0, log: silentLogger });

    expect((await retention.sweep()).ordersPurged).toBe(1);
    expect([blobs(dataDir, 'waiting'), blobs(dataDir, 'given-up')]).toEqual([true, false]);
    // The reply the sender will still try reads its results from the store: they are all there.
    expect(await store.exists('orders/waiting/0_result.json')).toBe(true);
    expect(db.select({ purgedAt: orders.purgedAt }).from(orders).where(eq(orders.id, 'waiting')).get()!.purgedAt).toBeNull();

    db.update(outbox).set({ state: 'sent' }).where(eq(outbox.key, 'transcript:waiting')).run();
    expect((await retention.sweep()).ordersPurged).toBe(1);
    expect(blobs(dataDir, 'waiting')).toBe(false);
    db.$client.close();
  });

  it('the service sweeps at start and takes a backup when BACKUP_INTERVAL is set and none is recent', async () => {
    const ctx = await setup();
    await order(ctx, 'stale', 'delivered', 45);
    // Its replies went out long ago.
    ctx.db.update(outbox).set({ state: 'sent' }).run();
    ctx.db.$client.close();
    const backups = await mkdtemp(join(tmpdir(), 'retention-backups-'));
    dirs.push(backups);
    const config = loadConfig({
      DATA_DIR: ctx.dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      BACKUP_INTERVAL: '6h',
      BACKUP_TO: backups,
      RESULT_RETENTION_DAYS: '30',
    });
    const service = new Service(config, { channels: [], runner: new ScriptedRunner('pending') }, silentLogger);
    await service.start();
    try {
      await expect.poll(() => readdir(backups), { timeout: 30_000 }).toEqual([expect.stringMatching(/^service-\d{8}T\d{6}Z\.db\.gz$/)]);
      await expect.poll(() => blobs(ctx.dataDir, 'stale'), { timeout: 30_000 }).toBe(false);
    } finally {
      await service.stop();
    }
  });
});
