import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

export type BatchStatus = 'SUBMITTED' | 'PENDING' | 'RUNNABLE' | 'STARTING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';

export interface FakeJob {
  jobId: string;
  jobArn: string;
  jobName: string;
  jobQueue: string;
  jobDefinition: string;
  status: BatchStatus;
  statusReason?: string;
  exitCode?: number;
  createdAt: number;
  startedAt?: number;
  stoppedAt?: number;
  /** The container environment the job was submitted with (`containerOverrides.environment`). */
  environment: Record<string, string>;
  /** The worker's stderr, when it ran. */
  log: string;
  /** `timeout` and `retryStrategy` as SubmitJob gave them. */
  timeout?: { attemptDurationSeconds?: number };
  retryStrategy?: RetryStrategy;
  /** Attempts that ended (a reclaimed host, a failed container), oldest first. */
  attempts: { statusReason?: string; reason?: string; exitCode?: number }[];
}

/** Batch's `retryStrategy`: `evaluateOnExit` patterns match exactly, or by prefix when they end in `*`. */
export interface RetryStrategy {
  attempts?: number;
  evaluateOnExit?: { onStatusReason?: string; onReason?: string; onExitCode?: string; action: 'RETRY' | 'EXIT' | 'retry' | 'exit' }[];
}

/** A scripted SubmitJob refusal: the HTTP status and Batch error type it answers with. */
export interface SubmitRefusal {
  status: number;
  type: string;
  message: string;
}

export interface FakeBatchOptions {
  /**
   * `hold`: jobs stay SUBMITTED until the test moves them (`setStatus`).
   * `run`: each job goes RUNNABLE, STARTING, RUNNING and really runs the worker entry with its environment,
   * then ends SUCCEEDED or FAILED by the worker's exit code, as the container would.
   */
  mode: 'hold' | 'run';
  /** What the image and the job role provide (model path, credentials, ...); the job's own variables win. */
  containerEnv?: Record<string, string>;
  /** `run`: how long a job waits in RUNNABLE, as for a GPU instance to start (default 50 ms). */
  startDelayMs?: number;
}

const WORKER_ENTRY = 'whisper-container/src/main.ts';

/**
 * A local AWS Batch endpoint speaking the REST JSON API the SDK uses (`POST /v1/submitjob`, `/v1/listjobs`,
 * `/v1/describejobs`). It insists on a SigV4 Authorization header but accepts any credentials.
 */
export class FakeBatch {
  readonly jobs = new Map<string, FakeJob>();
  /** Every SubmitJob call, in order. */
  readonly submissions: FakeJob[] = [];
  /** Every API call by operation name, e.g. `listjobs`. */
  readonly calls: string[] = [];
  /** Every SubmitJob call refused by `refuseSubmit`, by job name. */
  readonly refusals: string[] = [];
  private server?: Server;
  private readonly running = new Set<Promise<void>>();
  /** While set, `run` jobs wait in STARTING until it resolves: a GPU that has not come up yet. */
  private gpuReady?: Promise<void>;
  private refuse?: { match: (job: { jobName: string; environment: Record<string, string> }) => boolean; answer: SubmitRefusal };

  constructor(readonly options: FakeBatchOptions) {}

