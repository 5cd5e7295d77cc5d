/**
 * The GPU run times large-v3-turbo's shapes with a generated model (gpu/turbo-shapes.ts), whose random weights are set
 * so that every window costs what speech costs: the engine must read each window as the fixed script (4 segments of
 * 22 words with their timestamps, about certain), or the timings would count fallbacks and second readings instead.
 * Checked here with the same generator at tiny's sizes, through the worker's own engine.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ServerEngine } from '../src/engine';
import { wavFile } from '../src/wav';
import { assertEngineReady, engine, repoRoot } from '../../test/support/engine';

const run = promisify(execFile);
let dir: string;
let model: string;

beforeAll(async () => {
  assertEngineReady();
  dir = await mkdtemp(join(tmpdir(), 'turbo-shapes-test-'));
  model = join(dir, 'ggml-shapes.bin');
  await run(process.execPath, ['--import', 'tsx', 'whisper-container/gpu/turbo-shapes.ts', engine.model, model, 'tiny'], {
    cwd: repoRoot,
  });
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** 25 s of quiet noise (seeded): what the window holds does not change what the generated model says. */
function noise(seconds: number): Buffer {
  const pcm = Buffer.alloc(seconds * 16000 * 2);
  let state = 12345;
  for (let i = 0; i < pcm.length; i += 2) {
    state = (state * 1103515245 + 12345) >>> 0;
    pcm.writeInt16LE(((state >>> 16) % 2000) - 1000, i);
  }
  return wavFile(pcm);
}

it('reads every window as the set script: four timed segments of 22 distinct words, each about certain', async () => {
  const server = await ServerEngine.start({ binary: engine.server, model, threads: 1 });
  try {
    const result = await server.transcribe({ wav: noise(25), language: 'en' });
    expect(result.segments.map((segment) => [segment.start, segment.end])).toEqual([
      [0, 5],
      [5, 10],
      [10, 15],
      [15, 19],
    ]);
    const words = result.segments.flatMap((segment) => segment.text.trim().split(/\s+/));
    expect(words).toHaveLength(88);
    expect(new Set(words).size).toBe(88);
    for (const segment of result.segments) {
      expect(segment.avgLogprob).toBeGreaterThan(-0.1);
      expect(segment.noSpeechProb).toBeLessThan(0.1);
    }
  } finally {
    await server.close();
  }
});
