/**
 * Prepares what the GPU run carries, in two parts because together they exceed the 64 MiB one call carries:
 *   payload/a  the tiny.en model and whisper.cpp's source (xz): the build step          (about 34 MiB)
 *   payload/b  node, ffmpeg (xz), the worker, the measurement and the large-v3-turbo-shaped model's generator
 *              bundled into one file each, the audio sets and the words said in them, and the CPU figures of the
 *              same worker on the same files here                                                  (about 45 MiB)
 *
 *   npx tsx whisper-container/gpu/pack.ts   (GPU_PACK_CPU=0 skips the CPU measurement; GPU_PACK_XZ=-1 packs fast
 *                                           but too big to carry, for trying the run on a CPU)
 */
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bundledFfmpeg } from '../../src/media/ffmpeg';
import { engine, repoRoot } from '../../test/support/engine';
import { ffmpeg } from '../../test/support/speech';
import { longSet, noteSet } from '../../test/support/speech-sets';
import { repeatedPhrases, wordErrorRate } from '../../test/support/speech';
import type { CpuFigures, GpuSet } from './measure';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const payload = join(here, 'payload');
const partA = join(payload, 'a');
const partB = join(payload, 'b');
const LIMIT = 64 * 1024 * 1024;

/** `xz -9e` of a file into the payload: node, ffmpeg and the model travel compressed and unpack on the GPU machine. */
function xz(source: string, target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('xz', [process.env.GPU_PACK_XZ || '-9e', '-T0', '-c', source], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.pipe(createWriteStream(target));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`xz ${source} exited ${code}`))));
  });
}

async function bundle(entry: string, out: string): Promise<void> {
  // One file with every dependency inside, so the GPU machine needs no node_modules.
  await run(join(repoRoot, 'node_modules', '.bin', 'esbuild'), [
    entry,
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--target=node20',
    '--minify',
    `--outfile=${out}`,
    '--banner:js=import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);',
  ]);
}

