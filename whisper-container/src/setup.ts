import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { BlobStore } from '../../src/ports/blob-store';
import { LocalBlobStore } from '../../src/storage/local-blob-store';
import { S3BlobStore } from '../../src/storage/s3-blob-store';
import { ConfigError, threadsPerEngine, type WorkerConfig } from './config';
import { ServerEngine, type Engine } from './engine';

/** The store the worker reads inputs from and writes results to: the service's own (docs/configuration.md). */
export function workerStore(config: WorkerConfig, env: NodeJS.ProcessEnv = process.env): BlobStore {
  if (config.storage === 'local') return new LocalBlobStore(config.blobRoot);
  // Credentials come from the SDK's chain (the job's IAM role on Batch).
  if (!env.S3_BUCKET) throw new ConfigError('S3_BUCKET is required for STORAGE=s3');
  return new S3BlobStore({
    bucket: env.S3_BUCKET,
    region: env.AWS_REGION || 'us-east-1',
    endpoint: env.S3_ENDPOINT || undefined,
    forcePathStyle: ['true', '1', 'yes'].includes(env.S3_FORCE_PATH_STYLE ?? ''),
  });
}

/** Refuses to start without the model or the engine binary, with one line that says what to do. */
export function checkEngineFiles(config: WorkerConfig): void {
  if (!existsSync(config.model)) throw new ConfigError(`Whisper model not found: ${config.model} (run npm ci, or set WHISPER_MODEL)`);
  if (!existsSync(config.serverBinary)) throw new ConfigError(`whisper-server not found: ${config.serverBinary} (run npm ci)`);
}

/** Starts one engine with the configured model, binary and its share of the threads. */
export function engineStarter(config: WorkerConfig, log: Logger): () => Promise<Engine> {
  return () =>
    ServerEngine.start({
      binary: config.serverBinary,
      model: config.model,
      threads: threadsPerEngine(config),
      flashAttention: config.flashAttention,
      log,
    });
}
