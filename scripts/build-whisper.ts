/**
 * Builds whisper.cpp's `whisper-cli` and `whisper-server` from the source the npm package
 * `nodejs-whisper` ships, so `npm ci` alone provides the engine (no download, no system package).
 * Release, into `build/whisper.cpp/`; skipped when a build of the same source and options is already
 * there. `GGML_CUDA=1` in the environment builds the CUDA variant (the GPU image does);
 * `WHISPER_CPU_TARGET=portable` builds CPU code that runs on any x86-64 or arm64 machine (the images do).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Where the whisper.cpp source lives (inside node_modules) and where its build goes. */
export const whisperPaths = {
  source: join(root, 'node_modules', 'nodejs-whisper', 'cpp', 'whisper.cpp'),
  build: join(root, 'build', 'whisper.cpp'),
};

/** Path of a built whisper.cpp program, e.g. `whisperBinary('whisper-cli')`. */
export function whisperBinary(name: 'whisper-cli' | 'whisper-server', buildDir = whisperPaths.build): string {
  return join(buildDir, 'bin', name);
}

/**
 * Which CPUs the CPU code may run on. `native`: tuned for the machine that builds it (a local `npm ci`
 * builds where it runs). `portable`: ggml's CPU backend built once per instruction-set level (SSE4.2 ...
 * AVX-512, AMX), as shared libraries next to the programs; at start ggml loads the best one this CPU
 * supports, so an image built on one host cannot die of an illegal instruction on another.
 */
export type CpuTarget = 'native' | 'portable';

/** The CPU target named by `WHISPER_CPU_TARGET`; unset means native. */
export function cpuTargetFromEnv(value = process.env.WHISPER_CPU_TARGET): CpuTarget {
  if (value === undefined || value === '' || value === 'native') return 'native';
  if (value === 'portable') return 'portable';
  throw new Error(`WHISPER_CPU_TARGET must be native or portable, got ${JSON.stringify(value)}`);
}

/** The cmake flags that decide which CPUs (and GPUs) the build runs on. */
export function targetFlags(target: CpuTarget, cuda: boolean): string[] {
  if (target === 'native' && !cuda) return ['-DBUILD_SHARED_LIBS=OFF'];
  return [
    // Backend variants are loaded at run time, so they must be shared libraries; $ORIGIN lets the programs
    // find them (and libwhisper, libggml) in their own folder wherever the folder is copied.
    '-DBUILD_SHARED_LIBS=ON',
    '-DGGML_BACKEND_DL=ON',
    '-DGGML_CPU_ALL_VARIANTS=ON',
    '-DGGML_NATIVE=OFF',
    '-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON',
    '-DCMAKE_INSTALL_RPATH=$ORIGIN',
  ];
}

export interface BuildResult {
  cli: string;
  server: string;
  skipped: boolean;
  version: string;
}

function run(command: string, args: string[], log: (line: string) => void): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise();
      else {
        log(tail);
        reject(new Error(`${command} ${args[0] ?? ''} exited with ${code}`));
      }
    });
  });
}

async function sourceVersion(source: string): Promise<string> {
  const cmake = await readFile(join(source, 'CMakeLists.txt'), 'utf8');
  return /project\("whisper\.cpp" VERSION ([0-9.]+)\)/.exec(cmake)?.[1] ?? 'unknown';
}

