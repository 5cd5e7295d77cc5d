import { join } from 'node:path';
import { ConfigError, type Config } from '../config';
import type { Logger } from '../log';
import type { BlobStore } from '../ports/blob-store';
import type { Runner } from '../ports/runner';
import { BatchRunner } from '../runner/batch-runner';
import { JobCredentials } from '../runner/job-credentials';
import { RoutedRunner } from '../runner/routed-runner';
import { WarmRunner } from '../runner/warm-runner';
import { installedEngine, locateModel, missingEngineParts } from '../../whisper-container/src/config';

/**
 * AWS credential variables a local worker needs to reach S3 as the service does. Only the local runner
 * hands them on (to its own child process); Batch jobs get a session scoped to their orders (`jobCredentials`).
 */
const AWS_CREDENTIAL_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_ROLE_ARN',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
];

/** The variables that point the worker at the same blob store as the service (names as in docs/configuration.md). */
export function workerStorageEnv(config: Config): Record<string, string> {
  const storage = config.storage;
  if (storage.kind === 'local') return { STORAGE: 'local' };
  return {
    STORAGE: 's3',
    S3_BUCKET: storage.bucket,
    ...(storage.endpoint ? { S3_ENDPOINT: storage.endpoint } : {}),
    S3_FORCE_PATH_STYLE: String(storage.forcePathStyle),
    AWS_REGION: storage.region,
  };
}

/**
 * The runner `RUNNER` names: warm worker processes on this machine by default, AWS Batch GPU jobs with
 * `RUNNER=batch` (short orders on the local worker when `LOCAL_MAX_SECONDS` is set). `store` is the store the service really uses: Batch containers cannot read this
 * machine's disk, so a local store with Batch is refused at start.
 */
export function runnerFromConfig(config: Config, log: Logger, store: BlobStore): Runner {
  const runner = config.runner;
  if (runner.kind === 'local') return warmRunner(config, log, runner.concurrency);
  if (config.storage.kind !== 's3' || store.localPath) {
    throw new ConfigError('RUNNER=batch needs STORAGE=s3: Batch jobs read the audio from S3, not from this machine');
  }
  log.info(
    { jobQueue: runner.jobQueue, jobDefinition: runner.jobDefinition, localMaxSeconds: runner.localMaxSeconds },
    'transcription runs as AWS Batch jobs',
  );
  const batch = new BatchRunner({
    jobCredentials: jobCredentials(config, runner, log),
    jobQueue: runner.jobQueue,
    jobDefinition: runner.jobDefinition,
    endpoint: runner.endpoint,
    region: runner.region,
    attemptTimeoutSeconds: runner.attemptTimeoutSeconds,
    pollIntervalMs: runner.pollIntervalMs,
    log,
    // The image carries its model, engine and thread count; only where the data lives is per deployment.
    workerEnv: { ...workerStorageEnv(config), LOG_LEVEL: config.logLevel },
  });
  if (runner.localMaxSeconds === 0) return batch;
  return new RoutedRunner(warmRunner(config, log, runner.concurrency), batch, runner.localMaxSeconds);
}

/** Per-job sessions of `BATCH_JOB_ROLE_ARN`; unset, jobs fall back to the job definition's role, and the log says so once. */
function jobCredentials(config: Config, runner: Extract<Config['runner'], { kind: 'batch' }>, log: Logger): JobCredentials | undefined {
  if (config.storage.kind !== 's3') return undefined;
  if (!runner.jobRoleArn) {
    log.warn(
      "BATCH_JOB_ROLE_ARN is unset: Batch jobs use their job definition's role, so each job reaches every order that role reaches (with the deploy/aws template that role has no S3 rights and every job fails)",
    );
    return undefined;
  }
  log.info({ jobRoleArn: runner.jobRoleArn }, 'each Batch job gets credentials scoped to its own orders');
  return new JobCredentials({
    roleArn: runner.jobRoleArn,
    bucket: config.storage.bucket,
    region: runner.region,
    endpoint: runner.stsEndpoint,
    log,
  });
}

/** Warm worker processes on this machine, reading and writing the service's own store. */
function warmRunner(config: Config, log: Logger, concurrency: number): WarmRunner {
  // Checked here, before anything starts: a missing model found at the first job would fail and refund every order.
  const model = locateModel(config.whisper.model, config.dataDir);
  const missing = missingEngineParts({ model, serverBinary: installedEngine });
  if (missing) throw new ConfigError(missing);
  const credentials = config.storage.kind === 's3' ? passThrough(AWS_CREDENTIAL_VARIABLES) : {};
  return new WarmRunner({
    jobsDir: join(config.dataDir, 'jobs'),
    concurrency,
    log,
    workerEnv: {
      ...workerStorageEnv(config),
      ...credentials,
      DATA_DIR: config.dataDir,
      WHISPER_MODEL: model,
      WHISPER_THREADS: String(config.whisper.threads),
      LOG_LEVEL: config.logLevel,
      ...passThrough(['FFMPEG_PATH']),
    },
  });
}

function passThrough(names: string[]): Record<string, string> {
  return Object.fromEntries(names.flatMap((name) => (process.env[name] ? [[name, process.env[name]!]] : [])));
}
