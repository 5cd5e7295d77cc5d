import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config';
import { resultKey } from '../../src/ports/runner';
import { blobStoreFromConfig } from '../../src/app/storage';
import { LocalBlobStore } from '../../src/storage/local-blob-store';
import { S3BlobStore } from '../../src/storage/s3-blob-store';
import { spokenFile } from '../support/audio';
import { startS3WithCredentials } from '../support/aws';
import type { TestS3 } from '../support/s3rver';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

describe('STORAGE=s3 with the local runner', () => {
  let s3: TestS3;
  let dir: string;
  let svc: TestService | undefined;

  beforeAll(async () => {
    s3 = await startS3WithCredentials();
    dir = await mkdtemp(join(tmpdir(), 's3-service-'));
  });
  afterAll(async () => {
    await svc?.stop();
    await s3?.stop();
    await rm(dir, { recursive: true, force: true });
    vi.unstubAllEnvs();
  });

  it('keeps audio and results in the bucket and still transcribes on this machine', async () => {
    const voice = await spokenFile(dir, 'memo.ogg', 'The meeting moves to Thursday at noon in the large room.');
    const channel = new TestChannel();
    svc = await startTestService({ env: s3.env, channels: [channel] });
    expect(svc.service.store).toBeInstanceOf(S3BlobStore);

    await channel.receive(channel.message('erin', [voice]));
    const transcript = await channel.waitForReply((r) => r.kind === 'transcript');
    for (const word of ['meeting', 'thursday']) expect(transcript.text.toLowerCase()).toContain(word);

    const [order] = svc.orders();
    expect(order.state).toBe('delivered');
    expect(await svc.service.store.exists(resultKey(`orders/${order.id}/0`))).toBe(true);
    expect(existsSync(join(svc.dataDir, 'blobs'))).toBe(false);
  });

  it('picks the store and runner from the configuration, and refuses Batch without S3', () => {
    const local = loadConfig({ DATA_DIR: dir });
    expect(blobStoreFromConfig(local)).toBeInstanceOf(LocalBlobStore);
    // Refused at configuration time, as one line naming the variable.
    expect(() => loadConfig({ DATA_DIR: dir, RUNNER: 'batch', BATCH_JOB_QUEUE: 'q', BATCH_JOB_DEFINITION: 'd' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATA_DIR: dir, RUNNER: 'batch', BATCH_JOB_QUEUE: 'q', BATCH_JOB_DEFINITION: 'd' })).toThrow(
      /^STORAGE must be s3/,
    );
  });
});
