/**
 * The GPU run's measurement, bundled by pack.ts and run by run.sh: the real worker entry point (bundled too) on the
 * 10-minute clip and the fifty 5 s notes, then bare whisper-cli on the same clip, each timed from spawn to exit.
 * Prints real-time factor and WER beside the CPU figures pack.ts measured on the development machine. Given a second
 * model (large-v3-turbo's shapes, random weights: see turbo-shapes.ts), it then times the worker on the clip with
 * 1, 2, 4, 8 engines sharing the GPU (windows in flight at once) and bare whisper-cli with 1 and 4 parallel states.
 *
 *   node measure.mjs PAYLOAD_DIR WORK_DIR BIN_DIR MODEL [TURBO_MODEL]
 *
 * The payload holds `sets.json` (inputs and the words said), the audio under `blobs/`, `worker.mjs`, ffmpeg, and
 * `cpu.json` (figures from the same worker and files on the CPU). Environment: GPU_ENGINES (1), GPU_THREADS (8),
 * GPU_SETS (`long,notes`; `none` for the turbo part only), GPU_TURBO_ENGINES (`1 2 4 8`), GPU_CLI_PARALLEL (`1 4`).
 */
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
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

const [payload, work, bin, model, turbo] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const engines = process.env.GPU_ENGINES ?? '1';
const threads = process.env.GPU_THREADS ?? '8';

/** Runs a command to its end: seconds from spawn to exit, and what it printed on stdout. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-3000)));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve({ seconds: (performance.now() - started) / 1000, stdout, stderr })
        : reject(new Error(`${command} exited ${code}: ${stderr}`)),
    );
  });
}

async function timed(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return (await run(command, args, env)).seconds;
}

/** The worker's own time for its inputs (the `input` lines' seconds, summed): the job without node and engine start. */
function inputSeconds(stdout: string): number {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { type?: string; seconds?: number })
    .filter((line) => line.type === 'input')
    .reduce((sum, line) => sum + (line.seconds ?? 0), 0);
}

