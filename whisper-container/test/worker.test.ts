/**
 * The worker's entry point end to end, spawned exactly as the local runner spawns it: one job holding speech in
 * every container people send, real human speech, a long clip that spans several windows, noise, silence, and
 * broken files. Real engine, real model, fixtures generated here.
 *
 * WER bound: espeak-ng speech through tiny.en measures 5-15 % on these sentences; each clip must stay under 30 %.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultFile, TranscriptFailure, TranscriptResult } from '../../src/domain/transcript';
import type { JobManifest } from '../../src/ports/runner';
import { CONTAINERS, encode, ffmpeg, speak, speechText, SENTENCES, wordErrorRate } from '../../test/support/speech';
import { assertEngineReady, engine, repoRoot } from '../../test/support/engine';

const run = promisify(execFile);
const WER_BOUND = 0.3;

let dir: string;
const blobs = () => join(dir, 'blobs');
const texts = new Map<string, string>();
const inputs: JobManifest['inputs'] = [];
let stdout = '';
let exitCode = 0;

async function addInput(id: string, name: string, make: (path: string) => Promise<void>): Promise<void> {
  const key = `orders/o1/${id}`;
  await mkdir(join(blobs(), 'orders', 'o1'), { recursive: true });
  await make(join(blobs(), key));
  inputs.push({ key, name });
}

const result = async (id: string): Promise<ResultFile> =>
  JSON.parse(await readFile(join(blobs(), `orders/o1/${id}_result.json`), 'utf8')) as ResultFile;
const transcript = async (id: string) => (await result(id)) as TranscriptResult;
const failure = async (id: string) => (await result(id)) as TranscriptFailure;

beforeAll(async () => {
  assertEngineReady();
  dir = await mkdtemp(join(tmpdir(), 'worker-test-'));
  const speech = join(dir, 'speech.wav');
  // The same words in every container, so a difference between containers is the decoder's, not the sentence's.
  const text = [SENTENCES[3], SENTENCES[4], SENTENCES[6]].join(' ');
  const wav = join(dir, 'c0.wav');
  await speak(text, wav);
  for (const [index, container] of Object.keys(CONTAINERS).entries()) {
    const id = `f${index}`;
    texts.set(id, text);
    // Keys carry no extension; the worker must tell the container from the bytes.
    await addInput(id, `clip.${CONTAINERS[container]!.ext}`, async (path) => {
      const out = `${join(dir, id)}.${CONTAINERS[container]!.ext}`;
      await encode(wav, container, out);
      await copyFile(out, path);
    });
  }
  await addInput('human', 'Front_Center.wav', (path) => copyFile('/usr/share/sounds/alsa/Front_Center.wav', path));

  // 75 s: three windows, so cutting and re-timing across windows is exercised.
  const long = speechText(75, 7);
  texts.set('long', long);
  await speak(long, speech);
  await addInput('long', 'long.ogg', (path) => ffmpeg(['-i', speech, '-c:a', 'libopus', '-f', 'ogg', path]));

  await addInput('noise', 'noise.wav', (path) => ffmpeg(['-f', 'lavfi', '-i', 'anoisesrc=d=10:c=white:a=0.3', '-f', 'wav', path]));
  await addInput('silence', 'silence.m4a', (path) =>
    ffmpeg(['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '10', '-c:a', 'aac', '-f', 'mp4', path]),
  );
  await addInput('empty', 'voice.ogg', (path) => writeFile(path, ''));
  await addInput('text', 'notes.mp3', (path) => writeFile(path, 'Dear team,\nplease find the minutes attached.\n'));
  await addInput('image', 'photo.jpg', (path) =>
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=64x64', '-frames:v', '1', '-f', 'image2', '-c:v', 'png', path]),
  );
  await addInput('corrupt', 'broken.ogg', async (path) => {
    // An Ogg page header followed by garbage: sniffs as audio, decodes to nothing.
    await writeFile(path, Buffer.concat([Buffer.from('OggS\0\x02'), Buffer.alloc(4000, 0x5a)]));
  });
  await addInput('truncated', 'cut.m4a', async (path) => {
    // ffmpeg writes the mp4 index (moov) last; cut in half, the file cannot be read.
    await encode(join(dir, 'c0.wav'), 'm4a/aac', join(dir, 'whole.m4a'));
    await copyFile(join(dir, 'whole.m4a'), path);
    await truncate(path, Math.floor((await readFile(path)).length / 2));
  });

  const manifest: JobManifest = { version: 1, jobId: 'job-1', inputs, options: {} };
  const manifestPath = join(dir, 'manifest.json');
  await writeFile(manifestPath, JSON.stringify(manifest));
  try {
    const out = await run(process.execPath, ['--import', 'tsx', 'whisper-container/src/main.ts', '--manifest', manifestPath], {
      cwd: repoRoot,
      env: { ...process.env, STORAGE: 'local', DATA_DIR: dir, WHISPER_MODEL: engine.model, WHISPER_THREADS: '2', LOG_LEVEL: 'warn' },
      maxBuffer: 1 << 24,
    });
    stdout = out.stdout;
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    exitCode = failed.code ?? -1;
    stdout = failed.stdout ?? '';
    if (exitCode !== 2) throw new Error(`worker exited ${exitCode}: ${failed.stderr}`);
  }
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('worker job', () => {
  it('exits 2 (some inputs failed) and prints one progress line per input, then a summary', () => {
    expect(exitCode).toBe(2);
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; key?: string; ok?: boolean });
    expect(lines.filter((line) => line.type === 'input').map((line) => line.key)).toEqual(inputs.map((input) => input.key));
    expect(lines.at(-1)).toMatchObject({ type: 'job', jobId: 'job-1', succeeded: inputs.length - 5, failed: 5 });
  });

  for (const [index, container] of Object.keys(CONTAINERS).entries()) {
    it(`transcribes ${container} within the WER bound, with increasing times inside the duration`, async () => {
      const id = `f${index}`;
      const r = await transcript(id);
      expect(r).toMatchObject({ version: 1, file: `clip.${CONTAINERS[container]!.ext}`, language: 'en', model: 'tiny.en' });
      expect(r.noSpeech).toBeUndefined();
      expect(wordErrorRate(texts.get(id)!, r.text)).toBeLessThan(WER_BOUND);
      expect(r.duration).toBeGreaterThan(3);
      assertTimes(r);
    });
  }

  it('brings back the words of real human speech', async () => {
    const r = await transcript('human');
    expect(r.text.toLowerCase()).toMatch(/front/);
    expect(r.text.toLowerCase()).toMatch(/cent(er|re)/);
  });

  it('transcribes a clip longer than one window and keeps its timeline', async () => {
    const r = await transcript('long');
    expect(r.duration).toBeGreaterThan(60);
    expect(wordErrorRate(texts.get('long')!, r.text)).toBeLessThan(WER_BOUND);
    assertTimes(r);
    // Speech runs to the end, so the last segment must sit in the last window, not collapse to the first.
    expect(r.segments.at(-1)!.end).toBeGreaterThan(r.duration - 10);
  });

  it('gives an empty transcript flagged as no speech for noise and for silence', async () => {
    for (const id of ['noise', 'silence']) {
      const r = await transcript(id);
      expect(r.noSpeech).toBe(true);
      expect(r.text).toBe('');
      expect(r.segments).toEqual([]);
      expect(r.duration).toBeGreaterThan(9);
    }
  });

  it('reports broken and non-audio files with a clear error each', async () => {
    expect((await failure('empty')).error).toEqual({ code: 'not_audio', message: 'The file is empty.' });
    expect((await failure('text')).error).toEqual({ code: 'not_audio', message: 'The file is not audio or video.' });
    expect((await failure('image')).error).toEqual({ code: 'not_audio', message: 'The file is not audio or video.' });
    expect((await failure('corrupt')).error.code).toBe('corrupt');
    expect((await failure('truncated')).error.code).toBe('corrupt');
    expect((await failure('truncated')).file).toBe('cut.m4a');
  });
});

function assertTimes(r: TranscriptResult): void {
  expect(r.segments.length).toBeGreaterThan(0);
  let previous = 0;
  for (const segment of r.segments) {
    expect(segment.start).toBeGreaterThanOrEqual(previous);
    expect(segment.end).toBeGreaterThanOrEqual(segment.start);
    expect(segment.end).toBeLessThanOrEqual(r.duration + 0.01);
    expect(segment.text.trim()).not.toBe('');
    expect(segment.text).not.toMatch(/BLANK_AUDIO/);
    previous = segment.start;
  }
}
