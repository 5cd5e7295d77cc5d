import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config';
import { ledger } from '../../src/db/schema';
import { silentLogger } from '../../src/log';
import { resultKey, type JobManifest, type JobStatus, type Runner } from '../../src/ports/runner';
import { runnerFromConfig } from '../../src/app/runner';
import { blobStoreFromConfig } from '../../src/app/storage';
import { spokenFile } from '../support/audio';
import { startS3WithCredentials } from '../support/aws';
import type { TestS3 } from '../support/s3rver';
import { PREPARED_MODEL, startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

/**
 * The real local runner, except that a finished job is reported as still running until the test lets
 * it go: so the test can take S3 down after the worker wrote its results and before the tracker reads them.
 */
class HeldRunner implements Runner {
  held = true;
  constructor(readonly inner: Runner) {}
  submit(manifest: JobManifest): Promise<string> {
    return this.inner.submit(manifest);
  }
  async status(id: string): Promise<JobStatus> {
    const status = await this.inner.status(id);
    return this.held && status.state === 'succeeded' ? { state: 'running' } : status;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('S3 down while an order finishes', () => {
  let s3: TestS3;
  let dir: string;
  let svc: TestService | undefined;

  beforeAll(async () => {
    s3 = await startS3WithCredentials();
    dir = await mkdtemp(join(tmpdir(), 's3-outage-'));
  });
  afterAll(async () => {
    await svc?.stop();
    await s3?.stop();
    await rm(dir, { recursive: true, force: true });
    vi.unstubAllEnvs();
  });

  it('waits for the bucket to come back and delivers one transcript with one charge, no refund', async () => {
    const voice = await spokenFile(dir, 'memo.ogg', 'The delivery van arrives on Monday morning at nine.');
    const config = loadConfig({
      DATA_DIR: join(dir, 'runner'),
      WHISPER_MODEL: PREPARED_MODEL,
      WHISPER_THREADS: '2',
      LOG_LEVEL: 'silent',
      ...s3.env,
    });
    const runner = new HeldRunner(runnerFromConfig(config, silentLogger, blobStoreFromConfig(config)));
    const channel = new TestChannel();
    svc = await startTestService({ env: s3.env, channels: [channel], runner });

    await channel.receive(channel.message('ines', [voice]));
    const running = await svc.waitForOrder((o) => o.state === 'running' && o.runnerJobId !== null);
    // The worker has written the result into the bucket and exited.
    await until(async () => (await runner.inner.status(running.runnerJobId!)).state === 'succeeded', 120_000);
    expect(await svc.service.store.exists(resultKey(`orders/${running.id}/0`))).toBe(true);

    await s3.outage();
    runner.held = false;
    // The tracker finds the job done but cannot read the bucket: the order waits, nothing is refunded.
    const waiting = await svc.waitForOrder((o) => o.id === running.id && o.retries >= 1, 30_000);
    expect(waiting.state).toBe('running');
    // Deferred from when the read failed (not from when this test got to look, which may be later).
    expect(waiting.nextAttemptAt).toBeGreaterThan(waiting.updatedAt);
    await new Promise((r) => setTimeout(r, 3000));
    expect(svc.orders()[0].state).toBe('running');
    expect(channel.sent.filter((s) => s.reply.kind === 'notice')).toEqual([]);

    await s3.restore();
    const transcript = await channel.waitForReply((r) => r.kind === 'transcript', 120_000);
    for (const word of ['delivery', 'monday']) expect(transcript.text.toLowerCase()).toContain(word);
    await new Promise((r) => setTimeout(r, 1500)); // room for a second transcript, were there one
    expect(channel.repliesTo('ines', 'transcript')).toHaveLength(1);

    const [order] = svc.orders();
    expect(order).toMatchObject({ state: 'delivered', retries: 0 });
    const entries = svc.service.db.select().from(ledger).where(eq(ledger.orderId, order.id)).all();
    expect(entries.map((e) => e.kind)).toEqual(['spend']);
    expect(svc.balance('test', 'ines')).toBe(600 - order.seconds);
  });
});

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