/** Samples the GPU's utilisation every 100 ms while `work` runs: the mean, in percent (undefined without nvidia-smi). */
async function gpuBusy<T>(work: () => Promise<T>): Promise<{ result: T; busy?: number }> {
  const samples: number[] = [];
  const smi = spawn('nvidia-smi', ['--query-gpu=utilization.gpu', '--format=csv,noheader,nounits', '-lms', '100'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  smi.on('error', () => undefined);
  smi.stdout.on('data', (chunk: Buffer) =>
    samples.push(...chunk.toString().split('\n').filter(Boolean).map(Number).filter(Number.isFinite)),
  );
  try {
    return { result: await work(), busy: samples.length ? samples.reduce((a, b) => a + b, 0) / samples.length : undefined };
  } finally {
    smi.kill();
  }
}

const pct = (ratio: number) => `${(ratio * 100).toFixed(1)} %`;

/** The manifest of one set, written where the worker reads it. */
async function manifestFor(set: GpuSet, jobId: string): Promise<string> {
  const manifest = join(work, `${jobId}.json`);
  const inputs = set.files.map(({ key, name }) => ({ key, name }));
  await writeFile(manifest, JSON.stringify({ version: 1, jobId, inputs, options: {} }));
  return manifest;
}

/** What the worker said for each file of a set: its words, and how many files came back with a repeated phrase. */
async function heard(set: GpuSet): Promise<{ wer: number; repeated: number }> {
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
  return { wer: wordErrorRate(set.files.map((file) => file.text).join(' '), said.join(' ')), repeated };
}

/** The worker's environment: the GPU image's settings (flash attention, cut contexts rounded to 256 frames). */
function workerEnv(modelPath: string, engineCount: number, threadsEach: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DATA_DIR: join(work, 'data'),
    STORAGE: 'local',
    WHISPER_MODEL: modelPath,
    WHISPER_SERVER: join(bin, 'whisper-server'),
    FFMPEG_PATH: join(work, 'ffmpeg'),
    WHISPER_ENGINES: String(engineCount),
    WHISPER_FLASH_ATTN: process.env.WHISPER_FLASH_ATTN ?? '1',
    WHISPER_THREADS: String(threadsEach * engineCount),
    LOG_LEVEL: 'warn',
  };
}

async function tinyEn(sets: GpuSet[], cpu: CpuFigures): Promise<void> {
  const env = workerEnv(model, Number(engines), Number(threads));
  const chosen = (process.env.GPU_SETS ?? 'long,notes').split(',');
  console.log(`worker: ${engines} engine(s) x ${threads} threads, model ${model}`);
  console.log(
    'set     files  audio      GPU time   RTF      x real time  own time  WER      repeated | CPU (dev machine) time  WER      repeated',
  );
  for (const set of sets.filter((candidate) => chosen.includes(candidate.name))) {
    const manifest = await manifestFor(set, `gpu-${set.name}`);
    // Once to warm the GPU and the page cache (CUDA context, kernels loaded), then the timed run.
    await timed(process.execPath, [join(payload, 'worker.mjs'), '--manifest', manifest], env);
    const { seconds, stdout } = await run(process.execPath, [join(payload, 'worker.mjs'), '--manifest', manifest], env);
    const { wer, repeated } = await heard(set);
    const ref = cpu.sets[set.name];
    console.log(
      `${set.name.padEnd(7)} ${String(set.files.length).padStart(5)}  ${set.seconds.toFixed(0).padStart(5)} s  ${seconds.toFixed(2).padStart(8)} s  ` +
        `${(seconds / set.seconds).toFixed(4)}  ${(set.seconds / seconds).toFixed(0).padStart(6)}x     ${inputSeconds(stdout).toFixed(2).padStart(6)} s ` +
        `${pct(wer).padStart(7)}  ${String(repeated).padStart(8)} | ` +
        (ref
          ? `${ref.seconds.toFixed(2).padStart(20)} s  ${pct(ref.wer).padStart(7)}  ${String(ref.repeated).padStart(8)}`
          : 'not measured'),
    );
  }
  const long = sets.find((set) => set.name === 'long');
  if (long?.files[0] && chosen.includes('long')) {
    const wav = await longWav(long);
    const args = ['-m', model, '-t', threads, '-bs', '1', '-bo', '1', '-np', '-oj', '-of', join(work, 'cli-long'), '-f', wav];
    await timed(join(bin, 'whisper-cli'), args, process.env);
    const seconds = await timed(join(bin, 'whisper-cli'), args, process.env);
    const json = JSON.parse(await readFile(join(work, 'cli-long.json'), 'utf8')) as { transcription: { text: string }[] };
    const wer = wordErrorRate(long.files[0].text, json.transcription.map((segment) => segment.text).join(' '));
    console.log(
      `bare whisper-cli -bs 1 -bo 1 -t ${threads} on the long clip: ${seconds.toFixed(2)} s  RTF ${(seconds / long.seconds).toFixed(4)}  ` +
        `${(long.seconds / seconds).toFixed(0)}x  WER ${pct(wer)}`,
    );
  }
  console.log(`CPU figures: ${cpu.machine}`);
}

/** whisper-cli reads WAV, not Opus: the long clip, decoded by the same ffmpeg. */
async function longWav(long: GpuSet): Promise<string> {
  const wav = join(work, 'long.wav');
  const source = join(work, 'data', 'blobs', long.files[0]!.key);
  await timed(join(work, 'ffmpeg'), ['-nostdin', '-loglevel', 'error', '-y', '-i', source, '-ar', '16000', '-ac', '1', wav], process.env);
  return wav;
}

/**
 * large-v3-turbo's shapes on the long clip: the worker with several engines sharing the GPU (each engine is one
 * window in flight; the GPU interleaves their kernels), then bare whisper-cli with one and several parallel states
 * (whisper_full_parallel: the audio cut in equal parts, one state each, in one process). Speed only: the weights are
 * random, so there is no WER to read.
 */
async function turboShapes(turboModel: string, long: GpuSet): Promise<void> {
  const cores = availableParallelism();
  console.log(`large-v3-turbo shapes (random weights: speed only), ${long.seconds.toFixed(0)} s clip, ${cores} CPU cores`);
  console.log('engines (windows in flight)  threads each  wall      own time  audio s per GPU s (wall / own)  GPU busy');
  const manifest = await manifestFor(long, 'turbo-long');
  let warmed = false;
  for (const count of (process.env.GPU_TURBO_ENGINES ?? '1 2 4 8').split(' ').filter(Boolean).map(Number)) {
    const threadsEach = Math.max(2, Math.min(Number(threads), Math.floor(cores / count)));
    const env = workerEnv(turboModel, count, threadsEach);
    const worker = [join(payload, 'worker.mjs'), '--manifest', manifest];
    if (!warmed) await timed(process.execPath, worker, env);
    warmed = true;
    const { result, busy } = await gpuBusy(() => run(process.execPath, worker, env));
    const own = inputSeconds(result.stdout);
    console.log(
      `${String(count).padStart(27)}  ${String(threadsEach).padStart(12)}  ${result.seconds.toFixed(2).padStart(6)} s  ${own.toFixed(2).padStart(6)} s  ` +
        `${(long.seconds / result.seconds).toFixed(0).padStart(15)} / ${(long.seconds / own).toFixed(0).padEnd(14)}  ${busy === undefined ? '-' : `${busy.toFixed(0)} %`}`,
    );
  }
  const wav = await longWav(long);
  for (const parallel of (process.env.GPU_CLI_PARALLEL ?? '1 4').split(' ').filter(Boolean)) {
    // -mc 0: no prompt from the previous window, as the worker runs it (the set script assumes a 3-token prompt).
    const args = ['-m', turboModel, '-t', threads, '-p', parallel, '-bs', '1', '-bo', '1', '-mc', '0', '-fa', '-f', wav];
    const { result, busy } = await gpuBusy(() => run(join(bin, 'whisper-cli'), args, process.env));
    console.log(
      `bare whisper-cli -p ${parallel} -bs 1 -bo 1 -mc 0 -fa -t ${threads}: ${result.seconds.toFixed(2)} s, ` +
        `${(long.seconds / result.seconds).toFixed(0)} audio s per GPU s, GPU busy ${busy === undefined ? '-' : `${busy.toFixed(0)} %`}`,
    );
    // whisper.cpp's own split (encoder, decoder, CPU-side mel and sampling): what scales with which part of a GPU.
    const split = result.stderr.split('\n').filter((line) => /(mel|sample|encode|decode|batchd|prompt|total) time/.test(line));
    console.log(split.map((line) => `  ${line.trim()}`).join('\n'));
  }
}

async function main(): Promise<void> {
  const sets = JSON.parse(await readFile(join(payload, 'sets.json'), 'utf8')) as GpuSet[];
  const cpu = JSON.parse(
    await readFile(join(payload, 'cpu.json'), 'utf8').catch(() => '{"machine":"(not measured)","sets":{}}'),
  ) as CpuFigures;
  await cp(join(payload, 'blobs'), join(work, 'data', 'blobs'), { recursive: true });
  if (process.env.GPU_SETS !== 'none') await tinyEn(sets, cpu);
  const long = sets.find((set) => set.name === 'long');
  if (turbo && long) await turboShapes(turbo, long);
}

main().catch((error: unknown) => {
  console.error(`measure: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
