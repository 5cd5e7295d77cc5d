import {
  BatchClient,
  DescribeJobsCommand,
  ListJobsCommand,
  SubmitJobCommand,
  type JobDetail,
  type JobSummary,
} from '@aws-sdk/client-batch';
import type { Logger } from '../log';
import type { JobManifest, JobStatus, Runner } from '../ports/runner';

export interface BatchRunnerOptions {
  jobQueue: string;
  jobDefinition: string;
  region: string;
  /** A Batch-compatible endpoint (tests); AWS's own when absent. */
  endpoint?: string;
  /**
   * Environment for the worker in the container besides `JOB_MANIFEST`: STORAGE=s3 and the S3_* settings,
   * so it reads and writes the very bucket the service uses. Credentials come from the job's IAM role.
   */
  workerEnv: Record<string, string>;
  /** Batch stops an attempt that runs longer (`timeout.attemptDurationSeconds`, at least 60); `BATCH_JOB_TIMEOUT_SECONDS` when absent. */
  attemptTimeoutSeconds?: number;
  log: Logger;
  /** A ready client (tests); built from the options and the SDK's default credential chain otherwise. */
  client?: BatchClient;
}

/** Batch keeps container overrides small (ECS caps them at 8 KiB); the manifest is trimmed well below. */
const MANIFEST_BUDGET = 6000;

/**
 * One GPU per job: the worker runs one engine holding the model on it (the image sets WHISPER_ENGINES=1).
 * Submitted with every job, so it holds whatever the job definition says; the CloudFormation template in
 * deploy/aws/ declares the same (a test compares them).
 */
export const BATCH_JOB_GPUS = 1;

/**
 * Batch stops a job still running after this long (unless `BATCH_JOB_TIMEOUT_SECONDS` says otherwise), and
 * the tracker then retries its order once and refunds it. The longest order
 * (20 files of 4 hours, 80 hours of audio) needs 2.4 hours at a real-time factor of 0.03; the rest is room
 * for slower GPUs and the model load.
 */
export const BATCH_JOB_TIMEOUT_SECONDS = 4 * 3600;

/** Batch states still on their way to a result; a job in one of them must not be started twice. */
const PENDING = new Set(['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING']);

/**
 * Batch's own retries, for Spot reclaims only: an attempt whose host was terminated (status reason
 * "Host EC2 (instance i-...) terminated.") runs again, up to 3 attempts in all; any other end is final
 * and left to the service, which retries a failed order once itself. Set per job, so it holds whatever
 * the job definition says.
 */
export const SPOT_RETRY_STRATEGY = {
  attempts: 3,
  evaluateOnExit: [
    { onStatusReason: 'Host EC2*', action: 'RETRY' as const },
    { onReason: '*', action: 'EXIT' as const },
  ],
};

/**
 * The worker's exit code when some inputs failed but each failure is recorded in its own result file:
 * Batch calls that FAILED, the service treats it as done (the tracker refunds just those files).
 */
const PARTLY_FAILED_EXIT = 2;

/**
 * Runs each order as one AWS Batch job on a GPU queue. The manifest travels in the container's
 * `JOB_MANIFEST` variable and the audio stays in S3, so nothing but keys crosses the API. Job names come
 * from order ids: before submitting, the runner looks for a live or finished job of that name, so a
 * service that crashed after SubmitJob and before recording the job id does not pay for a second GPU run.
 */
export class BatchRunner implements Runner {
  /** DescribeJobs per running job: every 10 s keeps well inside Batch's API rate limits, and GPU jobs take minutes. */
  readonly pollIntervalMs = 10_000;

  readonly client: BatchClient;
  /** Jobs this process submitted, by order id: Batch's listing may lag a fresh submission by a moment. */
  private readonly submitted = new Map<string, string>();

  constructor(private readonly options: BatchRunnerOptions) {
    this.client = options.client ?? new BatchClient({ region: options.region, endpoint: options.endpoint });
  }

