/**
 * `npm run model`: fetching a pinned Whisper model from a local HTTP server that speaks Range the way Hugging Face's
 * CDN does. Right file, wrong file, a transfer cut off half-way, a part file left by a killed run, a server that
 * ignores Range, and the command itself end to end. Plus the catalogue against whisper.cpp's own model table.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fetchModel, ModelIntegrityError } from '../scripts/fetch-model';
import { ConfigError, workerConfig } from '../whisper-container/src/config';
import { MODELS, resolveModelPath, type ModelSpec } from '../whisper-container/src/models';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

const body = randomBytes(600_000);
const spec: ModelSpec = {
  file: 'ggml-test.bin',
  bytes: body.length,
  sha256: createHash('sha256').update(body).digest('hex'),
  sha1: createHash('sha1').update(body).digest('hex'),
  englishOnly: false,
};

/** How the server behaves for the next requests. */
let mode: { serve: Buffer; cutFirstAt?: number; ignoreRange?: boolean } = { serve: body };
let requests: { path: string; range?: string }[] = [];
let server: Server;
let baseUrl: string;
let dir: string;
/** DATA_DIR/models, where `npm run model` and the worker look. */
const models = () => join(dir, 'models');

function answer(req: IncomingMessage, res: import('node:http').ServerResponse): void {
  requests.push({ path: req.url ?? '', range: req.headers.range });
  if (!req.url?.startsWith('/models/')) {
    res.writeHead(404).end();
    return;
  }
  const data = mode.serve;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = range && !mode.ignoreRange ? Number(range[1]) : 0;
  if (start >= data.length && range) {
    res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
    return;
  }
  res.writeHead(start > 0 ? 206 : 200, {
    'content-length': data.length - start,
    'accept-ranges': 'bytes',
    ...(start > 0 ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
  });
  const cut = requests.length === 1 ? mode.cutFirstAt : undefined;
  if (cut !== undefined) {
    // Half the file, then the connection drops: what a flaky link or a restarted proxy does.
    res.write(data.subarray(start, cut), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  res.end(data.subarray(start));
}

beforeAll(async () => {
  server = createServer(answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'model-fetch-'));
  mode = { serve: body };
  requests = [];
  return () => rm(dir, { recursive: true, force: true });
});

const fetchTest = (extra: Partial<Parameters<typeof fetchModel>[0]> = {}) =>
  fetchModel({ name: 'test', spec, modelsDir: models(), baseUrl, retryDelayMs: 0, ...extra });

describe('fetchModel', () => {
  it('fetches the pinned file, reports progress, and makes it the default the worker loads', async () => {
    const seen: number[] = [];
    const model = await fetchTest({ onProgress: (done) => seen.push(done) });
    expect(model).toMatchObject({ path: join(models(), 'ggml-test.bin'), skipped: false, resumedFrom: 0 });
    expect((await readFile(model.path)).equals(body)).toBe(true);
    expect(requests.map((r) => r.path)).toEqual(['/models/ggml-test.bin']);
    expect(seen.at(-1)).toBe(body.length);
    expect(workerConfig({ DATA_DIR: dir, WHISPER_MODEL: '' }).model).toBe(model.path);
    // Asked again: verified in place, nothing downloaded.
    requests = [];
    expect((await fetchTest()).skipped).toBe(true);
    expect(requests).toEqual([]);
  });

  it('refuses a file whose hash does not match its pin, and leaves nothing behind', async () => {
    const other = Buffer.from(body);
    other[123_456] ^= 0xff;
    mode = { serve: other };
    await expect(fetchTest()).rejects.toThrow(ModelIntegrityError);
    await expect(fetchTest()).rejects.toThrow(/SHA-256 [0-9a-f]{64} does not match the pinned/);
    expect(existsSync(join(models(), 'ggml-test.bin'))).toBe(false);
    expect(existsSync(join(models(), 'ggml-test.bin.part'))).toBe(false);
    expect(existsSync(join(models(), 'default'))).toBe(false);
  });

  it('refuses a server that sends more than the pinned size', async () => {
    mode = { serve: Buffer.concat([body, randomBytes(1000)]) };
    await expect(fetchTest()).rejects.toThrow(/more than the pinned/);
    expect(existsSync(join(models(), 'ggml-test.bin.part'))).toBe(false);
  });

  it('resumes a transfer cut off half-way with a Range request, not from the start', async () => {
    mode = { serve: body, cutFirstAt: 250_000 };
    const model = await fetchTest();
    expect((await readFile(model.path)).equals(body)).toBe(true);
    expect(requests).toHaveLength(2);
    expect(requests[0]!.range).toBeUndefined();
    expect(requests[1]!.range).toMatch(/^bytes=\d+-$/);
    const resumedAt = Number(/\d+/.exec(requests[1]!.range!)![0]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(250_000);
  });

  it('resumes the part file a killed run left, and keeps the part when every attempt fails', async () => {
    mode = { serve: body, cutFirstAt: 200_000 };
    await expect(fetchTest({ attempts: 1 })).rejects.toThrow(/run again to resume/);
    const kept = (await readFile(join(models(), 'ggml-test.bin.part'))).length;
    expect(kept).toBeGreaterThan(0);
    requests = [];
    mode = { serve: body };
    const model = await fetchTest();
    expect(model.resumedFrom).toBe(kept);
    expect(requests).toEqual([{ path: '/models/ggml-test.bin', range: `bytes=${kept}-` }]);
    expect((await readFile(model.path)).equals(body)).toBe(true);
  });

  it('starts over when the server ignores Range and sends the whole file', async () => {
    await mkdir(models(), { recursive: true });
    await writeFile(join(models(), 'ggml-test.bin.part'), body.subarray(0, 1000));
    mode = { serve: body, ignoreRange: true };
    const model = await fetchTest();
    expect((await readFile(model.path)).equals(body)).toBe(true);
  });

  it('accepts only http(s) base URLs', async () => {
    await expect(fetchTest({ baseUrl: 'file:///etc' })).rejects.toThrow(/must be http/);
  });
});

describe('npm run model', () => {
  it('fetches by name from the configured mirror and refuses a file that is not the pinned one', async () => {
    // The real tiny.en cannot be served here; a wrong 1 kB file must be refused by the real command, with one line.
    mode = { serve: randomBytes(1000) };
    const failed = await run(process.execPath, ['--import', 'tsx', 'scripts/model.ts', 'tiny.en'], {
      cwd: root,
      env: { ...process.env, DATA_DIR: dir, WHISPER_MODEL_BASE_URL: baseUrl },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 1 });
    expect((failed as { stderr: string }).stderr).toMatch(/model: ggml-tiny\.en\.bin: got 1000 bytes, expected 77704715/);
    expect(requests.map((r) => r.path)).toContain('/models/ggml-tiny.en.bin');
    expect(existsSync(join(dir, 'models', 'ggml-tiny.en.bin'))).toBe(false);
    expect(existsSync(join(dir, 'models', 'default'))).toBe(false);
  });

  it('rejects an unknown name with the list of known ones', async () => {
    const failed = await run(process.execPath, ['--import', 'tsx', 'scripts/model.ts', ['..', '..', 'etc', 'passwd'].join('/')], {
      cwd: root,
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failed).toMatchObject({ code: 64 });
    expect((failed as { stderr: string }).stderr).toMatch(/unknown Whisper model.*large-v3-turbo/);
  });
});

describe('WHISPER_MODEL', () => {
  it('takes a name as well as a path, and names an unknown name in one line', () => {
    expect(workerConfig({ DATA_DIR: '/srv/data', WHISPER_MODEL: 'base.en' }).model).toBe('/srv/data/models/ggml-base.en.bin');
    expect(workerConfig({ DATA_DIR: '/srv/data', WHISPER_MODEL: '/models/ggml-large-v3-turbo.bin' }).model).toBe(
      '/models/ggml-large-v3-turbo.bin',
    );
    // Unset, and nothing under DATA_DIR: the tiny.en `npm ci` prepared beside the code, wherever the data lives.
    expect(workerConfig({ DATA_DIR: '/srv/data' }).model).toBe(resolve('data/models/ggml-tiny.en.bin'));
    expect(() => workerConfig({ DATA_DIR: '/srv/data', WHISPER_MODEL: 'huge' })).toThrow(ConfigError);
    expect(() => workerConfig({ DATA_DIR: '/srv/data', WHISPER_MODEL: 'huge' })).toThrow(/WHISPER_MODEL: unknown Whisper model "huge"/);
  });

  it('ignores a default marker that points outside the models folder', async () => {
    await mkdir(models(), { recursive: true });
    await writeFile(join(models(), 'default'), `${['..', '..', 'etc', 'passwd'].join('/')}\n`);
    expect(resolveModelPath(undefined, models())).toBe(join(models(), 'ggml-tiny.en.bin'));
  });
});

describe('the model catalogue', () => {
  it('covers the models whisper.cpp offers and agrees with the SHA-1 table it ships', async () => {
    const source = join(root, 'node_modules', 'nodejs-whisper', 'cpp', 'whisper.cpp', 'models');
    const readme = await readFile(join(source, 'README.md'), 'utf8');
    const script = await readFile(join(source, 'download-ggml-model.sh'), 'utf8');
    const table = new Map([...readme.matchAll(/^\|\s*([\w.-]+)\s*\|[^|]*\|\s*`([0-9a-f]{40})`\s*\|/gm)].map((m) => [m[1]!, m[2]!]));
    expect(table.size).toBeGreaterThan(10);
    // Every model the official download script offers (but the old large-v1/v2 and the third-party tinydiarize).
    const offered = /models="([^"]+)"/
      .exec(script)![1]!
      .split(/\s+/)
      .filter((name) => name && !/^large-v[12]|tdrz/.test(name));
    expect(offered.filter((name) => !MODELS.has(name))).toEqual([]);
    for (const [name, model] of MODELS) {
      expect(model.file).toBe(`ggml-${name}.bin`);
      expect(model.sha256).toMatch(/^[0-9a-f]{64}$/);
      if (table.has(name)) expect(model.sha1, name).toBe(table.get(name));
      else expect(model.sha1, name).toBeUndefined();
    }
    expect(MODELS.get('tiny.en')!.englishOnly).toBe(true);
    expect(MODELS.get('large-v3-turbo')!.englishOnly).toBe(false);
  });
});
