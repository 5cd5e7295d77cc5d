/**
 * The worker's entry point, the same for the local runner (a child process) and AWS Batch (the container):
 *
 *   node --import tsx whisper-container/src/main.ts --manifest FILE      (or the manifest JSON in JOB_MANIFEST)
 *
 * The manifest may also be a JSON array of manifests: the orders a Batch job carries together.
 * stdout: one JSON line per finished input (`InputReport`), then one `{"type":"job",...}` summary line.
 * stderr: pino logs. Exit 0 when every input succeeded, 2 when some failed, 1 when the job could not run.
 * Settings from the environment: STORAGE, DATA_DIR, WHISPER_MODEL, WHISPER_THREADS, FFMPEG_PATH, WHISPER_SERVER.
 * The local runner uses the long-lived `serve.ts` instead, which keeps its engines loaded between jobs.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { BlobStore } from '../../src/ports/blob-store';
import type { JobManifest } from '../../src/ports/runner';
import { modelName, workerConfig, type WorkerConfig } from './config';
import { exitWith } from './exit';
import { runJob } from './job';
import { workerLogger } from './log';
import { parseManifests } from './manifest';
import { EnginePool } from './pool';
import { InputQueue } from './queue';
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
  let manifests;
  let store: BlobStore;
  try {
    config = workerConfig();
    manifests = parseManifests(await manifestText(process.argv.slice(2), process.env));
    checkEngineFiles(config);
    store = workerStore(config);
  } catch (error) {
    process.stderr.write(`worker: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  if (manifests.length > 1) return runGroup(manifests, store, config, log);
  const manifest = manifests[0]!;
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

/**
 * The jobs of several orders in one run (a grouped Batch job): their inputs share one queue and one pool, as in
 * the warm worker. Exit 0 when every input succeeded, 2 when some failed (each has its result file), 1 when any
 * job could not record its results: the service then retries each order of the group on its own.
 */
async function runGroup(manifests: JobManifest[], store: BlobStore, config: WorkerConfig, log: Logger): Promise<number> {
  let pool: EnginePool;
  try {
    pool = await EnginePool.create(config.engines, engineStarter(config, log));
  } catch (error) {
    process.stderr.write(`worker: job could not run: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  let failed = 0;
  let broken = 0;
  const queue = new InputQueue(
    store,
    pool,
    { model: modelName(config.model), log, ffmpeg: config.ffmpeg, maxSeconds: config.maxSeconds },
    {
      onInput: (jobId, report) => process.stdout.write(`${JSON.stringify({ type: 'input', jobId, ...report })}\n`),
      onJob: (report) => {
        failed += report.failed;
        if (report.error) broken += 1;
        process.stdout.write(`${JSON.stringify({ type: 'job', ...report })}\n`);
      },
    },
  );
  for (const manifest of manifests) queue.add(manifest);
  await queue.drained();
  await pool.close();
  if (broken > 0) {
    process.stderr.write(`worker: ${broken} of ${manifests.length} jobs could not record their results\n`);
    return 1;
  }
  return failed === 0 ? 0 : 2;
}

// A failure outside main's own handling (the logger, or logging the error itself) is still "the job could not run".
exitWith(main(), 'worker: job could not run');
