/**
 * The warm runner with the real worker, engine and model: orders queued together share one worker that keeps
 * its engines loaded, results land per order and per file, and a killed worker costs only the jobs it was on.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFailure, type ResultFile } from '../../src/domain/transcript';
import { createLogger } from '../../src/log';
import { resultKey, type JobManifest, type JobStatus } from '../../src/ports/runner';
import { runnerMetrics } from '../../src/runner/metrics';
import { WarmRunner } from '../../src/runner/warm-runner';
import { spokenFile } from '../support/audio';
import { PREPARED_MODEL } from '../support/service';

const log = createLogger('silent');
const NOTES = ['Green apples on the table.', 'The train leaves at nine.', 'Call your brother tonight.'];
const WORDS = ['apples', 'train', 'brother'];

let dir: string;
let sources: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warm-runner-'));
  sources = await Promise.all(NOTES.map((text, i) => spokenFile(dir, `note${i}.ogg`, text)));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A data dir whose blob store holds `count` orders of one note each (order 2 also has a file that is not audio). */
async function ordersIn(dataDir: string, count: number): Promise<JobManifest[]> {
  const manifests: JobManifest[] = [];
  for (let n = 0; n < count; n++) {
    const key = `orders/o${n}/0`;
    await mkdir(dirname(join(dataDir, 'blobs', key)), { recursive: true });
    await copyFile(sources[n % sources.length]!, join(dataDir, 'blobs', key));
    const inputs = [{ key, name: 'voice.ogg' }];
    if (n === 2) {
      await writeFile(join(dataDir, 'blobs', 'orders/o2/1'), '<html>not audio</html>');
      inputs.push({ key: 'orders/o2/1', name: 'page.ogg' });
    }
    manifests.push({ version: 1, jobId: `o${n}`, inputs, options: { language: 'en' } });
  }
  return manifests;
}

const runnerFor = (dataDir: string, env: Record<string, string> = {}) =>
  new WarmRunner({
    jobsDir: join(dataDir, 'jobs'),
    concurrency: 1,
    log,
    workerEnv: { STORAGE: 'local', DATA_DIR: dataDir, WHISPER_MODEL: PREPARED_MODEL, WHISPER_THREADS: '2', LOG_LEVEL: 'warn', ...env },
  });