async function cpuFigures(sets: GpuSet[], blobs: string): Promise<CpuFigures> {
  const figures: CpuFigures = {
    machine: `${hostname()}, worker with 2 single-threaded engines, load average ${loadavg()[0]!.toFixed(1)}`,
    sets: {},
  };
  for (const set of sets) {
    const manifest = join(partB, `${set.name}-cpu.json`);
    await writeFile(
      manifest,
      JSON.stringify({ version: 1, jobId: `cpu-${set.name}`, inputs: set.files.map(({ key, name }) => ({ key, name })), options: {} }),
    );
    const started = performance.now();
    await run(process.execPath, ['--import', 'tsx', 'whisper-container/src/main.ts', '--manifest', manifest], {
      cwd: repoRoot,
      env: {
        ...process.env,
        DATA_DIR: dirname(blobs),
        STORAGE: 'local',
        WHISPER_MODEL: engine.model,
        WHISPER_THREADS: '2',
        LOG_LEVEL: 'warn',
      },
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
  await mkdir(partA, { recursive: true });
  const blobs = join(partB, 'blobs');
  await mkdir(blobs, { recursive: true });

  // Audio: the notes as voice notes (ogg/opus), the long clip as ogg/opus too (1.8 MB instead of 19 MB of WAV).
  const notes = await noteSet(join(partB, 'tmp', 'notes'));
  const long = (await longSet(join(partB, 'tmp', 'long')))[0]!;
  await mkdir(join(blobs, 'notes'), { recursive: true });
  await mkdir(join(blobs, 'long'), { recursive: true });
  const noteFiles = [];
  for (const note of notes) {
    await ffmpeg(['-i', note.path, '-c', 'copy', join(blobs, 'notes', note.name)]);
    noteFiles.push({ key: `notes/${note.name}`, name: note.name, text: note.text });
  }
  await ffmpeg(['-i', long.path, '-c:a', 'libopus', '-b:a', '24k', join(blobs, 'long', 'long.ogg')]);
  const longSeconds = (await stat(long.path)).size / 32000;
  await rm(join(partB, 'tmp'), { recursive: true, force: true });
  const sets: GpuSet[] = [
    { name: 'long', files: [{ key: 'long/long.ogg', name: 'long.ogg', text: long.text }], seconds: longSeconds },
    { name: 'notes', files: noteFiles, seconds: notes.length * 5 },
  ];
  await writeFile(join(partB, 'sets.json'), JSON.stringify(sets, null, 1));
  if (process.env.GPU_PACK_CPU !== '0') await writeFile(join(partB, 'cpu.json'), JSON.stringify(await cpuFigures(sets, blobs), null, 1));

  await bundle(join(repoRoot, 'whisper-container', 'src', 'main.ts'), join(partB, 'worker.mjs'));
  await bundle(join(here, 'measure.ts'), join(partB, 'measure.mjs'));
  await bundle(join(here, 'turbo-shapes.ts'), join(partB, 'turbo-shapes.mjs'));
  await xz(process.execPath, join(partB, 'node.xz'));
  // The npm static build: a distribution's ffmpeg links about 200 libraries the GPU machine does not have.
  await xz(bundledFfmpeg(), join(partB, 'ffmpeg.xz'));
  await xz(engine.model, join(partA, 'model.xz'));
  // The engine's source as npm ships it, minus what a CUDA build of whisper-cli and whisper-server never reads.
  const source = join(repoRoot, 'node_modules', 'nodejs-whisper', 'cpp');
  await run('tar', [
    '-cJf',
    join(partA, 'whisper.cpp.tar.xz'),
    '-C',
    source,
    '--exclude=whisper.cpp/bindings',
    '--exclude=whisper.cpp/models/*.py',
    '--exclude=whisper.cpp/samples',
    '--exclude=whisper.cpp/tests',
    '--exclude=whisper.cpp/ggml/src/ggml-vulkan',
    '--exclude=whisper.cpp/ggml/src/ggml-sycl',
    '--exclude=whisper.cpp/ggml/src/ggml-metal',
    '--exclude=whisper.cpp/ggml/src/ggml-cann',
    '--exclude=whisper.cpp/ggml/src/ggml-opencl',
    '--exclude=whisper.cpp/ggml/src/ggml-musa',
    '--exclude=whisper.cpp/ggml/src/ggml-webgpu',
    '--exclude=whisper.cpp/ggml/src/ggml-zdnn',
    '--exclude=whisper.cpp/ggml/src/ggml-hexagon',
    '--exclude=whisper.cpp/ggml/src/ggml-openvino',
    '--exclude=whisper.cpp/ggml/src/ggml-virtgpu',
    '--exclude=whisper.cpp/ggml/src/ggml-zendnn',
    '--exclude=whisper.cpp/examples/talk-llama',
    '--exclude=whisper.cpp/examples/whisper.android*',
    '--exclude=whisper.cpp/examples/*.wasm',
    '--exclude=whisper.cpp/examples/*/public',
    '--exclude=whisper.cpp/media',
    'whisper.cpp',
  ]);
  await writeFile(join(partA, 'model.sha256'), `${(await run('sha256sum', [engine.model])).stdout.split(' ')[0]}\n`);

  for (const part of [partA, partB]) {
    const bytes = Number((await run('du', ['-sb', part])).stdout.split('\t')[0]);
    console.log(`${relative(repoRoot, part)}: ${(bytes / 1048576).toFixed(1)} MiB (one call carries at most 64 MiB)`);
    if (bytes > LIMIT)
      console.log(`  ${part} is over the 64 MiB a GPU run carries${process.env.GPU_PACK_XZ ? ' (GPU_PACK_XZ is set)' : ''}`);
    if (bytes > LIMIT && !process.env.GPU_PACK_XZ) process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(`pack: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
