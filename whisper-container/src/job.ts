import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from 'pino';
import type { BlobStore } from '../../src/ports/blob-store';
import { BlobNotFoundError } from '../../src/ports/blob-store';
import { resultKey, type JobManifest } from '../../src/ports/runner';
import { resultFileSchema, type ResultFile, type TranscriptFailure } from '../../src/domain/transcript';
import type { Engine } from './engine';
import { EnginePool } from './pool';
import { InputError } from './errors';
import { sniffFile } from './sniff';
import { transcribeFile } from './transcribe';

/** What happened to one input; also the worker's progress line on stdout. */
export interface InputReport {
  key: string;
  resultKey: string;
  ok: boolean;
  /** Audio seconds, when the input was transcribed. */
  duration?: number;
  /** Where transcription stopped because the charged seconds ended. */
  cutAt?: number;
  noSpeech?: boolean;
  error?: TranscriptFailure['error'];
  /** Wall time spent on this input. */
  seconds: number;
}

/** The outcome of a whole job. */
export interface JobReport {
  jobId: string;
  inputs: InputReport[];
  succeeded: number;
  failed: number;
  /** Wall time of the whole job, model load included. */
  seconds: number;
}

export interface RunJobOptions {
  /** Starts an engine with the job's model loaded. Called once per engine, and again only if one dies. */
  startEngine: () => Promise<Engine>;
  /** How many engines work side by side (default 1). */
  engines?: number;
  /** Model name written into each result (`tiny.en`). */
  model: string;
  log?: Logger;
  /** Called as each input finishes, in order, with what was written to its result key. */
  onInput?: (report: InputReport, result: ResultFile) => void;
  ffmpeg?: string;
  maxSeconds?: number;
  windowSeconds?: number;
  /** Where inputs are staged when the store cannot give a local path (S3). */
  tmpDir?: string;
}

