import {
  BatchClient,
  DescribeJobsCommand,
  ListJobsCommand,
  SubmitJobCommand,
  type JobDetail,
  type JobSummary,
} from '@aws-sdk/client-batch';
import type { Logger } from '../log';
import { RunnerUnavailableError, type JobManifest, type JobStatus, type Runner, type SubmitOutcome } from '../ports/runner';
import { CREDENTIALS_OVERRIDE_BYTES, jobCredentialSeconds, type JobCredentials } from './job-credentials';

export interface BatchRunnerOptions {
  jobQueue: string;
  jobDefinition: string;
  region: string;
  /** A Batch-compatible endpoint (tests); AWS's own when absent. */
  endpoint?: string;
  /**
   * Environment for the worker in the container besides `JOB_MANIFEST`: STORAGE=s3 and the S3_* settings,
   * so it reads and writes the very bucket the service uses. Credentials come from `jobCredentials`, or else the job's IAM role.
   */
  workerEnv: Record<string, string>;
  /** Each job's own session, scoped to its orders (`BATCH_JOB_ROLE_ARN`); without it jobs use the job definition's role. */
  jobCredentials?: JobCredentials;
  /** Batch stops an attempt that runs longer (`timeout.attemptDurationSeconds`, at least 60); `BATCH_JOB_TIMEOUT_SECONDS` when absent. */
  attemptTimeoutSeconds?: number;
  /** How often running jobs are described (`BATCH_POLL_SECONDS`); 10 s when absent. */
  pollIntervalMs?: number;
  log: Logger;
  /** A ready client (tests); built from the options and the SDK's default credential chain otherwise. */
  client?: BatchClient;
}

/** Batch keeps container overrides small (ECS caps them at 8 KiB); the manifest is trimmed well below. */
const MANIFEST_BUDGET = 6000;

/**
 * One GPU per job: the worker runs two engines sharing it (the image sets WHISPER_ENGINES=2).
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

/**
 * Orders one Batch job carries at most: enough that a burst of voice notes pays for one GPU start instead of
 * twenty, few enough that a long file in the group does not keep the others waiting for hours.
 */
export const BATCH_GROUP_MAX = 20;

/**
 * Orders queued in a burst wait until no new one has come for `BATCH_GATHER_QUIET_MS` (at most
 * `BATCH_GATHER_MAX_MS` in all, or until a group is full), so the burst shares Batch jobs. Seconds, against a
 * GPU start of minutes.
 */
export const BATCH_GATHER_QUIET_MS = 2000;
export const BATCH_GATHER_MAX_MS = 10_000;

