import type { ChildProcess } from 'node:child_process';
import { spawnTied } from '../tied-spawn';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JobManifest, JobStatus, Runner } from '../ports/runner';
import { lastLine, repoRoot, stopLeftover, workerCommand, workerProcessEnv, type LocalRunnerOptions } from './worker-process';

interface LocalJob {
  manifest: JobManifest;
  status: JobStatus;
  child?: ChildProcess;
}

/**
 * Runs each job in a worker process of its own on this machine, `concurrency` at a time: Node, the engines
 * and the model start for every order. The service uses the warm runner (`warm-runner.ts`) instead; this one
 * stays as the baseline the load benchmark compares against. Job ids carry this
 * process's boot id: after a restart the tracker asks about an id this runner never saw, hears
 * `unknown`, and queues the order again; the worker a killed service left behind is stopped first.
 */
export class ProcessPerJobRunner implements Runner {
  private readonly boot = randomUUID().slice(0, 8);
  private readonly jobs = new Map<string, LocalJob>();
  private readonly waiting: string[] = [];
  private running = 0;
  private closed = false;

  constructor(private readonly options: LocalRunnerOptions) {
    mkdirSync(options.jobsDir, { recursive: true });
  }

  async submit(manifest: JobManifest): Promise<string> {
    const id = `${this.boot}:${manifest.jobId}`;
    // A failed job submitted again is the tracker retrying it: it runs anew.
    if (this.jobs.has(id) && this.jobs.get(id)!.status.state !== 'failed') return id;
    this.jobs.set(id, { manifest, status: { state: 'pending' } });
    this.waiting.push(id);
    this.pump();
    return id;
  }

  async status(runnerJobId: string): Promise<JobStatus> {
    const job = this.jobs.get(runnerJobId);
    if (job) return job.status;
    // Another boot's id: the job died with the service that ran it.
    return runnerJobId.startsWith(`${this.boot}:`) ? { state: 'unknown' } : { state: 'unknown', lostInRestart: true };
  }

  /** Stops starting jobs; gives running ones `graceMs` to finish, then stops them (their orders are re-run on the next start). */
  async close(graceMs = 10_000): Promise<void> {
    this.closed = true;
    const children = [...this.jobs.values()].map((j) => j.child).filter((c): c is ChildProcess => !!c && c.exitCode === null);
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => child.kill('SIGTERM'), graceMs);
            child.once('exit', () => {
              clearTimeout(timer);
              done();
            });
          }),
      ),
    );
  }

  private pump(): void {
    while (!this.closed && this.running < this.options.concurrency && this.waiting.length > 0) {
      this.run(this.waiting.shift()!);
    }
  }

  private run(id: string): void {
    const job = this.jobs.get(id)!;
    const { jobsDir, workerEnv, log } = this.options;
    const manifestPath = join(jobsDir, `${job.manifest.jobId}.json`);
    const pidPath = join(jobsDir, `${job.manifest.jobId}.pid`);
    stopLeftover(pidPath);
    writeFileSync(manifestPath, JSON.stringify(job.manifest));
    const child = spawnTied(process.execPath, [...workerCommand('main'), '--manifest', manifestPath], {
      cwd: repoRoot,
      env: workerProcessEnv(workerEnv),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.running += 1;
    job.child = child;
    job.status = { state: 'running' };
    if (child.pid) writeFileSync(pidPath, String(child.pid));
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      this.running -= 1;
      job.child = undefined;
      rmSync(pidPath, { force: true });
      rmSync(manifestPath, { force: true });
      // 0: every input done; 2: some inputs failed, each recorded in its own result file.
      job.status =
        code === 0 || code === 2
          ? { state: 'succeeded' }
          : { state: 'failed', reason: `worker exited ${signal ?? code}: ${lastLine(stderr)}` };
      log.info({ jobId: job.manifest.jobId, code, signal }, 'local job finished');
      this.pump();
    };
    child.once('error', (error) => {
      stderr += String(error);
      finish(null, null);
    });
    child.once('exit', finish);
  }
}