async function settled(runner: WarmRunner, ids: string[], timeoutMs = 150_000): Promise<JobStatus[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(ids.map((id) => runner.status(id)));
    if (states.every((s) => s.state === 'succeeded' || s.state === 'failed')) return states;
    if (Date.now() > deadline) throw new Error(`jobs not done: ${JSON.stringify(states)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The value of a metric without labels, as `/metrics` would print it. */
const metric = async (m: { get(): Promise<{ values: { value: number }[] }> }) => (await m.get()).values[0]?.value ?? 0;

const result = async (dataDir: string, key: string) =>
  JSON.parse(await readFile(join(dataDir, 'blobs', resultKey(key)), 'utf8')) as ResultFile;

/** Live processes started for this data dir (the worker and its engines inherit DATA_DIR). */
function processesOf(dataDir: string): string[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .flatMap((pid) => {
      try {
        if (!readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`DATA_DIR=${dataDir}`)) return [];
        if (readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) return [];
        return [readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim()];
      } catch {
        return [];
      }
    });
}

describe('WarmRunner', () => {
  it('runs orders submitted together in one warm worker, each file with its own result', async () => {
    const dataDir = await mkdtemp(join(dir, 'data-'));
    const runner = runnerFor(dataDir);
    const busyBefore = await metric(runnerMetrics.engineBusy);
    try {
      await runner.start();
      const manifests = await ordersIn(dataDir, 6);
      const started = performance.now();
      const ids = await Promise.all(manifests.map((m) => runner.submit(m)));
      expect(await runner.submit(manifests[0]!)).toBe(ids[0]);
      const states = await settled(runner, ids);
      // The operator's view of the engines: two loaded, and busy for part of the time the orders took (each engine
      // at most all of it).
      expect(await metric(runnerMetrics.engines)).toBe(2);
      const busy = (await metric(runnerMetrics.engineBusy)) - busyBefore;
      expect(busy).toBeGreaterThan(0);
      expect(busy).toBeLessThanOrEqual((2 * (performance.now() - started)) / 1000);
      // The file that is not audio fails alone: its order still succeeds, with a failure result for that file.
      expect(states.map((s) => s.state)).toEqual(Array(6).fill('succeeded'));
      for (const [n, manifest] of manifests.entries()) {
        const transcript = await result(dataDir, manifest.inputs[0]!.key);
        expect(isFailure(transcript)).toBe(false);
        if (!isFailure(transcript)) expect(transcript.text.toLowerCase()).toContain(WORDS[n % WORDS.length]);
      }
      const refused = await result(dataDir, 'orders/o2/1');
      expect(isFailure(refused) && refused.error.code).toBe('not_audio');
      // One worker for all six orders: the engines loaded once, not once per order.
      expect(processesOf(dataDir).filter((c) => c.includes('serve.ts'))).toHaveLength(1);

      // The worker stays warm: a later order needs no new process.
      const pid = readFileSync(join(dataDir, 'jobs', 'worker-0.pid'), 'utf8');
      const [late] = await ordersIn(dataDir, 1);
      const lateId = await runner.submit({ ...late!, jobId: 'late' });
      expect(await settled(runner, [lateId])).toEqual([{ state: 'succeeded' }]);
      expect(readFileSync(join(dataDir, 'jobs', 'worker-0.pid'), 'utf8')).toBe(pid);
    } finally {
      await runner.close();
    }
    expect(processesOf(dataDir)).toEqual([]);
    expect(await metric(runnerMetrics.engines)).toBe(0);
  });

  it('a killed worker fails only the jobs it was on; the waiting ones run in its replacement', async () => {
    const dataDir = await mkdtemp(join(dir, 'kill-'));
    const runner = runnerFor(dataDir);
    let settledCount = 0;
    runner.onSettled(() => settledCount++);
    try {
      await runner.start();
      const manifests = await ordersIn(dataDir, 12);
      const ids = await Promise.all(manifests.map((m) => runner.submit(m)));
      // Kill the worker as soon as the first order is done: some are in progress, most are waiting.
      const deadline = Date.now() + 120_000;
      while (!(await Promise.all(ids.map((id) => runner.status(id)))).some((s) => s.state === 'succeeded')) {
        if (Date.now() > deadline) throw new Error('no order finished');
        await new Promise((r) => setTimeout(r, 20));
      }
      const pid = Number(readFileSync(join(dataDir, 'jobs', 'worker-0.pid'), 'utf8'));
      process.kill(pid, 'SIGKILL');
      const states = await settled(runner, ids);
      const failed = states.filter((s) => s.state === 'failed');
      // At most the inputs in progress (engines + 1) fail, each saying why; every other order is transcribed.
      expect(failed.length).toBeLessThanOrEqual(3);
      for (const f of failed) expect(f.reason).toContain('SIGKILL');
      expect(states.filter((s) => s.state === 'succeeded').length).toBeGreaterThanOrEqual(9);
      expect(settledCount).toBe(12);
      expect(Number(readFileSync(join(dataDir, 'jobs', 'worker-0.pid'), 'utf8'))).not.toBe(pid);
      // The tracker retries a failed job by submitting it again: it runs anew and succeeds this time.
      const retried = manifests.filter((_, i) => states[i]!.state === 'failed');
      const again = await Promise.all(retried.map((m) => runner.submit(m)));
      expect((await settled(runner, again)).map((s) => s.state)).toEqual(retried.map(() => 'succeeded'));
    } finally {
      await runner.close();
    }
    // The killed worker's engines died with it, and the replacement stopped on close.
    expect(processesOf(dataDir)).toEqual([]);
  });

  it('a worker that cannot start fails its jobs with the reason, and tries again for the next job', async () => {
    const dataDir = await mkdtemp(join(dir, 'nomodel-'));
    const runner = runnerFor(dataDir, { WHISPER_MODEL: join(dataDir, 'missing.bin') });
    try {
      const [manifest] = await ordersIn(dataDir, 1);
      const id = await runner.submit(manifest!);
      const [status] = await settled(runner, [id], 60_000);
      expect(status).toMatchObject({ state: 'failed' });
      expect(status!.reason).toContain('Whisper model not found');
      const again = await runner.submit({ ...manifest!, jobId: 'again' });
      expect((await settled(runner, [again], 60_000))[0]!.reason).toContain('Whisper model not found');
    } finally {
      await runner.close();
    }
  });
});
