/**
 * One engine reads many windows of many people's files, with audio contexts of different lengths. What it hears in
 * one window must depend on that window's audio only: with flash attention, whisper.cpp 1.9.1 attends over the
 * context rounded up to 256 frames and the frames past the window's own still hold an earlier, longer request's
 * encoder output, so a voice note read after a full-context window came back with other words.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerEngine } from '../src/engine';
import { audioContextFor } from '../src/transcribe';
import { assertEngineReady, engine } from '../../test/support/engine';
import { noteSet, type SpeechFile } from '../../test/support/speech-sets';

let dir: string;
let notes: SpeechFile[];

beforeAll(async () => {
  assertEngineReady();
  dir = await mkdtemp(join(tmpdir(), 'engine-state-test-'));
  // Notes 6, 9 and 10 are ones whose reading changed after a full-context request when flash attention was on.
  notes = (await noteSet(dir, 11)).filter((_, i) => [6, 9, 10].includes(i));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function read(server: ServerEngine, file: string, audioCtx: number): Promise<string> {
  const result = await server.transcribe({ wav: await readFile(file), audioCtx });
  return result.segments.map((segment) => segment.text).join(' ');
}

/**
 * What `server` hears in each note at `ctx` frames, before and after a full-context window in between (as when the
 * engine's previous input was a long file).
 */
async function aroundAFullWindow(server: ServerEngine, ctx: number): Promise<{ before: string[]; after: string[] }> {
  const before = [];
  for (const note of notes) before.push(await read(server, note.wav, ctx));
  await read(server, notes[0]!.wav, 0);
  const after = [];
  for (const note of notes) after.push(await read(server, note.wav, ctx));
  return { before, after };
}

describe('an engine reused across windows', () => {
  it('hears a short note the same before and after a full-context window', async () => {
    const server = await ServerEngine.start({ binary: engine.server, model: engine.model, threads: 1 });
    try {
      expect(server.contextStep).toBe(64);
      const { before, after } = await aroundAFullWindow(server, audioContextFor(5));
      expect(after).toEqual(before);
      expect(before.join(' ')).toMatch(/woman across/i);
    } finally {
      await server.close();
    }
  });

  it('with flash attention, cuts only to multiples of 256 frames, which an earlier window cannot reach into', async () => {
    const server = await ServerEngine.start({ binary: engine.server, model: engine.model, threads: 1, flashAttention: true });
    try {
      expect(server.contextStep).toBe(256);
      const ctx = audioContextFor(5, server.contextStep);
      expect(ctx % 256).toBe(0);
      const { before, after } = await aroundAFullWindow(server, ctx);
      expect(after).toEqual(before);
    } finally {
      await server.close();
    }
  });
});
