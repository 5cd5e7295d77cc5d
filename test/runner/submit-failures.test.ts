import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDatabase } from '../../src/db';
import { ledger as ledgerTable, orders, outbox } from '../../src/db/schema';
import { transaction } from '../../src/db/tx';
import { Ledger } from '../../src/ledger';
import { silentLogger } from '../../src/log';
import { queueOrder, receiveOrder } from '../../src/orders/lifecycle';
import { defaultSubmitRetries, Dispatcher } from '../../src/processors/dispatcher';
import { Wakeups } from '../../src/processors/wakeups';
import { BatchRunner, batchJobName, SPOT_RETRY_STRATEGY } from '../../src/runner/batch-runner';
import { registry } from '../../src/metrics';
import { findOrCreateUser } from '../../src/users';
import { spokenFile } from '../support/audio';
import { FakeBatch } from '../support/fake-batch';
import { BATCH_DEFINITION, BATCH_QUEUE, batchServiceEnv, startS3WithCredentials } from '../support/aws';
import type { TestS3 } from '../support/s3rver';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

/** The job of any order with a file of this name is refused by Batch. */
const CURSED = 'cursed.ogg';
const refusesCursed = (job: { environment: Record<string, string> }) =>
  // One order's manifest, or the array of a group's: refused when any order in it has the cursed file.
  ([] as { inputs: { name: string }[] }[])
    .concat(JSON.parse(job.environment.JOB_MANIFEST) as { inputs: { name: string }[] } | { inputs: { name: string }[] }[])
    .some((manifest) => manifest.inputs.some((i) => i.name === CURSED));

