import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { JobManifest, JobStatus, Runner } from '../ports/runner';
import { spawnTied } from '../tied-spawn';
import { runnerMetrics } from './metrics';
import { lastLine, repoRoot, stopLeftover, workerCommand, workerProcessEnv, type LocalRunnerOptions } from './worker-process';

interface WarmJob {
  manifest: JobManifest;
  status: JobStatus;
  worker?: WarmWorker;
  /** An input of it was being worked on: if the worker dies now, this job may be why. */
  begun: boolean;
}

interface WarmWorker {
  slot: number;
  child: ChildProcess;
  /** Jobs sent to it and not yet ended, by the worker's job id (the order id). */
  jobs: Map<string, WarmJob>;
  ready: boolean;
  /** Engines it has loaded (0 until ready). */
  engines: number;
  /** Its engines' busy seconds as last reported: the metric grows by the difference. */
  engineBusySeconds: number;
  stderr: string;
}

/** Progress lines of `whisper-container/src/serve.ts`. */
type WorkerLine =
  | { type: 'ready'; engines?: number }
  | { type: 'start'; jobId: string }
  | { type: 'input'; jobId: string; engineBusySeconds?: number }
  | { type: 'job'; jobId: string; error?: string; failed: number }
  | { type: 'refused'; jobId?: string; error: string };

/**
 * Runs jobs in long-lived worker processes (`serve.ts`) that keep the model loaded in their engines: an order
 * costs its audio, not a Node start and a model load. Every job goes to the worker with the fewest jobs at
 * once, and that worker puts the inputs of all its jobs in one queue, so orders queued together fill the
 * engines together.
 *
 * Crashes: workers are tied to this process (and their engines to them), so a killed service leaves no
 * process behind, and job ids carry this process's boot id, so after a restart the tracker hears `unknown`
 * and queues the order again. A worker that dies fails only the jobs it was working on (the tracker retries
 * them once); jobs still waiting in its queue go to its replacement. A stuck engine is killed and replaced
 * inside the worker (`engine.ts`, `pool.ts`).
 */