/** Builds the engine unless the stamp says this source version and these options are already built. */
export async function buildWhisper(
  options: {
    source?: string;
    build?: string;
    cuda?: boolean;
    cpu?: CpuTarget;
    jobs?: number;
    log?: (line: string) => void;
  } = {},
): Promise<BuildResult> {
  const source = options.source ?? whisperPaths.source;
  const build = options.build ?? whisperPaths.build;
  const log = options.log ?? ((line: string) => console.error(line));
  const cuda = options.cuda ?? process.env.GGML_CUDA === '1';
  // A CUDA image is built without its GPU and run elsewhere: its CPU side is always portable.
  const cpu = cuda ? 'portable' : (options.cpu ?? cpuTargetFromEnv());
  if (!existsSync(join(source, 'CMakeLists.txt'))) throw new Error(`whisper.cpp source not found at ${source}`);

  const version = await sourceVersion(source);
  const flags = [
    '-DCMAKE_BUILD_TYPE=Release',
    '-DWHISPER_BUILD_TESTS=OFF',
    '-DWHISPER_BUILD_EXAMPLES=ON',
    '-DWHISPER_BUILD_SERVER=ON',
    '-DWHISPER_SDL2=OFF',
    '-DWHISPER_CURL=OFF',
    `-DGGML_CUDA=${cuda ? 'ON' : 'OFF'}`,
    // ggml's tiled matrix kernels (llama.cpp turns them on; whisper.cpp leaves them off). The encoder is almost all
    // matrix products: tiny.en on one thread reads a 1.4 s note 2.3x faster (448 frames: 0.30 to 0.13 CPU s) and a
    // full 30 s window 1.8x faster, with the same text and log-probabilities.
    '-DGGML_LLAMAFILE=ON',
    // A local build is tuned for this CPU (npm ci runs where it will be used). An image is built on one machine
    // and run on another: portable CPU code, and the CUDA architectures of the GPUs it may land on.
    ...targetFlags(cpu, cuda),
    ...(cuda ? [`-DCMAKE_CUDA_ARCHITECTURES=${process.env.CMAKE_CUDA_ARCHITECTURES || '70;75;80;86;89;90'}`] : []),
  ];
  const stamp = createHash('sha256').update(JSON.stringify({ version, flags })).digest('hex').slice(0, 16);
  const stampFile = join(build, 'build-stamp.json');
  const cli = whisperBinary('whisper-cli', build);
  const server = whisperBinary('whisper-server', build);
  if (existsSync(cli) && existsSync(server) && existsSync(stampFile)) {
    const previous = JSON.parse(await readFile(stampFile, 'utf8')) as { stamp?: string };
    if (previous.stamp === stamp) return { cli, server, skipped: true, version };
  }

  const missing = [
    ['cmake', 'cmake'],
    ['c++', 'g++'],
  ].filter(([command]) => spawnSync(command!, ['--version']).status !== 0);
  if (missing.length > 0) {
    const packages = missing.map(([, pkg]) => pkg).join(' ');
    throw new Error(`building whisper.cpp needs ${packages} (Debian/Ubuntu: apt-get install ${packages} make)`);
  }

  await mkdir(build, { recursive: true });
  // Options or source changed: configure from scratch rather than trust a cache made for something else.
  await rm(join(build, 'CMakeCache.txt'), { force: true });
  log(`building whisper.cpp ${version} (${cuda ? 'CUDA, ' : ''}${cpu} CPU code) into ${build}`);
  // Ninja when installed (faster incremental builds); make otherwise. A generator change needs a fresh cache.
  const generator = spawnSync('ninja', ['--version']).status === 0 ? 'Ninja' : 'Unix Makefiles';
  await run('cmake', ['-S', source, '-B', build, '-G', generator, ...flags], log);
  const jobs = options.jobs ?? availableParallelism();
  await run('cmake', ['--build', build, '--config', 'Release', '-j', String(jobs), '--target', 'whisper-cli', 'whisper-server'], log);
  await writeFile(stampFile, JSON.stringify({ stamp, version, flags }, null, 2));
  return { cli, server, skipped: false, version };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  // `tsx scripts/build-whisper.ts [FOLDER]`: a second build beside the default one (benchmarks compare them).
  buildWhisper({ build: process.argv[2] ? resolve(process.argv[2]) : undefined })
    .then((result) => {
      console.error(
        `whisper.cpp ${result.version} ${result.skipped ? 'already built' : `built in ${((Date.now() - started) / 1000).toFixed(0)} s`}: ${result.cli}`,
      );
    })
    .catch((error: unknown) => {
      console.error(`whisper.cpp build failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    });
}