describe('Batch refusing SubmitJob for one order', () => {
  let s3: TestS3;
  let batch: FakeBatch;
  let endpoint: string;
  let dir: string;
  let svc: TestService | undefined;

  beforeAll(async () => {
    s3 = await startS3WithCredentials();
    batch = new FakeBatch({ mode: 'hold' });
    endpoint = await batch.start();
    dir = await mkdtemp(join(tmpdir(), 'submit-failures-'));
  });
  afterAll(async () => {
    await svc?.stop();
    await batch?.stop();
    await s3?.stop();
    await rm(dir, { recursive: true, force: true });
    vi.unstubAllEnvs();
  });

  it('submits the other orders, and retries the refused one on its own after a wait until Batch takes it', async () => {
    const voice = await spokenFile(dir, 'voice.ogg', 'Call me back after lunch.');
    const cursed = join(dir, CURSED);
    await copyFile(voice, cursed);
    batch.refuseSubmit(refusesCursed);
    const channel = new TestChannel();
    svc = await startTestService({
      env: batchServiceEnv(s3, endpoint, { BATCH_JOB_TIMEOUT_SECONDS: '900' }),
      channels: [channel],
    });

    // The refused order is the oldest in the queue: the others must not wait behind it.
    await channel.receive(channel.message('bob', [cursed]));
    await channel.receive(channel.message('alice', [voice]));
    await channel.receive(channel.message('carol', [voice]));
    await svc.waitForOrder((o) => o.senderId === 'alice' && o.state === 'running', 30_000);
    await svc.waitForOrder((o) => o.senderId === 'carol' && o.state === 'running', 30_000);
    const bob = await svc.waitForOrder((o) => o.senderId === 'bob' && o.retries >= 1);
    expect(bob.state).toBe('queued');
    // Deferred by seconds (the back-off's first step) from when it was refused, not tried again at once.
    expect(bob.nextAttemptAt! - bob.updatedAt).toBeGreaterThan(defaultSubmitRetries.baseMs / 2);
    expect(batch.refusals).toContain(batchJobName(bob.id));

    // Batch takes it again: the order starts, keeping its seconds; nobody was refunded.
    batch.refuseSubmit(undefined);
    await svc.waitForOrder((o) => o.id === bob.id && o.state === 'running', 30_000);
    for (const order of svc.orders()) {
      const jobs = batch.submissions.filter((j) => j.jobName === batchJobName(order.id));
      expect(jobs).toHaveLength(1);
      expect(jobs[0].timeout).toEqual({ attemptDurationSeconds: 900 });
      expect(jobs[0].retryStrategy).toEqual(SPOT_RETRY_STRATEGY);
    }
    expect(channel.sent.filter((s) => s.reply.kind === 'notice')).toEqual([]);
    expect(svc.service.db.select().from(ledgerTable).where(eq(ledgerTable.kind, 'refund')).all()).toEqual([]);
  });

  it('fails and refunds an order Batch refuses every time, after the last try and growing waits, with a clear sentence', async () => {
    // A 400 is not retried inside the SDK, so each refusal is one try of the dispatcher's.
    batch.refuseSubmit(refusesCursed, { status: 400, type: 'ClientException', message: 'Container overrides were refused' });
    const before = batch.refusals.length;
    const db = openDatabase(':memory:');
    const ledger = new Ledger(db);
    const user = transaction(db, () => findOrCreateUser(db, ledger, 'test', 'dora', 600));
    const replyTo = { channel: 'test' as const, chatId: 'dora', messageId: 'm1' };
    receiveOrder(db, { id: 'o-cursed', userId: user.id, channel: 'test', replyTo, language: null }, [
      { position: 0, name: CURSED, key: 'orders/o-cursed/0', bytes: 10, duration: 42 },
    ]);
    queueOrder({ db, ledger }, db.select().from(orders).where(eq(orders.id, 'o-cursed')).get()!, [], 42);
    expect(ledger.balance(user.id)).toBe(558);
    const runner = new BatchRunner({
      jobQueue: BATCH_QUEUE,
      jobDefinition: BATCH_DEFINITION,
      region: 'us-east-1',
      endpoint,
      workerEnv: {},
      attemptTimeoutSeconds: 900,
      log: silentLogger,
    });
    const dispatcher = new Dispatcher({
      db,
      ledger,
      runner,
      wakeups: new Wakeups(),
      log: silentLogger,
      retries: { tries: 3, baseMs: 100, maxMs: 200 },
    });
    /** How long each refusal deferred the next try, by try. */
    const waits: number[] = [];
    try {
      const deadline = Date.now() + 30_000;
      while (db.select().from(orders).where(eq(orders.id, 'o-cursed')).get()!.state === 'queued' && Date.now() < deadline) {
        await dispatcher.tick();
        const row = db.select().from(orders).where(eq(orders.id, 'o-cursed')).get()!;
        if (row.state === 'queued' && row.retries > 0) waits[row.retries - 1] = row.nextAttemptAt! - row.updatedAt;
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await runner.close();
    }
    const order = db.select().from(orders).where(eq(orders.id, 'o-cursed')).get()!;
    expect(order.state).toBe('failed');
    expect(batch.refusals.length - before).toBe(3);
    // Two refusals deferred the next try, the second twice as long as the first (100 ms, then 200 ms here).
    expect(waits).toHaveLength(2);
    expect(waits[1]!).toBeGreaterThan(waits[0]! * 1.5);
    expect(batch.submissions.filter((j) => j.jobName === batchJobName('o-cursed'))).toEqual([]);
    expect(ledger.balance(user.id)).toBe(600);
    const notice = db.select().from(outbox).where(eq(outbox.key, 'failed:o-cursed')).get()!;
    expect(notice.payload.text).toBe(
      'Sorry, I could not start transcribing this: the transcription servers kept refusing the job. I gave back the 42 s it cost.',
    );
    db.$client.close();
  });

  it('keeps an order queued through a Batch outage longer than all its tries, counts it for the alert, and submits it once Batch is back', async () => {
    batch.refuseSubmit(() => true, { status: 503, type: 'ServerException', message: 'Service unavailable' });
    const failures = async () =>
      (await registry.getSingleMetric('transcribe_runner_submit_failures_total')!.get()).values.find(
        (v) => v.labels.reason === 'unavailable',
      )?.value ?? 0;
    const alertBefore = await failures();
    const db = openDatabase(':memory:');
    const ledger = new Ledger(db);
    const user = transaction(db, () => findOrCreateUser(db, ledger, 'test', 'erin', 600));
    const replyTo = { channel: 'test' as const, chatId: 'erin', messageId: 'm1' };
    receiveOrder(db, { id: 'o-outage', userId: user.id, channel: 'test', replyTo, language: null }, [
      { position: 0, name: 'voice.ogg', key: 'orders/o-outage/0', bytes: 10, duration: 42 },
    ]);
    queueOrder({ db, ledger }, db.select().from(orders).where(eq(orders.id, 'o-outage')).get()!, [], 42);
    const runner = new BatchRunner({
      jobQueue: BATCH_QUEUE,
      jobDefinition: BATCH_DEFINITION,
      region: 'us-east-1',
      endpoint,
      workerEnv: {},
      attemptTimeoutSeconds: 900,
      log: silentLogger,
    });
    const dispatcher = new Dispatcher({
      db,
      ledger,
      runner,
      wakeups: new Wakeups(),
      log: silentLogger,
      retries: { tries: 3, baseMs: 50, maxMs: 100 },
    });
    const order = () => db.select().from(orders).where(eq(orders.id, 'o-outage')).get()!;
    const asked = () => batch.calls.filter((call) => call === 'submitjob').length;
    /** Dispatcher passes until one asks Batch to submit (a fresh order is first held back a moment to gather a group). */
    const pass = async () => {
      const before = asked();
      while (asked() === before) {
        await vi.waitFor(() => expect(order().nextAttemptAt ?? 0).toBeLessThanOrEqual(Date.now()), { timeout: 30_000, interval: 20 });
        await dispatcher.tick();
        if (asked() === before) await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      // Twice as many passes as a refused job gets tries before it is refunded: the order waits through them all.
      for (let n = 0; n < 6; n++) await pass();
      expect(batch.refusals.filter((name) => name === batchJobName('o-outage')).length).toBeGreaterThanOrEqual(6);
      expect(order().state).toBe('queued');
      expect(order().retries).toBe(0);
      expect(ledger.balance(user.id)).toBe(558);
      expect(db.select().from(outbox).where(eq(outbox.key, 'failed:o-outage')).get()).toBeUndefined();
      expect((await failures()) - alertBefore).toBe(6);

      // Batch is back: the order is submitted on the next pass, with the seconds it was charged.
      batch.refuseSubmit(undefined);
      await pass();
      expect(order().state).toBe('running');
      expect(batch.submissions.filter((j) => j.jobName === batchJobName('o-outage'))).toHaveLength(1);
      expect(ledger.balance(user.id)).toBe(558);
    } finally {
      await runner.close();
      db.$client.close();
    }
  });
});