/** Gives a local path for `key`: in place for a local store, otherwise streamed to a temporary file (never to memory). */
async function localCopy(
  store: BlobStore,
  key: string,
  tmpDir: string | undefined,
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  if (store.localPath) {
    const path = store.localPath(key);
    if (!(await store.exists(key))) throw new BlobNotFoundError(key);
    return { path, cleanup: async () => {} };
  }
  const dir = await mkdtemp(join(tmpDir ?? tmpdir(), 'input-'));
  const path = join(dir, 'input');
  try {
    await pipeline(await store.get(key), createWriteStream(path));
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function failure(file: string, error: unknown): TranscriptFailure {
  if (error instanceof InputError) return { version: 1, file, error: { code: error.code, message: error.message } };
  if (error instanceof BlobNotFoundError)
    return { version: 1, file, error: { code: 'corrupt', message: 'The file was not found in storage.' } };
  return { version: 1, file, error: { code: 'engine', message: 'Transcription failed inside the engine.' } };
}

/**
 * Runs one job: every input of the manifest through one pool of engines started once (so the model loads once per
 * engine, not per input), each result written as `<key>_result.json` beside its input. Inputs run side by side,
 * as many as there are engines, and are reported in manifest order. One bad input becomes a `TranscriptFailure`
 * for that input and the job goes on; a job that cannot start at all (no model, no engine) rejects, and so does one
 * whose results cannot be written (once the inputs already running have finished).
 */
export async function runJob(manifest: JobManifest, store: BlobStore, options: RunJobOptions): Promise<JobReport> {
  const started = performance.now();
  const pool = await EnginePool.create(options.engines ?? 1, options.startEngine);
  const done: ({ report: InputReport; result: ResultFile } | undefined)[] = manifest.inputs.map(() => undefined);
  let emitted = 0;
  let next = 0;
  /** Why the job stopped: a result that could not be written (storage down). Lanes then take no new input. */
  let stopped: { error: unknown } | undefined;
  const lane = async () => {
    while (!stopped && next < manifest.inputs.length) {
      const index = next++;
      try {
        done[index] = await runInput(manifest, index, store, pool, options);
      } catch (error) {
        stopped ??= { error };
        return;
      }
      // Report in manifest order, so progress lines and the CLI's output follow the order inputs were given.
      while (emitted < done.length && done[emitted]) {
        const { report, result } = done[emitted++]!;
        options.onInput?.(report, result);
      }
    }
  };
  try {
    // Lanes never reject: each stops on its own, so the engines are closed only once none is working. Closing them
    // under a lane still running made its input fail as an engine error and left that engine running for ever.
    await Promise.all(Array.from({ length: Math.min(pool.size, manifest.inputs.length) }, lane));
  } finally {
    await pool.close();
  }
  if (stopped) throw stopped.error;
  const reports = done.map((entry) => entry!.report);
  const failed = reports.filter((report) => !report.ok).length;
  return { jobId: manifest.jobId, inputs: reports, succeeded: reports.length - failed, failed, seconds: elapsed(started) };
}

/** What `runInput` needs: the job options less those about starting engines and reporting. */
export type InputOptions = Omit<RunJobOptions, 'startEngine' | 'engines' | 'onInput'>;

/**
 * Transcribes one input of a job on `pool` and writes its result (or its failure) beside it. Never rejects for a
 * bad input: the failure is the result. Shared by `runJob` (one job) and the warm worker (inputs of many jobs).
 */
export async function runInput(
  manifest: JobManifest,
  index: number,
  store: BlobStore,
  pool: EnginePool,
  options: InputOptions,
): Promise<{ report: InputReport; result: ResultFile }> {
  const input = manifest.inputs[index]!;
  const log = options.log;
  const started = performance.now();
  const name = input.name || basename(input.key);
  let result: ResultFile;
  try {
    const { path, cleanup } = await localCopy(store, input.key, options.tmpDir);
    try {
      const { container, empty } = await sniffFile(path);
      if (empty) throw new InputError('not_audio', 'The file is empty.');
      result = await transcribeFile(path, pool, {
        name,
        model: options.model,
        container,
        language: manifest.options.language,
        translate: manifest.options.translate,
        ffmpeg: options.ffmpeg,
        maxSeconds: options.maxSeconds,
        chargedSeconds: input.chargedSeconds,
        windowSeconds: options.windowSeconds,
        log,
      });
    } finally {
      await cleanup();
    }
  } catch (error) {
    result = failure(name, error);
    if (!(error instanceof InputError)) log?.error({ err: error, jobId: manifest.jobId, key: input.key }, 'input failed');
  }
  // Checked against the documented format before it is written: a bug here must fail this input, not hand the
  // service a transcript it would render wrong.
  const checked = resultFileSchema.safeParse(result);
  if (!checked.success) {
    log?.error({ jobId: manifest.jobId, key: input.key, issue: checked.error.issues[0] }, 'result does not match its format');
    result = failure(name, checked.error);
  }
  const key = resultKey(input.key);
  await store.put(key, Buffer.from(`${JSON.stringify(result, null, 2)}\n`), { contentType: 'application/json' });
  const seconds = elapsed(started);
  const report: InputReport =
    'error' in result
      ? { key: input.key, resultKey: key, ok: false, error: result.error, seconds }
      : {
          key: input.key,
          resultKey: key,
          ok: true,
          duration: result.duration,
          ...(result.noSpeech ? { noSpeech: true } : {}),
          ...(result.cutAt !== undefined ? { cutAt: result.cutAt } : {}),
          seconds,
        };
  log?.info(
    {
      jobId: manifest.jobId,
      key: input.key,
      ok: report.ok,
      code: report.error?.code,
      duration: report.duration,
      cutAt: report.cutAt,
      seconds,
    },
    'input done',
  );
  return { report, result };
}

const elapsed = (since: number) => Math.round(performance.now() - since) / 1000;