export class WarmRunner implements Runner {
  private readonly boot = randomUUID().slice(0, 8);
  private readonly jobs = new Map<string, WarmJob>();
  private readonly workers: (WarmWorker | undefined)[];
  private readonly listeners: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: LocalRunnerOptions) {
    mkdirSync(options.jobsDir, { recursive: true });
    this.workers = Array.from({ length: Math.max(1, options.concurrency) }, () => undefined);
  }

  /** Starts the workers now, so the first order does not wait for the model to load. */
  async start(): Promise<void> {
    for (let slot = 0; slot < this.workers.length; slot++) this.worker(slot);
  }

  onSettled(listener: () => void): void {
    this.listeners.push(listener);
  }

  async submit(manifest: JobManifest): Promise<string> {
    const id = `${this.boot}:${manifest.jobId}`;
    // The same job again is the same job while it runs or once it succeeded; a failed one is the tracker retrying it.
    if (this.jobs.has(id) && this.jobs.get(id)!.status.state !== 'failed') return id;
    if (this.closed) throw new Error('runner is closed');
    const job: WarmJob = { manifest, status: { state: 'pending' }, begun: false };
    this.jobs.set(id, job);
    this.send(job);
    return id;
  }

  async status(runnerJobId: string): Promise<JobStatus> {
    const job = this.jobs.get(runnerJobId);
    if (job) return job.status;
    // Another boot's id: the job died with the service that ran it.
    return runnerJobId.startsWith(`${this.boot}:`) ? { state: 'unknown' } : { state: 'unknown', lostInRestart: true };
  }

  /**
   * Stops taking jobs and asks each worker to stop (SIGTERM: it drops what it has not begun and finishes the
   * inputs in progress); after `graceMs` it is killed. Unfinished orders run again at the next start.
   */
  async close(graceMs = 10_000): Promise<void> {
    this.closed = true;
    const live = this.workers.filter((w): w is WarmWorker => !!w && w.child.exitCode === null && w.child.signalCode === null);
    await Promise.all(
      live.map(
        (worker) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => worker.child.kill('SIGKILL'), graceMs);
            worker.child.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            worker.child.kill('SIGTERM');
          }),
      ),
    );
  }

  /** Hands `job` to the least busy worker, starting one in a free slot if needed. */
  private send(job: WarmJob): void {
    let slot = 0;
    for (let i = 1; i < this.workers.length; i++) {
      if ((this.workers[i]?.jobs.size ?? 0) < (this.workers[slot]?.jobs.size ?? 0)) slot = i;
    }
    const worker = this.worker(slot);
    job.worker = worker;
    job.begun = false;
    job.status = { state: 'running' };
    worker.jobs.set(job.manifest.jobId, job);
    worker.child.stdin!.write(`${JSON.stringify(job.manifest)}\n`);
  }

  /** The worker in `slot`, started if it is not running. */
  private worker(slot: number): WarmWorker {
    const existing = this.workers[slot];
    if (existing) return existing;
    const { jobsDir, workerEnv, log } = this.options;
    const pidPath = join(jobsDir, `worker-${slot}.pid`);
    stopLeftover(pidPath);
    const child = spawnTied(process.execPath, workerCommand('serve'), {
      cwd: repoRoot,
      env: workerProcessEnv(workerEnv),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const worker: WarmWorker = { slot, child, jobs: new Map(), ready: false, engines: 0, engineBusySeconds: 0, stderr: '' };
    this.workers[slot] = worker;
    if (child.pid) writeFileSync(pidPath, String(child.pid));
    // A worker that died takes its stdin with it; the write error is reported by its exit.
    child.stdin!.on('error', () => undefined);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      worker.stderr = (worker.stderr + chunk).slice(-4000);
    });
    createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (line) => this.line(worker, line));
    let ended = false;
    const exit = (code: number | null, signal: NodeJS.Signals | null) => {
      if (ended) return;
      ended = true;
      rmSync(pidPath, { force: true });
      this.exited(worker, code, signal);
    };
    child.once('error', (error) => {
      worker.stderr += String(error);
      exit(null, null);
    });
    child.once('exit', exit);
    log.info({ slot, pid: child.pid }, 'warm worker started');
    return worker;
  }

  private line(worker: WarmWorker, text: string): void {
    let line: WorkerLine;
    try {
      line = JSON.parse(text) as WorkerLine;
    } catch {
      return;
    }
    if (line.type === 'ready') {
      worker.ready = true;
      worker.engines = line.engines ?? 0;
      runnerMetrics.engines.inc(worker.engines);
      return;
    }
    if (line.type === 'input' && typeof line.engineBusySeconds === 'number' && line.engineBusySeconds > worker.engineBusySeconds) {
      runnerMetrics.engineBusy.inc(line.engineBusySeconds - worker.engineBusySeconds);
      worker.engineBusySeconds = line.engineBusySeconds;
    }
    const job = line.jobId ? worker.jobs.get(line.jobId) : undefined;
    if (!job) return;
    if (line.type === 'start') job.begun = true;
    if (line.type === 'job')
      this.end(worker, job, line.error ? { state: 'failed', reason: `worker: ${line.error}` } : { state: 'succeeded' });
    if (line.type === 'refused') this.end(worker, job, { state: 'failed', reason: `worker refused the job: ${line.error}` });
  }

  private end(worker: WarmWorker, job: WarmJob, status: JobStatus): void {
    worker.jobs.delete(job.manifest.jobId);
    job.worker = undefined;
    job.status = status;
    this.options.log.info({ jobId: job.manifest.jobId, state: status.state, reason: status.reason }, 'local job finished');
    for (const listener of this.listeners) listener();
  }

  /**
   * A worker ended. Jobs it was working on fail (the tracker retries each once); jobs it had not begun go to a
   * new worker, unless it died before it was ready (no model, no engine): then a new one would die alike.
   */
  private exited(worker: WarmWorker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers[worker.slot] = undefined;
    runnerMetrics.engines.dec(worker.engines);
    const reason = `worker exited ${signal ?? code}: ${lastLine(worker.stderr)}`;
    const jobs = [...worker.jobs.values()];
    if (jobs.length > 0 || !this.closed)
      this.options.log.warn({ slot: worker.slot, code, signal, jobs: jobs.length, reason }, 'warm worker ended');
    for (const job of jobs) {
      if (job.begun || !worker.ready || this.closed) this.end(worker, job, { state: 'failed', reason });
      else {
        worker.jobs.delete(job.manifest.jobId);
        this.send(job);
      }
    }
  }
}
