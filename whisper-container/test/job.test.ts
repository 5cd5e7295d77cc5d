/**
 * runJob's bookkeeping with a stand-in engine (the real one is exercised in worker.test.ts): engines start once per
 * job whatever the number of inputs, an engine failure costs only the input it hit, and a dead engine is replaced.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultFile } from '../../src/domain/transcript';
import { LocalBlobStore } from '../../src/storage/local-blob-store';
import type { Engine, EngineRequest, EngineResult } from '../src/engine';
import { runJob } from '../src/job';
import { parseManifest } from '../src/manifest';
import { ffmpeg } from '../../test/support/speech';

class FakeEngine implements Engine {
  alive = true;
  readonly contextStep = 64;
  calls = 0;
  constructor(private readonly behave: (request: EngineRequest, engine: FakeEngine) => EngineResult) {}
  async transcribe(request: EngineRequest): Promise<EngineResult> {
    this.calls++;
    return this.behave(request, this);
  }
  async close(): Promise<void> {
    this.alive = false;
  }
}

let dir: string;
let store: LocalBlobStore;
const keys = ['jobs/a/1', 'jobs/a/2', 'jobs/a/3', 'jobs/a/4'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'job-test-'));
  store = new LocalBlobStore(dir);
  // Distinct lengths (4-7 s of tone) so the stand-in engine can tell the inputs apart by their size.
  for (const [index, key] of keys.entries()) {
    await store.put(key, Buffer.alloc(0));
    await ffmpeg(['-f', 'lavfi', '-i', `sine=f=300:d=${4 + index}`, '-f', 'wav', store.localPath(key)]);
  }
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const seconds = (request: EngineRequest) => Math.round((request.wav.length - 44) / 32_000);
const said = (text: string, request: EngineRequest): EngineResult => ({
  language: 'english',
  segments: [{ start: 0, end: seconds(request), text, noSpeechProb: 0.01, avgLogprob: -0.2 }],
});

describe('runJob', () => {
  it('starts the engines once for the whole job and reports inputs in manifest order', async () => {
    let started = 0;
    const order: string[] = [];
    const report = await runJob(
      { version: 1, jobId: 'j1', inputs: keys.map((key, i) => ({ key, name: `note${i}.ogg` })), options: {} },
      store,
      {
        startEngine: async () => {
          started++;
          return new FakeEngine((request) => said(`Input of ${seconds(request)} seconds.`, request));
        },
        engines: 2,
        model: 'tiny.en',
        onInput: (input) => order.push(input.key),
      },
    );
    expect(started).toBe(2);
    expect(order).toEqual(keys);
    expect(report).toMatchObject({ jobId: 'j1', succeeded: 4, failed: 0 });
    const first = JSON.parse(await readFile(store.localPath('jobs/a/1_result.json'), 'utf8')) as ResultFile;
    expect(first).toMatchObject({ file: 'note0.ogg', text: 'Input of 4 seconds.', duration: 4, language: 'en', model: 'tiny.en' });
  });

  it('fails only the input the engine broke on, and replaces an engine that died', async () => {
    let started = 0;
    const report = await runJob({ version: 1, jobId: 'j2', inputs: keys.map((key) => ({ key, name: 'x.wav' })), options: {} }, store, {
      startEngine: async () => {
        started++;
        return new FakeEngine((request, engine) => {
          if (seconds(request) === 5) {
            engine.alive = false; // the process crashed on this input
            throw new Error('socket hang up');
          }
          return said('Fine.', request);
        });
      },
      engines: 1,
      model: 'tiny.en',
    });
    expect(report.inputs.map((input) => input.ok)).toEqual([true, false, true, true]);
    expect(report.inputs[1]!.error).toEqual({ code: 'engine', message: 'Transcription failed inside the engine.' });
    expect(started).toBe(2);
  });

  it('stops taking inputs when a result cannot be written, lets the running ones finish, and closes every engine', async () => {
    for (const key of keys) await store.delete(`${key}_result.json`); // earlier jobs' results
    let opened!: () => void;
    const gate = new Promise<void>((resolve) => (opened = resolve));
    // Storage that refuses the first input's result (S3 down); refusing it lets the other engine's input finish.
    const flaky = Object.create(store) as LocalBlobStore;
    flaky.put = async (key, body, options) => {
      if (key !== 'jobs/a/1_result.json') return store.put(key, body, options);
      opened();
      throw new Error('S3 PutObject: socket hang up');
    };
    const engines: FakeEngine[] = [];
    const job = runJob({ version: 1, jobId: 'j4', inputs: keys.map((key) => ({ key, name: 'x.wav' })), options: {} }, flaky, {
      startEngine: async () => {
        const engine = new FakeEngine((request) => said('Fine.', request));
        // The second input waits until the first one's result has been refused.
        engine.transcribe = async (request) => {
          if (seconds(request) === 5) await gate;
          return said('Fine.', request);
        };
        engines.push(engine);
        return engine;
      },
      engines: 2,
      model: 'tiny.en',
    });
    await expect(job).rejects.toThrow(/PutObject/);
    expect(engines.map((engine) => engine.alive)).toEqual([false, false]);
    // The input already running was transcribed, not failed as an engine error; none was started after the refusal.
    const second = JSON.parse(await readFile(store.localPath('jobs/a/2_result.json'), 'utf8')) as ResultFile;
    expect(second).toMatchObject({ text: 'Fine.' });
    expect(await store.exists('jobs/a/3_result.json')).toBe(false);
    expect(await store.exists('jobs/a/4_result.json')).toBe(false);
  });

  it('refuses a manifest naming a key outside the store before any work', () => {
    const manifest = {
      version: 1,
      jobId: 'j5',
      inputs: [
        { key: 'jobs/a/1', name: 'a' },
        { key: '../../etc/passwd', name: 'b' },
      ],
    };
    expect(() => parseManifest(JSON.stringify(manifest))).toThrow(/inputs\.1\.key|key/);
  });

  it('rejects when no engine can start, so the entry point exits 1', async () => {
    await expect(
      runJob({ version: 1, jobId: 'j3', inputs: [{ key: keys[0]!, name: 'a' }], options: {} }, store, {
        startEngine: async () => {
          throw new Error('model file is not a ggml model');
        },
        model: 'tiny.en',
      }),
    ).rejects.toThrow(/not a ggml model/);
  });
});
