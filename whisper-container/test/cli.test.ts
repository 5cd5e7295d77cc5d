/** `npm run transcribe` end to end: the real CLI, engine and model on files a user would have on disk. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TranscriptFailure, TranscriptResult } from '../../src/domain/transcript';
import { assertEngineReady, engine, repoRoot } from '../../test/support/engine';
import { ffmpeg, speak, wordErrorRate } from '../../test/support/speech';

const run = promisify(execFile);
const TEXT = 'The meeting has been moved to Thursday afternoon. Please send me the report before the end of the week.';
let dir: string;

async function transcribe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const out = await run(process.execPath, ['--import', 'tsx', 'whisper-container/src/cli.ts', ...args], {
      cwd: repoRoot,
      env: { ...process.env, WHISPER_MODEL: engine.model, WHISPER_THREADS: '2' },
    });
    return { code: 0, ...out };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

beforeAll(async () => {
  assertEngineReady();
  dir = await mkdtemp(join(tmpdir(), 'cli-test-'));
  await speak(TEXT, join(dir, 'speech.wav'));
  // A name with a space and an accent: a user's file, not a storage key.
  await ffmpeg(['-i', join(dir, 'speech.wav'), '-c:a', 'libmp3lame', join(dir, 'Réunion notes.mp3')]);
  await writeFile(join(dir, 'agenda.pdf'), '%PDF-1.4\n1 0 obj << >> endobj\n');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm run transcribe', () => {
  it('prints the transcript, writes NAME_result.json beside each input, and fails after the others for non-audio', async () => {
    const out = await transcribe([join(dir, 'agenda.pdf'), join(dir, 'Réunion notes.mp3')]);
    expect(out.code).toBe(1);
    expect(out.stderr.trim().split('\n')).toEqual([`${join(dir, 'agenda.pdf')}: The file is not audio or video.`]);
    expect(wordErrorRate(TEXT, out.stdout.replace(/^==>.*$/gm, ''))).toBeLessThan(0.3);

    const result = JSON.parse(await readFile(join(dir, 'Réunion notes_result.json'), 'utf8')) as TranscriptResult;
    expect(result).toMatchObject({ version: 1, file: 'Réunion notes.mp3', language: 'en', model: 'tiny.en' });
    expect(result.segments.length).toBeGreaterThan(0);
    const failure = JSON.parse(await readFile(join(dir, 'agenda_result.json'), 'utf8')) as TranscriptFailure;
    expect(failure.error.code).toBe('not_audio');
  });

  it('prints subtitles with --format srt', async () => {
    const out = await transcribe([join(dir, 'speech.wav'), '--format', 'srt']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^1\n00:00:00,000 --> 00:00:\d\d,\d{3}\n\S/);
  });

  it('refuses an unknown format or language before doing any work', async () => {
    expect((await transcribe([join(dir, 'speech.wav'), '--format', 'docx'])).code).toBe(64);
    expect((await transcribe([join(dir, 'speech.wav'), '--language', 'xx'])).stderr).toMatch(/unknown language code/);
  });
});