  async submit(manifest: JobManifest): Promise<string> {
    const { jobQueue, jobDefinition, workerEnv, attemptTimeoutSeconds, log } = this.options;
    const jobName = batchJobName(manifest.jobId);
    const existing = await this.existingJob(jobName);
    if (existing) {
      log.info({ jobId: manifest.jobId, batchJobId: existing.jobId, status: existing.status }, 'batch job already submitted');
      return existing.jobId!;
    }
    const environment = Object.entries({ ...workerEnv, JOB_MANIFEST: compactManifest(manifest) }).map(([name, value]) => ({ name, value }));
    const response = await this.client.send(
      new SubmitJobCommand({
        jobName,
        jobQueue,
        jobDefinition,
        containerOverrides: { environment, resourceRequirements: [{ type: 'GPU', value: String(BATCH_JOB_GPUS) }] },
        timeout: { attemptDurationSeconds: attemptTimeoutSeconds ?? BATCH_JOB_TIMEOUT_SECONDS },
        retryStrategy: SPOT_RETRY_STRATEGY,
      }),
    );
    if (!response.jobId) throw new Error(`SubmitJob for ${jobName} returned no job id`);
    this.submitted.set(jobName, response.jobId);
    log.info({ jobId: manifest.jobId, batchJobId: response.jobId, files: manifest.inputs.length }, 'batch job submitted');
    return response.jobId;
  }

  async status(runnerJobId: string): Promise<JobStatus> {
    const response = await this.client.send(new DescribeJobsCommand({ jobs: [runnerJobId] }));
    const job = response.jobs?.find((j) => j.jobId === runnerJobId);
    return job ? jobStatus(job) : { state: 'unknown' };
  }

  async close(): Promise<void> {
    // Batch jobs run on without us; the tracker picks them up again after a restart.
    this.client.destroy();
  }

  /**
   * The newest job of this name that is queued, running or succeeded. Failed ones are ignored, so the
   * tracker's retry of a failed job really starts a new one.
   */
  private async existingJob(jobName: string): Promise<JobSummary | undefined> {
    const known = this.submitted.get(jobName);
    if (known) {
      const job = (await this.client.send(new DescribeJobsCommand({ jobs: [known] }))).jobs?.find((j) => j.jobId === known);
      if (!job || job.status !== 'FAILED') return { jobId: known, jobName, status: job?.status ?? 'SUBMITTED', jobArn: job?.jobArn };
      this.submitted.delete(jobName);
    }
    const found: JobSummary[] = [];
    let nextToken: string | undefined;
    do {
      // With a JOB_NAME filter Batch lists jobs of every status, so one call covers queued and finished ones.
      const page = await this.client.send(
        new ListJobsCommand({ jobQueue: this.options.jobQueue, filters: [{ name: 'JOB_NAME', values: [jobName] }], nextToken }),
      );
      found.push(...(page.jobSummaryList ?? []).filter((j) => j.jobName === jobName && j.jobId && j.status !== 'FAILED'));
      nextToken = page.nextToken;
    } while (nextToken);
    return found.sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0))[0];
  }
}

/** A Batch job name for an order: up to 128 letters, digits, hyphens and underscores. */
export function batchJobName(orderId: string): string {
  return `transcribe-${orderId.replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, 128);
}

/** Maps a Batch job onto the runner port's states. */
export function jobStatus(job: JobDetail): JobStatus {
  const status = job.status ?? '';
  if (PENDING.has(status)) return { state: 'pending' };
  if (status === 'RUNNING') return { state: 'running' };
  if (status === 'SUCCEEDED') return { state: 'succeeded' };
  if (status === 'FAILED') {
    const container = job.container ?? job.attempts?.at(-1)?.container;
    if (container?.exitCode === PARTLY_FAILED_EXIT) return { state: 'succeeded' };
    const parts = [job.statusReason, container?.reason, container?.exitCode !== undefined ? `exit ${container.exitCode}` : undefined];
    return { state: 'failed', reason: parts.filter(Boolean).join('; ') || 'batch job failed' };
  }
  return { state: 'unknown', reason: `batch status ${status || 'missing'}` };
}

/**
 * The manifest as JSON for the container environment. Display names are the only free-form part; when an
 * order's many long names would not fit, they are shortened (keeping the extension), never the keys.
 */
export function compactManifest(manifest: JobManifest): string {
  let json = JSON.stringify(manifest);
  for (let limit = 120; Buffer.byteLength(json) > MANIFEST_BUDGET && limit >= 8; limit = Math.floor(limit / 2)) {
    json = JSON.stringify({ ...manifest, inputs: manifest.inputs.map((input) => ({ ...input, name: shorten(input.name, limit) })) });
  }
  if (Buffer.byteLength(json) > MANIFEST_BUDGET)
    throw new Error(`job ${manifest.jobId} has too many files for one Batch job (${manifest.inputs.length})`);
  return json;
}

function shorten(name: string, limit: number): string {
  if (name.length <= limit) return name;
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 && name.length - dot <= 8 ? name.slice(dot) : '';
  return `${name.slice(0, Math.max(1, limit - extension.length - 1))}…${extension}`;
}
