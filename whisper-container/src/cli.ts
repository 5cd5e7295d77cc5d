/**
 * `npm run transcribe -- FILE... [--format txt|srt|vtt|json] [--language CODE] [--translate]`
 *
 * Transcribes local files with the worker the service runs (same runJob, engine and model), prints each
 * transcript and writes `NAME_result.json` beside each input. A file that cannot be transcribed gets one line on
 * stderr; the exit status is 1 when any file failed, after all the others are done.
 */
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { isTranscriptFormat, renderTranscript, type TranscriptFormat } from '../../src/formats';
import { isFailure, type ResultFile } from '../../src/domain/transcript';
import { resultKey } from '../../src/ports/runner';
import { missingEngineParts, modelName, threadsPerEngine, workerConfig } from './config';
import { ServerEngine } from './engine';
import { exitWith } from './exit';
import { runJob } from './job';
import { isWhisperLanguage } from './languages';
import { workerLogger } from './log';
import { PathBlobStore } from './path-store';

const usage = 'usage: npm run transcribe -- FILE... [--format txt|srt|vtt|json] [--language CODE|auto] [--translate]';

/** `voice.ogg` -> `voice_result.json` in the same folder. */
export function resultPathFor(file: string): string {
  const name = basename(file, extname(file)) || basename(file);
  return join(dirname(file), `${name}_result.json`);
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      allowPositionals: true,
      options: {
        format: { type: 'string', default: 'txt' },
        language: { type: 'string' },
        translate: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    return 64;
  }
  const { values, positionals } = args;
  if (values.help || positionals.length === 0) {
    process.stderr.write(`${usage}\n`);
    return values.help ? 0 : 64;
  }
  const format = values.format!;
  if (!isTranscriptFormat(format)) {
    process.stderr.write(`unknown format ${JSON.stringify(format)}\n${usage}\n`);
    return 64;
  }
  if (values.language && !isWhisperLanguage(values.language)) {
    process.stderr.write(`unknown language code ${JSON.stringify(values.language)}\n${usage}\n`);
    return 64;
  }

  const config = workerConfig();
  const missing = missingEngineParts(config);
  if (missing) {
    process.stderr.write(`${missing}\n`);
    return 1;
  }

  // Keys are positions, so any file name works; results map to NAME_result.json beside each input.
  const files = positionals.map((file) => resolve(file));
  const paths = new Map<string, string>();
  const inputs = files.map((file, index) => {
    const key = `input-${index}`;
    paths.set(key, file);
    paths.set(resultKey(key), resultPathFor(file));
    return { key, name: basename(file) };
  });
  const store = new PathBlobStore(paths);
  const log = workerLogger(process.env.LOG_LEVEL ?? 'warn');

  let failed = 0;
  await runJob({ version: 1, jobId: 'cli', inputs, options: { language: values.language, translate: values.translate } }, store, {
    startEngine: () => ServerEngine.start({ binary: config.serverBinary, model: config.model, threads: threadsPerEngine(config), log }),
    engines: config.engines,
    model: modelName(config.model),
    log,
    ffmpeg: config.ffmpeg,
    // Print each transcript as soon as it is done: a long batch shows progress file by file.
    onInput: (report, result) => {
      const file = positionals[inputs.findIndex((input) => input.key === report.key)]!;
      if (isFailure(result)) {
        failed++;
        process.stderr.write(`${file}: ${result.error.message}\n`);
      } else printResult(file, result, format, positionals.length > 1);
    },
  });
  return failed === 0 ? 0 : 1;
}

function printResult(file: string, result: Exclude<ResultFile, { error: unknown }>, format: TranscriptFormat, header: boolean): void {
  if (header) process.stdout.write(`==> ${file} <==\n`);
  if (result.noSpeech && format === 'txt') process.stdout.write('(no speech)\n');
  else process.stdout.write(renderTranscript(result, format));
  if (header) process.stdout.write('\n');
}

exitWith(main(), 'transcribe');
