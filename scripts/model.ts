/**
 * `npm run model -- NAME [--base-url URL] [--no-default]`    `npm run model -- --list`
 *
 * Fetches a Whisper ggml model (tiny, base, small, medium, large-v3, large-v3-turbo, their `.en` and quantized
 * variants) into `DATA_DIR/models`, checks its pinned size and hashes, resumes an interrupted download, and makes it
 * the default the worker loads when `WHISPER_MODEL` is unset. `WHISPER_MODEL_BASE_URL` (or `--base-url`) names a
 * mirror of the official repository. Exit 0 done, 1 failed (one line on stderr), 64 bad arguments.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MODELS, UnknownModelError } from '../whisper-container/src/models';
import { exitWith } from '../whisper-container/src/exit';
import { fetchModel } from './fetch-model';

const usage = 'usage: npm run model -- NAME [--base-url URL] [--no-default]   (npm run model -- --list for the names)';

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Progress on stderr: one line redrawn on a terminal, a line per tenth otherwise (logs, CI). */
function progressPrinter(file: string): (done: number, total: number) => void {
  const tty = process.stderr.isTTY;
  const started = Date.now();
  let lastDraw = 0;
  let lastTenth = -1;
  return (done, total) => {
    const now = Date.now();
    const tenth = Math.floor((done / total) * 10);
    if (tty ? now - lastDraw < 250 && done < total : tenth === lastTenth) return;
    lastDraw = now;
    lastTenth = tenth;
    const rate = done / Math.max(0.001, (now - started) / 1000);
    const line = `${file}: ${((done / total) * 100).toFixed(0).padStart(3)} %  ${mb(done)} of ${mb(total)}  ${mb(rate)}/s`;
    process.stderr.write(tty ? `\r${line}${done >= total ? '\n' : ''}` : `${line}\n`);
  };
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      allowPositionals: true,
      options: {
        'base-url': { type: 'string' },
        'no-default': { type: 'boolean', default: false },
        list: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
    return 64;
  }
  if (args.values.list) {
    for (const [name, spec] of MODELS)
      process.stdout.write(`${name.padEnd(22)} ${mb(spec.bytes).padStart(10)}  ${spec.englishOnly ? 'English only' : 'multilingual'}\n`);
    return 0;
  }
  if (args.positionals.length !== 1) {
    process.stderr.write(`${usage}\n`);
    return 64;
  }
  const name = args.positionals[0]!;
  if (!MODELS.has(name)) {
    process.stderr.write(`${new UnknownModelError(name).message}\n`);
    return 64;
  }
  const modelsDir = join(process.env.DATA_DIR || './data', 'models');
  const spec = MODELS.get(name)!;
  const model = await fetchModel({
    name,
    modelsDir,
    baseUrl: args.values['base-url'] || process.env.WHISPER_MODEL_BASE_URL || undefined,
    makeDefault: !args.values['no-default'],
    onProgress: progressPrinter(spec.file),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(
    `${model.skipped ? 'already in place and verified' : 'fetched and verified'}: ${model.path}` +
      `${args.values['no-default'] ? '' : ` (now the default; WHISPER_MODEL overrides it)`}\n`,
  );
  return 0;
}

exitWith(main(), 'model');
