/**
 * Prepares what the GPU run carries (whisper-container/gpu/payload, under 64 MiB): the audio sets and the words
 * said in them, the worker and the measurement bundled into one file each, node, ffmpeg, the tiny.en model and
 * whisper.cpp's source (xz), and the CPU figures of the same worker on the same files on this machine.
 *
 *   npx tsx whisper-container/gpu/pack.ts          (GPU_PACK_CPU=0 skips the CPU measurement)
 */
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ffmpegPath } from '../../src/media/ffmpeg';
import { engine, repoRoot } from '../test/support/engine';
import { ffmpeg } from '../test/support/speech';
import { longSet, noteSet } from '../test/support/speech-sets';
import { repeatedPhrases, wordErrorRate } from '../test/support/speech';
import type { CpuFigures, GpuSet } from './measure';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const payload = join(here, 'payload');
const LIMIT = 64 * 1024 * 1024;

/** `xz -9e` of a file into the payload: node, ffmpeg and the model travel compressed and unpack on the GPU machine. */
function xz(source: string, target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('xz', ['-9e', '-T0', '-c', source], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.pipe(createWriteStream(target));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`xz ${source} exited ${code}`))));
  });
}

async function bundle(entry: string, out: string): Promise<void> {
  // One file with every dependency inside, so the GPU machine needs no node_modules.
  await run(join(repoRoot, 'node_modules', '.bin', 'esbuild'), [
    entry, '--bundle', '--platform=node', '--format=esm', '--target=node20', '--minify', `--outfile=${out}`,
    '--banner:js=import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);',
  ]);
}

async function cpuFigures(sets: GpuSet[], blobs: string): Promise<CpuFigures> {
  const figures: CpuFigures = { machine: `${hostname()}, worker with 2 single-threaded engines, load average ${loadavg()[0]!.toFixed(1)}`, sets: {} };
  for (const set of sets) {
    const manifest = join(payload, `${set.name}-cpu.json`);
    await writeFile(manifest, JSON.stringify({ version: 1, jobId: `cpu-${set.name}`, inputs: set.files.map(({ key, name }) => ({ key, name })), options: {} }));
    const started = performance.now();
    await run(process.execPath, ['--import', 'tsx', 'whisper-container/src/main.ts', '--manifest', manifest], {
      cwd: repoRoot,
      env: { ...process.env, DATA_DIR: dirname(blobs), STORAGE: 'local', WHISPER_MODEL: engine.model, WHISPER_THREADS: '2', LOG_LEVEL: 'warn' },
    });
    const seconds = (performance.now() - started) / 1000;
    const said: string[] = [];
    let repeated = 0;
    for (const file of set.files) {
      const key = `${file.key}_result.json`;
      const text = (JSON.parse(await readFile(join(blobs, key), 'utf8')) as { text: string }).text;
      await rm(join(blobs, key));
      said.push(text);
      if (repeatedPhrases(file.text, text).length) repeated++;
    }
    await rm(manifest);
    figures.sets[set.name] = { seconds, wer: wordErrorRate(set.files.map((file) => file.text).join(' '), said.join(' ')), repeated };
    console.log(`CPU ${set.name}: ${seconds.toFixed(2)} s, WER ${(figures.sets[set.name]!.wer * 100).toFixed(1)} %, repeated ${repeated}`);
  }
  figures.machine += ` -> ${loadavg()[0]!.toFixed(1)}`;
  return figures;
}