/** DescribeJobs takes at most this many job ids. */
const DESCRIBE_JOBS_MAX = 100;

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
  /** How often the tracker asks about running jobs: every 10 s by default keeps well inside Batch's API rate limits, and GPU jobs take minutes. */
  readonly pollIntervalMs: number;

  readonly client: BatchClient;
  /** Jobs this process submitted, by order id: Batch's listing may lag a fresh submission by a moment. */
  private readonly submitted = new Map<string, string>();
  /** The Batch job of each order in a grouped job, submitted by this process or found from an earlier one. */
  private readonly groupOf = new Map<string, string>();
  /** The orders of each grouped job. */
  private readonly members = new Map<string, string[]>();
  /** Orders whose grouped job failed: each is retried in a job of its own, so one cannot fail the others again. */
  private readonly alone = new Set<string>();
  /** Jobs created from this time on are known (this process's own, or found by `findEarlierGroups`). */
  private scannedFrom = Date.now();

  /** The manifest's share of the container overrides: less when the job's credentials travel there too. */
  private readonly manifestBudget: number;

  constructor(private readonly options: BatchRunnerOptions) {
    this.client = options.client ?? new BatchClient({ region: options.region, endpoint: options.endpoint });
    this.manifestBudget = MANIFEST_BUDGET - (options.jobCredentials ? CREDENTIALS_OVERRIDE_BYTES : 0);
    this.pollIntervalMs = options.pollIntervalMs ?? 10_000;
  }

  async submit(manifest: JobManifest): Promise<string> {
    const { log } = this.options;
    const jobName = batchJobName(manifest.jobId);
    const existing = await this.existingJob(jobName);
    if (existing) {
      log.info({ jobId: manifest.jobId, batchJobId: existing.jobId, status: existing.status }, 'batch job already submitted');
      return existing.jobId!;
    }
    const batchJobId = await this.submitJob(jobName, compactManifest(manifest, this.manifestBudget), [manifest]);
    this.submitted.set(jobName, batchJobId);
    log.info({ jobId: manifest.jobId, batchJobId, files: manifest.inputs.length }, 'batch job submitted');
    return batchJobId;
  }

  /**
   * One SubmitJob: the manifest JSON (one order's, or a group's array) in `JOB_MANIFEST` beside the worker's
   * environment and, when jobs are scoped, a session of the job role limited to `manifests`' order folders;
   * and the GPU count, time limit and Spot retries that every job carries whatever its definition says.
   * The command holds credentials: it is never logged.
   */
  private async submitJob(jobName: string, manifestJson: string, manifests: JobManifest[]): Promise<string> {
    const { jobQueue, jobDefinition, workerEnv, jobCredentials } = this.options;
    const attemptDurationSeconds = this.options.attemptTimeoutSeconds ?? BATCH_JOB_TIMEOUT_SECONDS;
    const credentials = await jobCredentials?.forJob(
      jobName,
      manifests.flatMap((m) => m.inputs.map((input) => input.key)),
      jobCredentialSeconds(attemptDurationSeconds, SPOT_RETRY_STRATEGY.attempts),
    );
    const environment = Object.entries({ ...workerEnv, ...credentials, JOB_MANIFEST: manifestJson }).map(([name, value]) => ({
      name,
      value,
    }));
    const response = await this.client.send(
      new SubmitJobCommand({
        jobName,
        jobQueue,
        jobDefinition,
        containerOverrides: { environment, resourceRequirements: [{ type: 'GPU', value: String(BATCH_JOB_GPUS) }] },
        timeout: { attemptDurationSeconds },
        retryStrategy: SPOT_RETRY_STRATEGY,
      }),
    );
    if (!response.jobId) throw new Error(`SubmitJob for ${jobName} returned no job id`);
    return response.jobId;
  }

  /** Holds a burst back while it is still growing: see `BATCH_GATHER_QUIET_MS`. */
  hold(queued: { manifest: JobManifest; queuedAt: number }[], now: number): boolean[] {
    const fresh = queued.map((q) => !this.alone.has(q.manifest.jobId) && !this.groupOf.has(q.manifest.jobId));
    const burst = queued.filter((_, i) => fresh[i]);
    const newest = Math.max(...burst.map((q) => q.queuedAt));
    const oldest = Math.min(...burst.map((q) => q.queuedAt));
    const wait =
      burst.length > 0 && burst.length < BATCH_GROUP_MAX && now - newest < BATCH_GATHER_QUIET_MS && now - oldest < BATCH_GATHER_MAX_MS;
    return fresh.map((isFresh) => isFresh && wait);
  }

  /**
   * Submits the orders of one dispatcher pass as few Batch jobs: groups of up to `BATCH_GROUP_MAX` orders whose
   * manifests (a JSON array in `JOB_MANIFEST`) fit the container overrides. Every order of a group gets the
   * group's job id; results land per order and per file as before. An order already in a live or finished job
   * (this process's, or one a killed service started: searched from `since`) gets that job again. An order
   * whose grouped job failed goes alone.
   */
  async submitMany(manifests: JobManifest[], since: number): Promise<SubmitOutcome[]> {
    const outcomes: SubmitOutcome[] = manifests.map(() => ({ error: new Error('not submitted') }));
    try {
      await this.findEarlierGroups(since);
    } catch (error) {
      return manifests.map(() => ({ error: submitError(error) }));
    }
    const grouped: number[] = [];
    for (const [i, manifest] of manifests.entries()) {
      const existing = this.groupOf.get(manifest.jobId);
      if (existing) outcomes[i] = { runnerJobId: existing };
      else if (!this.alone.has(manifest.jobId)) grouped.push(i);
    }
    const singles = manifests.flatMap((manifest, i) => (this.alone.has(manifest.jobId) && !this.groupOf.has(manifest.jobId) ? [i] : []));
    for (const group of groupsOf(
      grouped.map((i) => manifests[i]!),
      this.manifestBudget,
      this.options.jobCredentials,
    )) {
      const indices = group.map((m) => manifests.indexOf(m));
      if (group.length === 1) {
        singles.push(indices[0]!);
        continue;
      }
      try {
        const id = await this.submitGroup(group);
        for (const i of indices) outcomes[i] = { runnerJobId: id };
      } catch (error) {
        // A refused group must not hold up its orders: each goes alone, now, so only the one Batch refuses waits.
        this.options.log.warn({ orders: group.length, err: error }, 'batch refused a grouped job; submitting its orders one by one');
        for (const m of group) this.alone.add(m.jobId);
        singles.push(...indices);
      }
    }
    for (const i of singles) {
      try {
        outcomes[i] = { runnerJobId: await this.submit(manifests[i]!) };
      } catch (error) {
        outcomes[i] = { error: submitError(error) };
      }
    }
    return outcomes;
  }

  async status(runnerJobId: string): Promise<JobStatus> {
    return (await this.statusMany([runnerJobId])).get(runnerJobId)!;
  }

  /**
   * Every job's status from one DescribeJobs per `DESCRIBE_JOBS_MAX` distinct jobs: the orders of a grouped job ask
   * about the same job, and a tracker pass over a hundred running orders costs one call, not a hundred.
   */
  async statusMany(runnerJobIds: string[]): Promise<Map<string, JobStatus>> {
    const ids = [...new Set(runnerJobIds)];
    const statuses = new Map<string, JobStatus>();
    for (let start = 0; start < ids.length; start += DESCRIBE_JOBS_MAX) {
      const batch = ids.slice(start, start + DESCRIBE_JOBS_MAX);
      const response = await this.client.send(new DescribeJobsCommand({ jobs: batch }));
      for (const id of batch) {
        const job = response.jobs?.find((j) => j.jobId === id);
        const status = job ? jobStatus(job) : { state: 'unknown' as const };
        if (job && status.state === 'failed') this.groupFailed(id, manifestOrders(job));
        statuses.set(id, status);
      }
    }
    return statuses;
  }

  /** A grouped job failed: its orders are no longer in it, and each is retried on its own. */
  private groupFailed(jobId: string, orderIds: string[]): void {
    const members = this.members.get(jobId) ?? orderIds;
    if (members.length < 2) return;
    for (const orderId of members) {
      if (this.groupOf.get(orderId) === jobId) this.groupOf.delete(orderId);
      this.alone.add(orderId);
    }
    this.members.delete(jobId);
  }

  private async submitGroup(group: JobManifest[]): Promise<string> {
    const batchJobId = await this.submitJob(batchJobName(`${group[0]!.jobId}-and-${group.length - 1}`), JSON.stringify(group), group);
    this.remember(
      batchJobId,
      group.map((m) => m.jobId),
    );
    this.options.log.info(
      { batchJobId, orders: group.length, files: group.reduce((n, m) => n + m.inputs.length, 0) },
      'batch job submitted for a group of orders',
    );
    return batchJobId;
  }

  private remember(jobId: string, orderIds: string[]): void {
    this.members.set(jobId, orderIds);
    for (const orderId of orderIds) this.groupOf.set(orderId, jobId);
  }

  /**
   * Finds grouped jobs that a killed service submitted: jobs of this queue created since `since` (minus a minute
   * for clocks), not failed, whose manifest lists orders. Each period is searched once; later jobs are this
   * process's own and known already.
   */
  private async findEarlierGroups(since: number): Promise<void> {
    const from = since - 60_000;
    if (from >= this.scannedFrom) return;
    const ids: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListJobsCommand({
          jobQueue: this.options.jobQueue,
          filters: [{ name: 'AFTER_CREATED_AT', values: [String(from)] }],
          nextToken,
        }),
      );
      for (const job of page.jobSummaryList ?? []) {
        if (job.jobId && job.jobName?.startsWith('transcribe-') && job.status !== 'FAILED' && (job.createdAt ?? 0) < this.scannedFrom)
          ids.push(job.jobId);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    for (let start = 0; start < ids.length; start += 100) {
      const page = await this.client.send(new DescribeJobsCommand({ jobs: ids.slice(start, start + 100) }));
      for (const job of page.jobs ?? []) {
        const orderIds = manifestOrders(job);
        if (job.jobId && orderIds.length > 1 && job.status !== 'FAILED') this.remember(job.jobId, orderIds);
      }
    }
    this.scannedFrom = from;
  }

  async close(): Promise<void> {
    // Batch jobs run on without us; the tracker picks them up again after a restart.
    this.client.destroy();
    this.options.jobCredentials?.close();
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

/** AWS error names that say "not now" rather than "not this job". */
const THROTTLED = new Set([
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
]);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Batch's answer as the port reads it: a server fault (5xx), throttling or no answer at all (connection refused,
 * timed out) is `RunnerUnavailableError`, which the dispatcher waits out; a client fault (400 ClientException: a
 * bad job definition, overrides refused) stays a refusal of this job.
 */
