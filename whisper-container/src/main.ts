/**
 * The worker's entry point, the same for the local runner (a child process) and AWS Batch (the container):
 *
 *   node --import tsx whisper-container/src/main.ts --manifest FILE      (or the manifest JSON in JOB_MANIFEST)
 *
 * stdout: one JSON line per finished input (`InputReport`), then one `{"type":"job",...}` summary line.
 * stderr: pino logs. Exit 0 when every input succeeded, 2 when some failed, 1 when the job could not run.
 * Settings from the environment: STORAGE, DATA_DIR, WHISPER_MODEL, WHISPER_THREADS, FFMPEG_PATH, WHISPER_SERVER.
 * The local runner uses the long-lived `serve.ts` instead, which keeps its engines loaded between jobs.
 */
import { readFile } from 'node:fs/promises';
import type { BlobStore } from '../../src/ports/blob-store';
import { modelName, workerConfig, type WorkerConfig } from './config';
import { runJob } from './job';
import { workerLogger } from './log';
import { parseManifest } from './manifest';
import { checkEngineFiles, engineStarter, workerStore } from './setup';

async function manifestText(argv: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const flag = argv.indexOf('--manifest');
  if (flag >= 0) {
    const file = argv[flag + 1];
    if (!file) throw new Error('--manifest needs a file name');
    return readFile(file, 'utf8');
  }
  if (env.JOB_MANIFEST) return env.JOB_MANIFEST;
  throw new Error('no job manifest: pass --manifest FILE or set JOB_MANIFEST');
}

async function main(): Promise<number> {
  const log = workerLogger();
  let config: WorkerConfig;
  let manifest;
  let store: BlobStore;
  try {
    config = workerConfig();
    manifest = parseManifest(await manifestText(process.argv.slice(2), process.env));
    checkEngineFiles(config);
    store = workerStore(config);
  } catch (error) {
    process.stderr.write(`worker: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  try {
    const report = await runJob(manifest, store, {
      startEngine: engineStarter(config, log),
      engines: config.engines,
      model: modelName(config.model),
      log,
      ffmpeg: config.ffmpeg,
      maxSeconds: config.maxSeconds,
      onInput: (input) => process.stdout.write(`${JSON.stringify({ type: 'input', ...input })}\n`),
    });
    process.stdout.write(
      `${JSON.stringify({ type: 'job', jobId: report.jobId, succeeded: report.succeeded, failed: report.failed, seconds: report.seconds })}\n`,
    );
    return report.failed === 0 ? 0 : 2;
  } catch (error) {
    log.error({ err: error, jobId: manifest.jobId }, 'job could not run');
    process.stderr.write(`worker: job could not run: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

// Exit only after stdout has drained, so the runner reads every progress line.
// A failure outside main's own handling (the logger, or logging the error itself) is still "the job could not run":
// exit 1 with one line, not an unhandled rejection.
main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`worker: job could not run: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
