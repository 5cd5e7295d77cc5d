import { readdir, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderIdFor } from '../../src/intake/intake';
import { silentLogger } from '../../src/log';
import { AudioCleanup } from '../../src/outbox/audio-cleanup';
import { LocalBlobStore } from '../../src/storage/local-blob-store';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

/**
 * A service killed while it stored a user's file leaves the half-written copy (`<key>.<uuid>.partial`); the
 * message comes again after the restart and is stored under a new temporary name. The copies are the user's
 * audio, up to MAX_FILE_BYTES each: they must not outlive the order's own audio.
 */
const SPEECH = '/usr/share/sounds/alsa/Front_Center.wav';

describe('half-written uploads of a run killed midway', () => {
  let svc: TestService;
  const chat = new TestChannel();
  beforeAll(async () => {
    svc = await startTestService({ channels: [chat], env: { NEW_USER_FREE_SECONDS: '600' } });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it('are removed when the message is taken in again, and the order delivers as usual', async () => {
    const message = chat.message('pat', [SPEECH]);
    const store = svc.service.store as LocalBlobStore;
    const folder = `orders/${orderIdFor(message)}`;
    const leftover = store.localPath(`${folder}/0`) + '.3f2a9c1e.partial';
    await mkdir(dirname(leftover), { recursive: true });
    await writeFile(leftover, Buffer.alloc(64 * 1024, 7));

    await chat.receive(message);
    const order = await svc.waitForOrder((o) => o.senderId === 'pat' && o.state === 'delivered');
    expect(order.id).toBe(orderIdFor(message));
    const files = await readdir(dirname(leftover));
    expect(files.filter((name) => name.endsWith('.partial'))).toEqual([]);
  });

  it('are removed with the audio once the transcript is delivered', async () => {
    const store = svc.service.store as LocalBlobStore;
    const folder = 'orders/0123456789abcdef0123456789abcdef';
    const leftover = store.localPath(`${folder}/1`) + '.9b8c.partial';
    await mkdir(dirname(leftover), { recursive: true });
    await writeFile(leftover, Buffer.alloc(1024));
    const long = new Date(Date.now() - 60_000);
    await utimes(leftover, long, long);
    await new AudioCleanup({ db: svc.service.db, store, log: silentLogger }).deleteAudio('0123456789abcdef0123456789abcdef');
    expect(await readdir(dirname(leftover))).toEqual([]);
    await rm(dirname(leftover), { recursive: true, force: true });
  });
});