export function submitError(error: unknown): unknown {
  const e = error as { name?: string; code?: string; $fault?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const status = e?.$metadata?.httpStatusCode;
  // No HTTP answer at all: the SDK's errors carry `$metadata` without a status, Node's sockets an errno code.
  const unanswered = status === undefined && (e?.$metadata !== undefined || NETWORK_CODES.has(e?.code ?? '') || e?.name === 'TimeoutError');
  const unavailable = e?.$fault === 'server' || THROTTLED.has(e?.name ?? '') || status === 429 || (status ?? 0) >= 500 || unanswered;
  if (!unavailable || error instanceof RunnerUnavailableError) return error;
  return new RunnerUnavailableError(`AWS Batch unavailable: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

/** The order ids a job's `JOB_MANIFEST` lists (one manifest or a group of them); none when it cannot be read. */
function manifestOrders(job: JobDetail): string[] {
  const value = job.container?.environment?.find((e) => e.name === 'JOB_MANIFEST')?.value;
  try {
    const parsed = JSON.parse(value ?? '') as { jobId?: unknown } | { jobId?: unknown }[];
    return (Array.isArray(parsed) ? parsed : [parsed]).flatMap((m) => (typeof m.jobId === 'string' ? [m.jobId] : []));
  } catch {
    return [];
  }
}

/**
 * Splits manifests into groups of up to `BATCH_GROUP_MAX` whose JSON array fits the override budget and, when jobs
 * are scoped, whose order folders fit one session policy; a manifest too large to share (many long names) forms a
 * group of its own, which goes as a single job.
 */
function groupsOf(manifests: JobManifest[], budget: number, scope?: Pick<JobCredentials, 'fits'>): JobManifest[][] {
  const groups: JobManifest[][] = [];
  let current: JobManifest[] = [];
  let bytes = 2;
  const keys = (group: JobManifest[]) => group.flatMap((m) => m.inputs.map((input) => input.key));
  for (const manifest of manifests) {
    const size = Buffer.byteLength(JSON.stringify(manifest)) + 1;
    const full = current.length >= BATCH_GROUP_MAX || bytes + size > budget || (scope && !scope.fits(keys([...current, manifest])));
    if (current.length > 0 && full) {
      groups.push(current);
      current = [];
      bytes = 2;
    }
    current.push(manifest);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
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
export function compactManifest(manifest: JobManifest, budget = MANIFEST_BUDGET): string {
  let json = JSON.stringify(manifest);
  for (let limit = 120; Buffer.byteLength(json) > budget && limit >= 8; limit = Math.floor(limit / 2)) {
    json = JSON.stringify({ ...manifest, inputs: manifest.inputs.map((input) => ({ ...input, name: shorten(input.name, limit) })) });
  }
  if (Buffer.byteLength(json) > budget)
    throw new Error(`job ${manifest.jobId} has too many files for one Batch job (${manifest.inputs.length})`);
  return json;
}

function shorten(name: string, limit: number): string {
  if (name.length <= limit) return name;
  const dot = name.lastIndexOf('.');
  const extension = dot > 0 && name.length - dot <= 8 ? name.slice(dot) : '';
  return `${name.slice(0, Math.max(1, limit - extension.length - 1))}…${extension}`;
}
