/**
 * The warm worker: a long-lived process that keeps its engines (and so the model) loaded and takes jobs as they
 * come, for the local runner. Every input of every job goes into one queue over one engine pool (`queue.ts`), so
 * orders that arrive together fill the engines together.
 *
 *   node --import tsx whisper-container/src/serve.ts
 *
 * stdin: one job manifest (JSON, as for main.ts) per line. stdout, one JSON object per line:
 *   {"type":"ready","engines":2}                                 engines loaded, jobs are taken
 *   {"type":"start","jobId":"o1","key":"orders/o1/0"}            an input is being worked on
 *   {"type":"input","jobId":"o1","key":...,"ok":true,...}       an input's result file is written (InputReport), with
 *                                                                 `engineBusySeconds`: the engines' busy time so far
 *   {"type":"job","jobId":"o1","succeeded":1,"failed":0,...}     every input of the job is done; `error` when
 *                                                                 the job could not record its results
 *   {"type":"refused","jobId":"o1","error":"..."}                a line that is no valid manifest, or a job id
 *                                                                 already in the queue
 * stderr: pino logs. It finishes what it has and exits 0 when stdin closes; on SIGTERM it finishes only the
 * inputs in progress, drops the rest unreported and exits 0; it exits 1 when it cannot start
 * (model or engine missing, store misconfigured). The runner ties it to its own life (`spawnTied`), and it ties
 * its engines to its own, so no process outlives the service.
 */
import type { Writable } from 'node:stream';
import { modelName, workerConfig } from './config';
import { workerLogger } from './log';
import { exitWith } from './exit';
import { parseManifest } from './manifest';
import { EnginePool } from './pool';
import { InputQueue } from './queue';
import { checkEngineFiles, engineStarter, workerStore } from './setup';

/** A manifest line is a few hundred bytes; anything near this is not one, and is not buffered. */
const MAX_LINE_BYTES = 1024 * 1024;

function emit(out: Writable, line: Record<string, unknown>): void {
  out.write(`${JSON.stringify(line)}\n`);
}

/** Calls `onLine` for each newline-terminated line of `input`, refusing (not buffering) lines past the bound. */
async function readLines(input: NodeJS.ReadableStream, onLine: (line: string) => void, onTooLong: () => void): Promise<void> {
  let pending = '';
  let skipping = false;
  input.setEncoding('utf8');
  for await (const chunk of input as AsyncIterable<string>) {
    let text = chunk;
    for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n')) {
      const line = pending + text.slice(0, newline);
      text = text.slice(newline + 1);
      pending = '';
      if (skipping) skipping = false;
      else if (line.trim()) onLine(line);
    }
    if (skipping) continue;
    pending += text;
    if (pending.length > MAX_LINE_BYTES) {
      pending = '';
      skipping = true;
      onTooLong();
    }
  }
  if (!skipping && pending.trim()) onLine(pending);
}

async function serve(): Promise<number> {
  const log = workerLogger();
  const out = process.stdout;
  let pool: EnginePool;
  let queue: InputQueue;
  try {
    const config = workerConfig();
    checkEngineFiles(config);
    const store = workerStore(config);
    pool = await EnginePool.create(config.engines, engineStarter(config, log));
    queue = new InputQueue(
      store,
      pool,
      { model: modelName(config.model), log, ffmpeg: config.ffmpeg, maxSeconds: config.maxSeconds },
      {
        onStart: (jobId, key) => emit(out, { type: 'start', jobId, key }),
        onInput: (jobId, report) => emit(out, { type: 'input', jobId, ...report, engineBusySeconds: pool.busySeconds }),
        onJob: (report) => emit(out, { type: 'job', ...report }),
      },
    );
  } catch (error) {
    process.stderr.write(`worker: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  // Asked to stop (the service is stopping): finish the inputs in progress, leave the rest to the next start.
  process.once('SIGTERM', () => {
    queue.stop();
    void queue
      .drained()
      .then(() => pool.close())
      .finally(() => process.exit(0));
  });
  emit(out, { type: 'ready', engines: pool.size });
  log.info({ engines: pool.size }, 'warm worker ready');
  await readLines(
    process.stdin,
    (line) => {
      let jobId: unknown;
      try {
        jobId = (JSON.parse(line) as { jobId?: unknown }).jobId;
        const manifest = parseManifest(line);
        if (!queue.add(manifest)) emit(out, { type: 'refused', jobId, error: 'job already queued' });
      } catch (error) {
        emit(out, {
          type: 'refused',
          ...(typeof jobId === 'string' ? { jobId } : {}),
          error: error instanceof Error ? error.message : String(error),
        });
      }
    },
    () => emit(out, { type: 'refused', error: `manifest line longer than ${MAX_LINE_BYTES} bytes` }),
  );
  await queue.drained();
  await pool.close();
  return 0;
}

// Exit only after stdout has drained, so the runner reads every progress line.
exitWith(serve(), 'worker');
