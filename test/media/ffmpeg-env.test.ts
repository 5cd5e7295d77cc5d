import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath } from '../../src/media/ffmpeg';
import { decodeProbe } from '../../src/media/probe';

/**
 * ffmpeg parses untrusted uploads, so it runs with nothing of the service's environment: a parser bug must not
 * hand an attacker the bot tokens and keys the service holds. A stand-in ffmpeg, chosen through FFMPEG_PATH as an
 * operator would, writes down the environment it was started with.
 */
describe('ffmpeg gets an empty environment', () => {
  let dir: string;
  let fake: string;
  const saved = { ...process.env };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ffmpeg-env-'));
    fake = join(dir, 'ffmpeg');
    await writeFile(fake, `#!/bin/sh\n/usr/bin/env > "${join(dir, 'env.txt')}"\necho progress=end\n`);
    await chmod(fake, 0o755);
    await writeFile(join(dir, 'clip.wav'), Buffer.alloc(64));
  });
  afterAll(async () => {
    process.env = saved;
    await rm(dir, { recursive: true, force: true });
  });

  it('a probe started with secrets in the environment passes none of them on', async () => {
    process.env.FFMPEG_PATH = fake;
    process.env.TELEGRAM_BOT_TOKEN = '7012345678:AAH-secret-for-the-env-test-only';
    process.env.AWS_SECRET_ACCESS_KEY = 'aws-secret-for-the-env-test-only';
    expect(ffmpegPath()).toBe(fake);

    await decodeProbe(join(dir, 'clip.wav'), { maxSeconds: 10 });

    const seen = await readFile(join(dir, 'env.txt'), 'utf8');
    expect(seen).not.toContain('secret-for-the-env-test-only');
    expect(seen.split('\n').filter((line) => line.includes('=') && !line.startsWith('PWD='))).toEqual([]);
  });

  it('a bare program name in FFMPEG_PATH is found on PATH once, so the child needs no PATH', () => {
    expect(ffmpegPath({ FFMPEG_PATH: 'env', PATH: '/usr/bin:/bin' })).toBe('/usr/bin/env');
  });
});
