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

/** The repository root: workers run from it so `--import tsx` and relative defaults resolve as in `npm start`. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A worker entry under `whisper-container/src/`. */
export const workerEntry = (name: 'main.ts' | 'serve.ts'): string => join(repoRoot, 'whisper-container/src', name);

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
