/**
 * Fetches a ggml Whisper model from the official whisper.cpp model repository (or a mirror), checks it against the
 * pinned size and hashes in `whisper-container/src/models.ts`, and resumes an interrupted transfer with an HTTP
 * Range request instead of starting again: a 3 GB model on a shaky link still arrives.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DEFAULT_MARKER, DEFAULT_MODEL_BASE_URL, modelSpec, type ModelSpec } from '../whisper-container/src/models';

export interface FetchModelOptions {
  name: string;
  modelsDir: string;
  /** Repository base; the file is fetched from `<baseUrl>/ggml-<name>.bin`. */
  baseUrl?: string;
  /** Write the `default` marker so the worker uses this model when `WHISPER_MODEL` is unset (default true). */
  makeDefault?: boolean;
  /** Called as bytes arrive (resumed bytes included in `done`). */
  onProgress?: (done: number, total: number) => void;
  log?: (line: string) => void;
  /** Transfers tried before giving up; each one resumes where the last stopped (default 5). */
  attempts?: number;
  /** Pause before a retry, in ms (default 2000; tests use 0). */
  retryDelayMs?: number;
  /** The catalogue entry; tests pass their own small file. */
  spec?: ModelSpec;
}

export interface FetchedModel {
  path: string;
  bytes: number;
  /** True when a verified file was already in place. */
  skipped: boolean;
  /** Bytes taken over from an earlier, interrupted run. */
  resumedFrom: number;
}

/** A hash mismatch or a wrong size: the file is not the one the catalogue pins, and it is deleted. */
export class ModelIntegrityError extends Error {}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return -1;
  }
}

/** Feeds a file's bytes into the hashes (to resume hashing where an earlier run stopped). */
async function hashFile(path: string, hashes: Hash[]): Promise<void> {
  for await (const chunk of createReadStream(path)) for (const hash of hashes) hash.update(chunk as Buffer);
}

function verify(spec: ModelSpec, bytes: number, sha256: Hash, sha1: Hash): void {
  if (bytes !== spec.bytes) throw new ModelIntegrityError(`${spec.file}: got ${bytes} bytes, expected ${spec.bytes}`);
  const got256 = sha256.digest('hex');
  if (got256 !== spec.sha256) throw new ModelIntegrityError(`${spec.file}: SHA-256 ${got256} does not match the pinned ${spec.sha256}`);
  const got1 = sha1.digest('hex');
  if (spec.sha1 && got1 !== spec.sha1) throw new ModelIntegrityError(`${spec.file}: SHA-1 ${got1} does not match the pinned ${spec.sha1}`);
}

/** Only http(s), so a base URL from the environment cannot read local files or other schemes. */
function modelUrl(baseUrl: string, file: string): string {
  const url = new URL(`${baseUrl.replace(/\/+$/, '')}/${file}`);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`model base URL must be http(s), got ${url.protocol}`);
  return url.toString();
}

/**
 * One transfer into `part`, appending from its current size when the server honours the Range header. Returns
 * normally when the server has sent everything; throws on a dropped connection (the part file keeps what arrived).
 */
async function transfer(url: string, part: string, spec: ModelSpec, onProgress?: (done: number, total: number) => void): Promise<void> {
  let have = Math.max(0, await sizeOf(part));
  if (have >= spec.bytes) return;
  const response = await fetch(url, { headers: have > 0 ? { range: `bytes=${have}-` } : {}, redirect: 'follow' });
  if (response.status === 416) return; // nothing left to send: the size check decides
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel();
    throw new Error(`${url} answered HTTP ${response.status}`);
  }
  if (response.status === 206) {
    const start = Number(/bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1]);
    if (start !== have) {
      await response.body?.cancel();
      throw new Error(`${url} resumed at byte ${start}, not ${have}`);
    }
  } else if (have > 0) {
    // The server ignored the Range header and sends the whole file: start the part file again.
    have = 0;
    await rm(part, { force: true });
  }
  if (!response.body) throw new Error(`${url} sent no body`);
  let done = have;
  // Bounded: a server that sends more than the pinned size is cut off instead of filling the disk.
  async function* counted(chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      done += chunk.length;
      if (done > spec.bytes) throw new ModelIntegrityError(`${spec.file}: the server sent more than the pinned ${spec.bytes} bytes`);
      onProgress?.(done, spec.bytes);
      yield chunk;
    }
  }
  await pipeline(
    Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
    counted,
    createWriteStream(part, { flags: have > 0 ? 'a' : 'w' }),
  );
}

/**
 * Makes `<modelsDir>/ggml-<name>.bin` the verified pinned file: downloads it (resuming a `.part` left by an earlier
 * run or a dropped connection), checks size, SHA-256 and SHA-1, moves it into place, and marks it the default.
 */
export async function fetchModel(options: FetchModelOptions): Promise<FetchedModel> {
  const spec = options.spec ?? modelSpec(options.name);
  const log = options.log ?? (() => {});
  await mkdir(options.modelsDir, { recursive: true });
  const target = join(options.modelsDir, spec.file);
  const part = `${target}.part`;
  const markDefault = async () => {
    if (options.makeDefault ?? true) await writeFile(join(options.modelsDir, DEFAULT_MARKER), `${spec.file}\n`);
  };

  if ((await sizeOf(target)) === spec.bytes) {
    const sha256 = createHash('sha256');
    const sha1 = createHash('sha1');
    await hashFile(target, [sha256, sha1]);
    try {
      verify(spec, spec.bytes, sha256, sha1);
      await markDefault();
      return { path: target, bytes: spec.bytes, skipped: true, resumedFrom: 0 };
    } catch (error) {
      if (!(error instanceof ModelIntegrityError)) throw error;
      log(`${spec.file} is in place but does not match its pins; fetching it again`);
      await rm(target, { force: true });
    }
  }

  const url = modelUrl(options.baseUrl || DEFAULT_MODEL_BASE_URL, spec.file);
  const resumedFrom = Math.max(0, await sizeOf(part));
  if (resumedFrom > 0) log(`resuming ${spec.file} at ${resumedFrom} of ${spec.bytes} bytes`);
  const attempts = options.attempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    try {
      await transfer(url, part, spec, options.onProgress);
      break;
    } catch (error) {
      if (error instanceof ModelIntegrityError) {
        await rm(part, { force: true });
        throw error;
      }
      if (attempt >= attempts) {
        throw new Error(
          `${spec.file}: ${error instanceof Error ? error.message : String(error)} (kept ${Math.max(0, await sizeOf(part))} bytes; run again to resume)`,
        );
      }
      log(`${spec.file}: transfer stopped (${error instanceof Error ? error.message : String(error)}); resuming`);
      await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs ?? 2000));
    }
  }

  // Hashed from disk once complete: the same code path whether the bytes came in one transfer or several.
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  await hashFile(part, [sha256, sha1]);
  try {
    verify(spec, Math.max(0, await sizeOf(part)), sha256, sha1);
  } catch (error) {
    await rm(part, { force: true });
    throw error;
  }
  await rename(part, target);
  await markDefault();
  return { path: target, bytes: spec.bytes, skipped: false, resumedFrom };
}
