import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath } from '../../src/media/ffmpeg';
import { manyChannelOgg } from '../../test/support/forged-audio';
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
    // Ten seconds of speech, mono, to decode only part of.
    files.long = join(dir, 'long.ogg');
    await ffmpeg(['-i', wav, '-i', wav, '-i', wav, '-filter_complex', 'concat=n=3:v=0:a=1', '-c:a', 'libopus', '-b:a', '24k', files.long]);
    files.hostile = await manyChannelOgg(dir, wav, 255);
    files.surround = await manyChannelOgg(dir, wav, 6);
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gives the reference decoder’s samples, mono and stereo alike, with the same length', async () => {
    for (const name of ['note', 'stereo']) {
      const ours = samples((await decodeOggOpus(await readFile(files[name]!)))!.pcm);
      const theirs = await reference(files[name]!);
      expect(ours.length, name).toBe(theirs.length);
      expect(snr(theirs, ours), name).toBeGreaterThan(50);
    }
  });

  it('stops at the samples asked for, and leaves other Ogg streams and damaged ones to ffmpeg', async () => {
    const note = await readFile(files.note!);
    expect((await decodeOggOpus(note, 16_000))!.pcm.length).toBe(32_000);
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

  it('decodes no further than the samples asked for: a long note asked for one second decodes about one second', async () => {
    const note = await readFile(files.long!);
    const whole = (await decodeOggOpus(note))!;
    expect(whole.decodedSamples).toBeGreaterThan(8 * 48_000);
    const part = (await decodeOggOpus(note, 16_000))!;
    expect(part.pcm.length).toBe(32_000);
    // One piece of the file (4 KB, about 1.4 s at 24 kb/s) past the second asked for, at most.
    expect(part.decodedSamples).toBeLessThan(3 * 48_000);
  });

  it('refuses a header declaring 255 channels before decoding, and the worker’s ffmpeg refuses it too', async () => {
    const hostile = await readFile(files.hostile!);
    // A few KB, whose in-process decode took 255 channels of 48 kHz floats (0.8 CPU s, 440 MB for 3 s).
    expect(hostile.length).toBeLessThan(16 * 1024);
    expect(await decodeOggOpus(hostile)).toBeUndefined();
    // ffmpeg's mixer takes no more than 64 channels.
    await expect(collect(decodePcm(files.hostile!, { container: 'ogg', chargedSeconds: 3 }))).rejects.toMatchObject({ code: 'corrupt' });
  });

  it('mixes a six-channel note down through ffmpeg, measured there and cut at the charged seconds', async () => {
    const surround = await readFile(files.surround!);
    expect(await decodeOggOpus(surround)).toBeUndefined();
    let cutAt: number | undefined;
    const pcm = await collect(decodePcm(files.surround!, { container: 'ogg', chargedSeconds: 1, onCut: (s) => (cutAt = s) }));
    expect(pcm.length).toBe(16_000 * 2);
    expect(cutAt).toBe(1);
  });
});
