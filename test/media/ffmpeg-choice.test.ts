import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath } from '../../src/media/ffmpeg';

/** Which ffmpeg the service picks, and what an operator is told when it falls back to the old npm build. */
describe('choosing ffmpeg', () => {
  let dir: string;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ffmpeg-choice-'));
    await writeFile(join(dir, 'ffmpeg'), '#!/bin/sh\n');
    await chmod(join(dir, 'ffmpeg'), 0o755);
    process.on('warning', onWarning);
  });
  afterAll(async () => {
    process.off('warning', onWarning);
    await rm(dir, { recursive: true, force: true });
  });

  it('takes FFMPEG_PATH, then an ffmpeg on PATH, without a warning', () => {
    expect(ffmpegPath({ FFMPEG_PATH: '/opt/ffmpeg', PATH: dir })).toBe('/opt/ffmpeg');
    expect(ffmpegPath({ PATH: dir })).toBe(join(dir, 'ffmpeg'));
    expect(warnings).toEqual([]);
  });

  it("falls back to the npm package's 2018 build only with a warning that names it and says what to install", async () => {
    const chosen = ffmpegPath({ PATH: join(dir, 'empty') });
    expect(chosen).toMatch(/@ffmpeg-installer\/linux-x64\/ffmpeg$/);
    // process.emitWarning delivers on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/static ffmpeg 4\.1 from 2018.*apt-get install ffmpeg.*FFMPEG_PATH/),
    ]);
  });
});