  /**
   * Holds every `run` job in STARTING, as a GPU instance that takes its time to come up, until the returned
   * function is called: tests see what happens meanwhile without guessing how long a wait is long enough.
   */
  holdStarts(): () => void {
    let release!: () => void;
    this.gpuReady = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.gpuReady = undefined;
      release();
    };
  }

  /** Listens on a free loopback port; resolves with the endpoint URL for `BATCH_ENDPOINT`. */
  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((done) => this.server!.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Stops listening after the workers it started have finished. */
  async stop(): Promise<void> {
    await Promise.all(this.running);
    await new Promise<void>((done) => (this.server ? this.server.close(() => done()) : done()));
    this.server?.closeAllConnections();
  }

  /** Moves a job as Batch would; `exitCode` is the container's, for FAILED and SUCCEEDED. */
  setStatus(jobId: string, status: BatchStatus, detail: { reason?: string; exitCode?: number } = {}): void {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    job.status = status;
    if (detail.reason !== undefined) job.statusReason = detail.reason;
    if (detail.exitCode !== undefined) job.exitCode = detail.exitCode;
    if (status === 'RUNNING') job.startedAt = Date.now();
    if (status === 'SUCCEEDED' || status === 'FAILED') job.stoppedAt = Date.now();
  }

  /**
   * Refuses every SubmitJob whose job matches, as Batch does for a bad request (400 ClientException) or
   * while it is unwell (500 ServerException); `undefined` takes everything again.
   */
  refuseSubmit(
    match: ((job: { jobName: string; environment: Record<string, string> }) => boolean) | undefined,
    answer: SubmitRefusal = { status: 400, type: 'ClientException', message: 'Container overrides were refused' },
  ): void {
    this.refuse = match ? { match, answer } : undefined;
  }

  /**
   * Ends the job's current attempt as Batch would when Spot reclaims its host, and applies the job's
   * `retryStrategy` as Batch does: the first `evaluateOnExit` entry that matches decides (RETRY or
   * EXIT), no match retries, and a retry needs attempts left. A retried job goes back to RUNNABLE.
   */
  reclaimHost(jobId: string): void {
    this.endAttempt(jobId, { statusReason: 'Host EC2 (instance i-0abc123def4567890) terminated.' });
  }

  /** Ends the job's current attempt with what the container reported; see `reclaimHost`. */
  endAttempt(jobId: string, attempt: { statusReason?: string; reason?: string; exitCode?: number }): void {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    job.attempts.push(attempt);
    const strategy = job.retryStrategy ?? {};
    const rule = strategy.evaluateOnExit?.find(
      (r) =>
        matches(r.onStatusReason, attempt.statusReason) &&
        matches(r.onReason, attempt.reason) &&
        matches(r.onExitCode, attempt.exitCode === undefined ? undefined : String(attempt.exitCode)),
    );
    const retry = (rule ? rule.action.toUpperCase() === 'RETRY' : true) && job.attempts.length < (strategy.attempts ?? 1);
    if (retry) this.setStatus(jobId, 'RUNNABLE');
    else this.setStatus(jobId, 'FAILED', { reason: attempt.statusReason ?? attempt.reason, exitCode: attempt.exitCode });
  }

  /** Forgets a job, as Batch does some days after it ended. */
  forget(jobId: string): void {
    this.jobs.delete(jobId);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const send = (status: number, body: unknown, errorType?: string) => {
      res.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
      res.end(JSON.stringify(body));
    };
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('AWS4-HMAC-SHA256 Credential=') || !auth.includes('/batch/aws4_request') || !req.headers['x-amz-date']) {
      return send(403, { message: 'Missing or malformed SigV4 signature' }, 'UnrecognizedClientException');
    }
    const operation = (req.url ?? '').replace(/\?.*$/, '').replace(/^\/v1\//, '');
    this.calls.push(operation);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    } catch {
      return send(400, { message: 'Body is not JSON' }, 'ClientException');
    }
    if (req.method !== 'POST') return send(405, { message: 'POST only' }, 'ClientException');
    if (operation === 'submitjob') return this.submitJob(body, send);
    if (operation === 'listjobs') return send(200, this.listJobs(body));
    if (operation === 'describejobs') {
      const ids = (body.jobs as string[] | undefined) ?? [];
      return send(200, { jobs: ids.flatMap((id) => (this.jobs.has(id) ? [detail(this.jobs.get(id)!)] : [])) });
    }
    send(404, { message: `Unknown operation ${operation}` }, 'ClientException');
  }

  private submitJob(body: Record<string, unknown>, send: (status: number, body: unknown, errorType?: string) => void): void {
    const { jobName, jobQueue, jobDefinition } = body as { jobName?: string; jobQueue?: string; jobDefinition?: string };
    if (!jobName || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(jobName) || !jobQueue || !jobDefinition) {
      return send(
        400,
        { message: 'jobName, jobQueue and jobDefinition are required; jobName up to 128 letters, digits, - and _' },
        'ClientException',
      );
    }
    const overrides = (body.containerOverrides ?? {}) as { environment?: { name: string; value: string }[] };
    const environment = Object.fromEntries((overrides.environment ?? []).map((e) => [e.name, e.value]));
    const { timeout, retryStrategy } = body as { timeout?: FakeJob['timeout']; retryStrategy?: RetryStrategy };
    if (timeout?.attemptDurationSeconds !== undefined && timeout.attemptDurationSeconds < 60) {
      return send(400, { message: 'attemptDurationSeconds must be at least 60' }, 'ClientException');
    }
    if (retryStrategy?.attempts !== undefined && (retryStrategy.attempts < 1 || retryStrategy.attempts > 10)) {
      return send(400, { message: 'retryStrategy.attempts must be between 1 and 10' }, 'ClientException');
    }
    if (this.refuse?.match({ jobName, environment })) {
      this.refusals.push(jobName);
      return send(this.refuse.answer.status, { message: this.refuse.answer.message }, this.refuse.answer.type);
    }
    const jobId = randomUUID();
    const job: FakeJob = {
      jobId,
      jobArn: `arn:aws:batch:us-east-1:123456789012:job/${jobId}`,
      jobName,
      jobQueue,
      jobDefinition,
      status: 'SUBMITTED',
      createdAt: Date.now(),
      environment,
      log: '',
      timeout,
      retryStrategy,
      attempts: [],
    };
    this.jobs.set(jobId, job);
    this.submissions.push(job);
    send(200, { jobArn: job.jobArn, jobName, jobId });
    if (this.options.mode === 'run') this.track(this.run(job));
  }

  private listJobs(body: Record<string, unknown>): unknown {
    const { jobQueue, jobStatus, filters } = body as {
      jobQueue?: string;
      jobStatus?: string;
      filters?: { name: string; values: string[] }[];
    };
    const nameFilter = filters?.find((f) => f.name === 'JOB_NAME')?.values?.[0];
    const after = filters?.find((f) => f.name === 'AFTER_CREATED_AT')?.values?.[0];
    const matches = [...this.jobs.values()].filter((job) => {
      if (jobQueue && job.jobQueue !== jobQueue) return false;
      // As in Batch: with a filter every status is listed; without one, only `jobStatus` (RUNNING by default).
      if (nameFilter) return nameFilter.endsWith('*') ? job.jobName.startsWith(nameFilter.slice(0, -1)) : job.jobName === nameFilter;
      if (after !== undefined) return job.createdAt > Number(after);
      return job.status === (jobStatus ?? 'RUNNING');
    });
    return {
      jobSummaryList: matches.map((job) => ({
        jobArn: job.jobArn,
        jobId: job.jobId,
        jobName: job.jobName,
        createdAt: job.createdAt,
        status: job.status,
        statusReason: job.statusReason,
        ...(job.exitCode !== undefined ? { container: { exitCode: job.exitCode } } : {}),
      })),
    };
  }

  private track(work: Promise<void>): void {
    this.running.add(work);
    void work.finally(() => this.running.delete(work));
  }

  /** What the container does: the worker entry with the job's environment over the image's. */
  private async run(job: FakeJob): Promise<void> {
    for (const status of ['RUNNABLE', 'STARTING', 'RUNNING'] as const) {
      await new Promise((r) => setTimeout(r, status === 'STARTING' ? (this.options.startDelayMs ?? 50) : 50));
      this.setStatus(job.jobId, status);
      if (status === 'STARTING') await this.gpuReady;
    }
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...this.options.containerEnv, ...job.environment };
    const code = await new Promise<number>((done) => {
      const child = spawn(process.execPath, ['--import', 'tsx', resolve(WORKER_ENTRY)], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => (job.log = (job.log + chunk).slice(-8000)));
      child.once('error', (error) => {
        job.log += String(error);
        done(127);
      });
      child.once('exit', (exitCode) => done(exitCode ?? 137));
    });
    if (code === 0) this.setStatus(job.jobId, 'SUCCEEDED', { exitCode: 0 });
    else this.setStatus(job.jobId, 'FAILED', { exitCode: code, reason: 'Essential container in task exited' });
  }
}