async function main(): Promise<void> {
  await rm(payload, { recursive: true, force: true });
  const blobs = join(payload, 'blobs');
  await mkdir(blobs, { recursive: true });

  // Audio: the notes as voice notes (ogg/opus), the long clip as ogg/opus too (1.8 MB instead of 19 MB of WAV).
  const notes = await noteSet(join(payload, 'tmp', 'notes'));
  const long = (await longSet(join(payload, 'tmp', 'long')))[0]!;
  await mkdir(join(blobs, 'notes'), { recursive: true });
  await mkdir(join(blobs, 'long'), { recursive: true });
  const noteFiles = [];
  for (const note of notes) {
    await ffmpeg(['-i', note.path, '-c', 'copy', join(blobs, 'notes', note.name)]);
    noteFiles.push({ key: `notes/${note.name}`, name: note.name, text: note.text });
  }
  await ffmpeg(['-i', long.path, '-c:a', 'libopus', '-b:a', '24k', join(blobs, 'long', 'long.ogg')]);
  const longSeconds = (await stat(long.path)).size / 32000;
  await rm(join(payload, 'tmp'), { recursive: true, force: true });
  const sets: GpuSet[] = [
    { name: 'long', files: [{ key: 'long/long.ogg', name: 'long.ogg', text: long.text }], seconds: longSeconds },
    { name: 'notes', files: noteFiles, seconds: notes.length * 5 },
  ];
  await writeFile(join(payload, 'sets.json'), JSON.stringify(sets, null, 1));
  if (process.env.GPU_PACK_CPU !== '0') await writeFile(join(payload, 'cpu.json'), JSON.stringify(await cpuFigures(sets, blobs), null, 1));

  await bundle(join(repoRoot, 'whisper-container', 'src', 'main.ts'), join(payload, 'worker.mjs'));
  await bundle(join(here, 'measure.ts'), join(payload, 'measure.mjs'));
  await xz(process.execPath, join(payload, 'node.xz'));
  await xz(ffmpegPath(), join(payload, 'ffmpeg.xz'));
  await xz(engine.model, join(payload, 'model.xz'));
  // The engine's source as npm ships it, minus what a CUDA build of whisper-cli and whisper-server never reads.
  const source = join(repoRoot, 'node_modules', 'nodejs-whisper', 'cpp');
  await run('tar', [
    '-cJf', join(payload, 'whisper.cpp.tar.xz'), '-C', source,
    '--exclude=whisper.cpp/bindings', '--exclude=whisper.cpp/models/*.py', '--exclude=whisper.cpp/samples', '--exclude=whisper.cpp/tests',
    '--exclude=whisper.cpp/ggml/src/ggml-vulkan', '--exclude=whisper.cpp/ggml/src/ggml-sycl', '--exclude=whisper.cpp/ggml/src/ggml-metal',
    '--exclude=whisper.cpp/ggml/src/ggml-cann', '--exclude=whisper.cpp/ggml/src/ggml-opencl', '--exclude=whisper.cpp/ggml/src/ggml-musa',
    '--exclude=whisper.cpp/ggml/src/ggml-webgpu', '--exclude=whisper.cpp/ggml/src/ggml-zdnn', '--exclude=whisper.cpp/ggml/src/ggml-hexagon',
    '--exclude=whisper.cpp/ggml/src/ggml-openvino', '--exclude=whisper.cpp/ggml/src/ggml-virtgpu', '--exclude=whisper.cpp/ggml/src/ggml-zendnn',
    '--exclude=whisper.cpp/examples/talk-llama', '--exclude=whisper.cpp/examples/whisper.android*', '--exclude=whisper.cpp/examples/*.wasm',
    '--exclude=whisper.cpp/examples/*/public', '--exclude=whisper.cpp/media', 'whisper.cpp',
  ]);
  await writeFile(join(payload, 'model.sha256'), `${(await run('sha256sum', [engine.model])).stdout.split(' ')[0]}\n`);

  const { stdout } = await run('du', ['-sb', payload]);
  const bytes = Number(stdout.split('\t')[0]);
  console.log(`payload ${relative(repoRoot, payload)}: ${(bytes / 1048576).toFixed(1)} MiB (limit 64 MiB)`);
  if (bytes > LIMIT) throw new Error('payload is over the 64 MiB a GPU run carries');
}

main().catch((error: unknown) => {
  console.error(`pack: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
