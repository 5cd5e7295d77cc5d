/**
 * The GPU run's measurement, bundled by pack.sh and run by run.sh: the real worker entry point (bundled too) on the
 * 10-minute clip and the fifty 5 s notes, then bare whisper-cli on the same clip, each timed from spawn to exit.
 * Prints real-time factor and WER beside the CPU figures pack.sh measured on the development machine.
 *
 *   node measure.mjs PAYLOAD_DIR WORK_DIR BIN_DIR MODEL
 *
 * The payload holds `sets.json` (inputs and the words said), the audio under `blobs/`, `worker.mjs`, ffmpeg, and
 * `cpu.json` (figures from the same worker and files on the CPU). Environment: GPU_ENGINES (1), GPU_THREADS (8).
 */
import { spawn } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repeatedPhrases, wordErrorRate } from '../../test/support/speech';

export interface GpuSet {
  name: 'notes' | 'long';
  /** Blob keys under `blobs/`, and the words said in each. */
  files: { key: string; name: string; text: string }[];
  seconds: number;
}

export interface CpuFigures {
  machine: string;
  sets: Record<string, { seconds: number; wer: number; repeated: number }>;
}

const [payload, work, bin, model] = process.argv.slice(2) as [string, string, string, string];
const engines = process.env.GPU_ENGINES ?? '1';
const threads = process.env.GPU_THREADS ?? '8';

function timed(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-3000)));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve((performance.now() - started) / 1000) : reject(new Error(`${command} exited ${code}: ${stderr}`)),
    );
  });
}

const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;

async function main(): Promise<void> {
  const sets = JSON.parse(await readFile(join(payload, 'sets.json'), 'utf8')) as GpuSet[];
  const cpu = JSON.parse(
    await readFile(join(payload, 'cpu.json'), 'utf8').catch(() => '{"machine":"(not measured)","sets":{}}'),
  ) as CpuFigures;
  await cp(join(payload, 'blobs'), join(work, 'data', 'blobs'), { recursive: true });
  const env = {
    ...process.env,
    DATA_DIR: join(work, 'data'),
    STORAGE: 'local',
    WHISPER_MODEL: model,
    WHISPER_SERVER: join(bin, 'whisper-server'),
    FFMPEG_PATH: join(work, 'ffmpeg'),
    WHISPER_ENGINES: engines,
    // As the GPU image runs it: flash attention, cut contexts rounded to 256 frames.
    WHISPER_FLASH_ATTN: process.env.WHISPER_FLASH_ATTN ?? '1',
    WHISPER_THREADS: String(Number(threads) * Number(engines)),
    LOG_LEVEL: 'warn',
  };
  console.log(`worker: ${engines} engine(s) x ${threads} threads, model ${model}`);
  console.log('set     files  audio      GPU time   RTF      x real time  WER      repeated | CPU (dev machine) time  WER      repeated');
  for (const set of sets) {
    const manifest = join(work, `${set.name}.json`);
    await writeFile(
      manifest,
      JSON.stringify({ version: 1, jobId: `gpu-${set.name}`, inputs: set.files.map(({ key, name }) => ({ key, name })), options: {} }),
    );
    // Once to warm the GPU and the page cache (CUDA context, kernels loaded), then the timed run.
    await timed(process.execPath, [join(payload, 'worker.mjs'), '--manifest', manifest], env);
    const seconds = await timed(process.execPath, [join(payload, 'worker.mjs'), '--manifest', manifest], env);
    const said: string[] = [];
    let repeated = 0;
    for (const file of set.files) {
      const result = JSON.parse(await readFile(join(work, 'data', 'blobs', `${file.key}_result.json`), 'utf8')) as {
        text?: string;
        error?: unknown;
      };
      if (result.error) throw new Error(`${file.name}: ${JSON.stringify(result.error)}`);
      said.push(result.text ?? '');
      if (repeatedPhrases(file.text, result.text ?? '').length > 0) repeated++;
    }
    const wer = wordErrorRate(set.files.map((file) => file.text).join(' '), said.join(' '));
    const ref = cpu.sets[set.name];
    console.log(
      `${set.name.padEnd(7)} ${String(set.files.length).padStart(5)}  ${set.seconds.toFixed(0).padStart(5)} s  ${seconds.toFixed(2).padStart(8)} s  ` +
        `${(seconds / set.seconds).toFixed(4)}  ${(set.seconds / seconds).toFixed(0).padStart(6)}x     ${pct(wer).padStart(7)}  ${String(repeated).padStart(8)} | ` +
        (ref
          ? `${ref.seconds.toFixed(2).padStart(20)} s  ${pct(ref.wer).padStart(7)}  ${String(ref.repeated).padStart(8)}`
          : 'not measured'),
    );
  }
  const long = sets.find((set) => set.name === 'long');
  if (long?.files[0]) {
    // whisper-cli reads WAV, not Opus: the same audio, decoded by the same ffmpeg.
    const wav = join(work, 'long.wav');
    await timed(
      env.FFMPEG_PATH,
      ['-nostdin', '-loglevel', 'error', '-y', '-i', join(work, 'data', 'blobs', long.files[0].key), '-ar', '16000', '-ac', '1', wav],
      process.env,
    );
    const args = ['-m', model, '-t', threads, '-bs', '1', '-bo', '1', '-np', '-oj', '-of', join(work, 'cli-long'), '-f', wav];
    await timed(join(bin, 'whisper-cli'), args, process.env);
    const seconds = await timed(join(bin, 'whisper-cli'), args, process.env);
    const json = JSON.parse(await readFile(join(work, 'cli-long.json'), 'utf8')) as { transcription: { text: string }[] };
    const wer = wordErrorRate(long.files[0].text, json.transcription.map((segment) => segment.text).join(' '));
    console.log(
      `bare whisper-cli -bs 1 -bo 1 -t ${threads} on the long clip: ${seconds.toFixed(2)} s  RTF ${(seconds / long.seconds).toFixed(4)}  WER ${pct(wer)}`,
    );
  }
  console.log(`CPU figures: ${cpu.machine}`);
}

main().catch((error: unknown) => {
  console.error(`measure: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