/** A job as DescribeJobs returns it. */
function detail(job: FakeJob): unknown {
  return {
    jobArn: job.jobArn,
    jobId: job.jobId,
    jobName: job.jobName,
    jobQueue: job.jobQueue,
    jobDefinition: job.jobDefinition,
    status: job.status,
    statusReason: job.statusReason,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    stoppedAt: job.stoppedAt,
    dependsOn: [],
    ...(job.timeout ? { timeout: job.timeout } : {}),
    ...(job.retryStrategy ? { retryStrategy: job.retryStrategy } : {}),
    attempts: job.attempts.map((a) => ({ statusReason: a.statusReason, container: { reason: a.reason, exitCode: a.exitCode } })),
    container: {
      environment: Object.entries(job.environment).map(([name, value]) => ({ name, value })),
      ...(job.exitCode !== undefined ? { exitCode: job.exitCode } : {}),
      ...(job.status === 'FAILED' ? { reason: job.statusReason } : {}),
    },
  };
}

/** Batch's pattern match: absent matches anything; `*` at the end matches by prefix. */
function matches(pattern: string | undefined, value: string | undefined): boolean {
  if (pattern === undefined) return true;
  if (value === undefined) return pattern === '*';
  return pattern.endsWith('*') ? value.startsWith(pattern.slice(0, -1)) : value === pattern;
}
