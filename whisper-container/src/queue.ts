import type { BlobStore } from '../../src/ports/blob-store';
import type { JobManifest } from '../../src/ports/runner';
import { runInput, type InputOptions, type InputReport } from './job';
import type { EnginePool } from './pool';

/** How a job of the warm worker ended: every input has a result file, or the job could not run (`error`). */
export interface QueuedJobReport {
  jobId: string;
  succeeded: number;
  failed: number;
  /** Set when an input could not even record its result (store unreachable): the whole job is to be retried. */
  error?: string;
  /** Wall time from the job's arrival to its last input, queueing included. */
  seconds: number;
}

export interface InputQueueHandlers {
  /** An input of `jobId` is being worked on: from now on a crash of the worker may be its fault. */
  onStart?: (jobId: string, key: string) => void;
  onInput?: (jobId: string, report: InputReport) => void;
  onJob: (report: QueuedJobReport) => void;
}

interface JobState {
  manifest: JobManifest;
  started: number;
  remaining: number;
  succeeded: number;
  failed: number;
  error?: string;
}

/**
 * The warm worker's one queue: inputs of every job that arrived, first come first served, worked on by a fixed
 * number of lanes over one engine pool. Jobs that arrive together therefore share the engines: thirty voice notes
 * of thirty orders keep every engine busy instead of each order paying for a process and a model load. Each
 * input still gets its own result file and report; one bad input fails only itself.
 */
export class InputQueue {
  private readonly jobs = new Map<string, JobState>();
  private readonly waiting: { jobId: string; index: number }[] = [];
  private active = 0;
  private idle?: () => void;

  constructor(
    private readonly store: BlobStore,
    private readonly pool: EnginePool,
    private readonly options: InputOptions,
    private readonly handlers: InputQueueHandlers,
    /** Inputs in progress at once. One more than the engines lets the next input decode while the engines work. */
    private readonly lanes = pool.size + 1,
  ) {}

  /** Queues every input of `manifest`; false (and nothing queued) when a job of that id is already in the queue. */
  add(manifest: JobManifest): boolean {
    if (this.jobs.has(manifest.jobId)) return false;
    this.jobs.set(manifest.jobId, { manifest, started: performance.now(), remaining: manifest.inputs.length, succeeded: 0, failed: 0 });
    for (let index = 0; index < manifest.inputs.length; index++) this.waiting.push({ jobId: manifest.jobId, index });
    this.pump();
    return true;
  }

  /** Jobs not yet reported. */
  get size(): number {
    return this.jobs.size;
  }

  /** Resolves once every queued input has finished (after `stop`, every input in progress). */
  drained(): Promise<void> {
    if (this.waiting.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => (this.idle = resolve));
  }

  /** Drops the inputs not yet begun (their jobs are never reported); those in progress finish. */
  stop(): void {
    this.waiting.length = 0;
  }

  private pump(): void {
    while (this.active < this.lanes && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      this.active += 1;
      void this.work(next.jobId, next.index).finally(() => {
        this.active -= 1;
        this.pump();
        if (this.active === 0 && this.waiting.length === 0) this.idle?.();
      });
    }
  }

  private async work(jobId: string, index: number): Promise<void> {
    const job = this.jobs.get(jobId)!;
    if (!job.error) {
      this.handlers.onStart?.(jobId, job.manifest.inputs[index]!.key);
      try {
        const { report } = await runInput(job.manifest, index, this.store, this.pool, this.options);
        if (report.ok) job.succeeded += 1;
        else job.failed += 1;
        this.handlers.onInput?.(jobId, report);
      } catch (error) {
        // Only writing the result can throw here (a bad input becomes its result): retry the job as a whole.
        job.error = error instanceof Error ? error.message : String(error);
        this.options.log?.error({ err: error, jobId }, 'input could not record its result');
      }
    }
    job.remaining -= 1;
    if (job.remaining > 0) return;
    this.jobs.delete(jobId);
    const seconds = Math.round(performance.now() - job.started) / 1000;
    this.handlers.onJob({ jobId, succeeded: job.succeeded, failed: job.failed, ...(job.error ? { error: job.error } : {}), seconds });
  }
}
