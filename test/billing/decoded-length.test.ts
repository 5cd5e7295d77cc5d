import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFile } from 'music-metadata';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeAttachment } from '../../src/intake/store-attachment';
import { LocalBlobStore } from '../../src/storage/local-blob-store';
import { BYTES_PER_SAMPLE, SAMPLE_RATE, decodePcm } from '../../whisper-container/src/decode';
import { encode, ffmpeg } from '../support/speech';
import { forgedMp3, forgedMp4, forgedOgg, forgedWav, speechWav, type ForgedFile } from '../support/forged-audio';

/**
 * Billing follows the audio, not its headers: recordings whose headers say about one second are measured at
 * their decoded length by intake, and the worker never decodes past the seconds charged.
 */

const SPEECH =
  'The train to the city leaves from platform four. Remember to water the plants while I am away. The museum has a large collection of old paintings.';

/** Seconds of audio the worker's decoder gets out of a file: what is transcribed, whatever the headers say. */
async function decodedSeconds(path: string): Promise<number> {
  let bytes = 0;
  for await (const chunk of decodePcm(path, { container: null })) bytes += chunk.length;
  return bytes / BYTES_PER_SAMPLE / SAMPLE_RATE;
}

describe('the length intake charges for', () => {
  let dir: string;
  let store: LocalBlobStore;
  let real: number;
  let wav: string;
  let forged: ForgedFile[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'decoded-length-'));
    store = new LocalBlobStore(join(dir, 'blobs'));
    ({ wav, seconds: real } = await speechWav(dir, SPEECH));
    forged = [await forgedMp3(dir, wav), await forgedOgg(dir, wav), await forgedMp4(dir, wav)];
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const intake = async (file: ForgedFile, maxFileSeconds = 14_400) =>
    storeAttachment({
      store,
      attachment: {
        name: file.name,
        mimeType: file.mimeType,
        size: (await stat(file.path)).size,
        open: async () => createReadStream(file.path),
      },
      name: file.name,
      position: 0,
      key: `orders/${file.name}/0`,
      limits: { maxFileBytes: 10_000_000, maxFileSeconds },
    });

  it('the forged headers really do lie to a header reader', async () => {
    expect(real).toBeGreaterThan(8);
    for (const file of forged) {
      const { format } = await parseFile(file.path, { duration: true });
      expect(format.duration, file.name).toBeLessThan(1.5);
    }
  });

  it('is the decoded length of MP3, Ogg/Opus and MP4 files whose headers say one second', async () => {
    for (const file of forged) {
      const stored = await intake(file);
      const decoded = await decodedSeconds(file.path);
      expect(stored.refusal, file.name).toBeUndefined();
      // Ogg's decoder trims the last page to its (forged) granule; the rest of the speech is all there.
      expect(decoded, file.name).toBeGreaterThan(real - 1.1);
      expect(Math.abs(stored.duration! - decoded), `${file.name}: ${stored.duration} vs ${decoded}`).toBeLessThan(0.1);
    }
  });

  it('is what a decoder reads of a WAV whose data size says one second: charge and transcript agree', async () => {
    const file = await forgedWav(dir, wav);
    const stored = await intake(file);
    expect(Math.abs(stored.duration! - (await decodedSeconds(file.path)))).toBeLessThan(0.1);
  });

  it('counts a voice note in process exactly as the decoder does, and a chained Ogg file (a short note, then a long one) whole', async () => {
    const short = join(dir, 'short.ogg');
    await ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'libopus', '-b:a', '16k', short]);
    const plain = join(dir, 'plain.ogg');
    await encode(wav, 'ogg/opus', plain);
    const chained = join(dir, 'chained.ogg');
    await writeFile(chained, Buffer.concat([await readFile(short), await readFile(plain)]));
    for (const [path, name] of [
      [plain, 'plain.ogg'],
      [chained, 'chained.ogg'],
    ]) {
      const stored = await intake({ name, path, mimeType: 'audio/ogg', claims: 1 });
      expect(Math.abs(stored.duration! - (await decodedSeconds(path))), name).toBeLessThan(0.01);
    }
    expect((await intake({ name: 'chained.ogg', path: chained, mimeType: 'audio/ogg', claims: 1 })).duration).toBeGreaterThan(real);
  });

  it('refuses a file over MAX_FILE_SECONDS whose header says one second', async () => {
    for (const file of forged) {
      const stored = await intake(file, 5);
      expect(stored.refusal, file.name).toBe('longer than the 0:05 limit, so I skipped it');
    }
  });
});

describe('the worker stops at the charged seconds', () => {
  let dir: string;
  let real: number;
  let mp3: ForgedFile;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'charged-cap-'));
    const speech = await speechWav(dir, SPEECH);
    real = speech.seconds;
    mp3 = await forgedMp3(dir, speech.wav);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const decode = async (chargedSeconds?: number) => {
    let bytes = 0;
    let cut: number | undefined;
    for await (const chunk of decodePcm(mp3.path, { container: 'mp3', chargedSeconds, onCut: (s) => (cut = s) })) bytes += chunk.length;
    return { seconds: bytes / BYTES_PER_SAMPLE / SAMPLE_RATE, cut };
  };

  it('decodes exactly the charged seconds of a longer file, and says it cut', async () => {
    expect(await decode(3)).toEqual({ seconds: 3, cut: 3 });
  });

  it('decodes a file charged at its rounded-up length whole, without a cut', async () => {
    const whole = await decode(Math.ceil(real));
    expect(whole.cut).toBeUndefined();
    expect(Math.abs(whole.seconds - real)).toBeLessThan(0.1);
    expect(Math.abs((await decode()).seconds - whole.seconds)).toBeLessThan(0.001);
  });
});
