import { vi } from 'vitest';
import { startS3, type TestS3 } from './s3rver';
import { PREPARED_MODEL } from './service';

/** The Batch job queue and job definition the tests' services and runners submit to. */
export const BATCH_QUEUE = 'gpu-queue';
export const BATCH_DEFINITION = 'whisper-gpu:3';

/**
 * Starts s3rver (`startS3`) and puts its one account where the AWS SDK's default credential chain looks, the
 * process environment, as a deployed service finds its credentials. The test's `vi.unstubAllEnvs()` removes them.
 */
export async function startS3WithCredentials(): Promise<TestS3> {
  const s3 = await startS3();
  vi.stubEnv('AWS_ACCESS_KEY_ID', s3.env.AWS_ACCESS_KEY_ID);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', s3.env.AWS_SECRET_ACCESS_KEY);
  return s3;
}

/** What the GPU image and the job's IAM role give the worker in a Batch job (`FakeBatch`'s `containerEnv`). */
export function workerImageEnv(s3: TestS3): Record<string, string> {
  return {
    WHISPER_MODEL: PREPARED_MODEL,
    WHISPER_THREADS: '2',
    AWS_ACCESS_KEY_ID: s3.env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: s3.env.AWS_SECRET_ACCESS_KEY,
  };
}

/** The service's environment for S3 storage and the Batch runner at `endpoint`; `extra` adds or overrides. */
export function batchServiceEnv(s3: TestS3, endpoint: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...s3.env,
    RUNNER: 'batch',
    BATCH_JOB_QUEUE: BATCH_QUEUE,
    BATCH_JOB_DEFINITION: BATCH_DEFINITION,
    BATCH_ENDPOINT: endpoint,
    // The loopback Batch server answers at once: polling it every 10 s, as AWS is, would only make tests wait.
    BATCH_POLL_SECONDS: '0.5',
    ...extra,
  };
}
