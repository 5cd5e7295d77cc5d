import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath } from '../../src/media/ffmpeg';
import { ffmpeg, speak } from '../../test/support/speech';
import { decodePcm } from '../src/decode';
import { decodeOggOpus, isOggOpus } from '../src/opus-pcm';

const run = promisify(execFile);

/** What the reference decoder (libopus, through ffmpeg) makes of `path`: 16 kHz mono s16le. */
async function reference(path: string): Promise<Int16Array> {
  const { stdout } = await run(
    ffmpegPath(),
    ['-nostdin', '-loglevel', 'error', '-c:a', 'libopus', '-i', path, '-ac', '1', '-ar', '16000', '-f', 's16le', '-'],
    { encoding: 'buffer', maxBuffer: 1 << 26 },
  );
  return samples(stdout);
}

const samples = (pcm: Buffer) => new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);

/** Signal-to-difference ratio in dB: how closely `ours` follows `theirs`, sample by sample. */
function snr(theirs: Int16Array, ours: Int16Array): number {
  let signal = 0;
  let error = 0;
  for (let i = 0; i < Math.min(theirs.length, ours.length); i++) {
    signal += theirs[i]! ** 2;
    error += (theirs[i]! - ours[i]!) ** 2;
  }
  return 10 * Math.log10(signal / error);
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('Ogg/Opus decoded in process', () => {
  let dir: string;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opus-pcm-'));
    const wav = join(dir, 'fox.wav');
    await speak('The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog.', wav);
    // A low-bitrate mono note (SILK, as phones record them) and a stereo one at the default rate (CELT).
    files.note = join(dir, 'note.ogg');
    files.stereo = join(dir, 'stereo.ogg');
    files.vorbis = join(dir, 'vorbis.ogg');
    await ffmpeg(['-i', wav, '-c:a', 'libopus', '-b:a', '24k', files.note]);
    await ffmpeg(['-i', wav, '-ac', '2', '-c:a', 'libopus', files.stereo]);
    await ffmpeg(['-i', wav, '-c:a', 'libvorbis', files.vorbis]);
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives the reference decoder’s samples, mono and stereo alike, with the same length', async () => {
    for (const name of ['note', 'stereo']) {
      const ours = samples((await decodeOggOpus(await readFile(files[name]!)))!);
      const theirs = await reference(files[name]!);
      expect(ours.length, name).toBe(theirs.length);
      expect(snr(theirs, ours), name).toBeGreaterThan(50);
    }
  });

  it('stops at the samples asked for, and leaves other Ogg streams and damaged ones to ffmpeg', async () => {
    const note = await readFile(files.note!);
    expect((await decodeOggOpus(note, 16_000))!.length).toBe(32_000);
    const vorbis = await readFile(files.vorbis!);
    expect(isOggOpus(vorbis)).toBe(false);
    // The headers of a voice note followed by garbage: the decoder reports errors, and ffmpeg gets the file.
    const damaged = Buffer.concat([note.subarray(0, 200), Buffer.alloc(4000, 0x5a)]);
    expect(isOggOpus(damaged)).toBe(true);
    expect(await decodeOggOpus(damaged)).toBeUndefined();
    const path = join(dir, 'damaged.ogg');
    await writeFile(path, damaged);
    await expect(collect(decodePcm(path, { container: 'ogg' }))).rejects.toMatchObject({ code: 'corrupt' });
  });

  it('keeps to the charged seconds on this path too: the audio past them is cut and the cut reported', async () => {
    let cutAt: number | undefined;
    const pcm = await collect(decodePcm(files.note!, { container: 'ogg', chargedSeconds: 2, onCut: (s) => (cutAt = s) }));
    expect(pcm.length).toBe(2 * 16_000 * 2);
    expect(cutAt).toBe(2);
    const whole = await collect(decodePcm(files.note!, { container: 'ogg', maxSeconds: 60 }));
    expect(whole.length).toBe((await reference(files.note!)).length * 2);
    await expect(collect(decodePcm(files.note!, { container: 'ogg', maxSeconds: 2 }))).rejects.toMatchObject({ code: 'too_long' });
  });
});
