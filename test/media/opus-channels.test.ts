import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oggOpusSeconds } from '../../src/media/opus-length';
import { probeFile } from '../../src/media/probe';
import { manyChannelOgg } from '../support/forged-audio';
import { speak } from '../support/speech';

describe('measuring Ogg/Opus files with more channels than a voice note', () => {
  let dir: string;
  let hostile: string;
  let surround: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opus-channels-'));
    const wav = join(dir, 'fox.wav');
    await speak('The quick brown fox jumps over the lazy dog.', wav);
    hostile = await manyChannelOgg(dir, wav, 255);
    surround = await manyChannelOgg(dir, wav, 6);
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('leaves a header declaring 255 channels to ffmpeg, which refuses it: nothing is charged', async () => {
    expect(oggOpusSeconds(await readFile(hostile))).toBeUndefined();
    expect(await probeFile(hostile, { maxSeconds: 60 })).toEqual({ duration: null });
  });

  it('measures a six-channel file by ffmpeg’s decode, as the worker will decode it', async () => {
    expect(oggOpusSeconds(await readFile(surround))).toBeUndefined();
    const probe = await probeFile(surround, { maxSeconds: 60 });
    expect(probe.duration).toBeGreaterThan(2);
    expect(probe.duration).toBeLessThan(5);
  });
});
