/**
 * Running the worker and whisper-cli as the benchmarks compare them: each a process of its own, timed from spawn to
 * exit, with the peak resident memory of its whole process tree.
 */
import { spawn } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobManifest } from '../../src/ports/runner';
import { engine, repoRoot } from '../../test/support/engine';

/** Sums VmRSS over a process and all its descendants (node, whisper-server engines, ffmpeg), sampled every 100 ms. */
export function treeRssSampler(rootPid: number): { stop: () => number } {
  let peak = 0;
  const sample = async () => {
    const parents = new Map<number, number>();
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
        parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      } catch {
        // gone between listing and reading
      }
    }
    const tree = new Set([rootPid]);
    for (let grew = true; grew;) {
      grew = false;
      for (const [pid, parent] of parents) {
        if (tree.has(parent) && !tree.has(pid)) {
          tree.add(pid);
          grew = true;
        }
      }
    }
    let total = 0;
    for (const pid of tree) {
      try {
        const status = await readFile(`/proc/${pid}/status`, 'utf8');
        total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      } catch {
        // exited
      }
    }
    peak = Math.max(peak, total);
  };
  const timer = setInterval(() => void sample(), 100);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

/** Runs a command, returning its wall time and the peak RSS of its process tree. */
export function timed(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ seconds: number; peakRss: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const sampler = treeRssSampler(child.pid!);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const peakRss = sampler.stop();
      if (code !== 0) reject(new Error(`${command} exited ${code}: ${stderr}`));
      else resolve({ seconds: (performance.now() - started) / 1000, peakRss, stdout });
    });
  });
}

export async function workerJob(
  threads: number,
  dataDir: string,
  inputs: JobManifest['inputs'],
  jobId: string,
  env: NodeJS.ProcessEnv = {},
) {
  const manifestPath = join(dataDir, `${jobId}.json`);
  await writeFile(manifestPath, JSON.stringify({ version: 1, jobId, inputs, options: {} } satisfies JobManifest));
  return timed(process.execPath, ['--import', 'tsx', 'whisper-container/src/main.ts', '--manifest', manifestPath], {
    ...process.env,
    DATA_DIR: dataDir,
    STORAGE: 'local',
    WHISPER_MODEL: engine.model,
    WHISPER_THREADS: String(threads),
    LOG_LEVEL: 'warn',
    ...env,
  });
}
