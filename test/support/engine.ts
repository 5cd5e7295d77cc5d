import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, for spawning the worker's entry points the way the service does. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The engine and model `npm ci` prepares; tests use the real ones. */
export const engine = {
  server: join(repoRoot, 'build', 'whisper.cpp', 'bin', 'whisper-server'),
  cli: join(repoRoot, 'build', 'whisper.cpp', 'bin', 'whisper-cli'),
  model: process.env.WHISPER_MODEL ? resolve(process.env.WHISPER_MODEL) : join(repoRoot, 'data', 'models', 'ggml-tiny.en.bin'),
};

/** Throws one line saying what to run when the engine or model is missing, instead of obscure spawn errors. */
export function assertEngineReady(): void {
  for (const [path, what] of [
    [engine.server, 'whisper-server'],
    [engine.model, 'the tiny.en model'],
  ] as const) {
    if (!existsSync(path)) throw new Error(`${what} is missing at ${path}: run npm ci (or npx tsx scripts/prepare.ts)`);
  }
}
