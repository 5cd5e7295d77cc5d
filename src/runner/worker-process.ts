import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log';

/** What both local runners are given. */
export interface LocalRunnerOptions {
  /** Where manifests and pid files go (under DATA_DIR). */
  jobsDir: string;
  /** Environment for the worker: STORAGE, DATA_DIR, WHISPER_MODEL, WHISPER_THREADS... */
  workerEnv: Record<string, string>;
  /** Worker processes at once: jobs at once for the process-per-job runner, warm workers for the warm one. */
  concurrency: number;
  log: Logger;
}

const here = fileURLToPath(import.meta.url);

/**
 * True when this code runs from the bundle (scripts/bundle.ts) rather than from source: the workers are then
 * bundles too, beside it, and run by plain node (an image carries no tsx).
 */
const bundled = here.endsWith('.mjs');

/**
 * The repository root: workers run from it so `--import tsx` and relative defaults resolve as in `npm start`. Two
 * folders up, from src/runner/ as from the bundle's app/ folder.
 */
export const repoRoot = resolve(dirname(here), '../..');

/** Node's arguments that start a worker entry (`whisper-container/src/NAME.ts`, or its bundle). */
export function workerCommand(name: 'main' | 'serve'): string[] {
  if (bundled) return [join(dirname(here), '..', 'whisper-container', `${name}.mjs`)];
  return ['--import', 'tsx', join(repoRoot, 'whisper-container/src', `${name}.ts`)];
}

/** Only these and the runner's own settings reach a worker: never the service's tokens and secrets. */
export function workerProcessEnv(workerEnv: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...workerEnv };
}

/** The last line of a worker's stderr, for the reason a job failed (logs only, never shown to users). */
export function lastLine(text: string): string {
  return text.trim().split('\n').slice(-1)[0]?.slice(0, 300) ?? '';
}

/** Kills the worker a killed service may have left running (its pid in `pidPath`), so two never run at once. */
export function stopLeftover(pidPath: string): void {
  try {
    const pid = Number(readFileSync(pidPath, 'utf8'));
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.includes('whisper-container')) process.kill(pid, 'SIGKILL');
  } catch {
    // no pid file, or the process is gone
  }
}
