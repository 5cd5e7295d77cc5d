import { accessSync, constants, existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { spawnTied } from '../tied-spawn';

/**
 * The ffmpeg binary, most trusted first: `FFMPEG_PATH` when set; otherwise a maintained `ffmpeg` on `PATH` (Debian's
 * package gets security fixes, and it parses untrusted uploads); only then, with a warning, the static build the
 * optional npm package `@ffmpeg-installer/linux-x64` ships (4.1 from 2018, no longer updated).
 */
export function ffmpegPath(env: NodeJS.ProcessEnv = process.env): string {
  // ffmpeg runs without PATH (see spawnFfmpeg), so a bare name is looked up here, once.
  if (env.FFMPEG_PATH) return isAbsolute(env.FFMPEG_PATH) ? env.FFMPEG_PATH : (findOnPath(env.FFMPEG_PATH, env.PATH) ?? env.FFMPEG_PATH);
  const onPath = findOnPath('ffmpeg', env.PATH);
  if (onPath) return onPath;
  const bundled = bundledFfmpeg();
  warnAboutBundledFfmpeg();
  return bundled;
}

let warned = false;

/** Once per process, on stderr: every upload is then parsed by a decoder with years of unfixed security bugs. */
function warnAboutBundledFfmpeg(): void {
  if (warned) return;
  warned = true;
  process.emitWarning(
    'no ffmpeg on PATH: using the static ffmpeg 4.1 from 2018 of the npm package @ffmpeg-installer/linux-x64, ' +
      'which gets no security fixes and parses untrusted uploads. Install a maintained one (Debian: apt-get install ffmpeg) ' +
      'or set FFMPEG_PATH.',
    { code: 'OLD_FFMPEG' },
  );
}

/** The npm static build: the last resort when no maintained ffmpeg is installed (an optional dependency). */
export function bundledFfmpeg(): string {
  const require = createRequire(import.meta.url);
  try {
    return join(dirname(require.resolve('@ffmpeg-installer/linux-x64/package.json')), 'ffmpeg');
  } catch {
    throw new Error('no ffmpeg found: install one (Debian: apt-get install ffmpeg) or set FFMPEG_PATH to an ffmpeg binary');
  }
}

function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    // Relative PATH entries would make the binary depend on the working directory.
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Demuxers an upload may be read with: audio and video containers people send. Everything else (playlists such as
 * HLS or ffconcat that would open other files, image sequences, raw devices) is refused before it is parsed.
 */
const DEMUXERS = [
  'mov,mp4,m4a,3gp,3g2,mj2',
  'matroska,webm',
  'ogg',
  'mp3',
  'wav',
  'w64',
  'flac',
  'aac',
  'aiff',
  'caf',
  'amr',
  'amrnb',
  'amrwb',
  'asf',
  'avi',
  'flv',
  'mpeg',
  'mpegts',
  'ac3',
  'eac3',
  'wv',
  'au',
].join(',');

/**
 * Options that go before `-i` for every untrusted input: no network or other protocols (only the file itself and
 * pipes), only container formats from the list above, no reading from the terminal.
 */
export const untrustedInput = (): string[] => [
  '-nostdin',
  '-hide_banner',
  '-protocol_whitelist',
  'file,pipe',
  '-format_whitelist',
  DEMUXERS,
];

/** Opens `path` as an untrusted input (see `untrustedInput`) and keeps only its first audio track. */
export const firstAudioTrackOf = (path: string): string[] => [
  ...untrustedInput(),
  '-loglevel',
  'error',
  '-i',
  path,
  '-map',
  '0:a:0',
  '-vn',
  '-sn',
  '-dn',
];

/** What one ffmpeg run may use. */
export interface FfmpegBounds {
  /** Address space in bytes (`RLIMIT_AS`): a crafted file cannot make ffmpeg take the machine's memory. */
  memoryBytes: number;
  /** CPU seconds (`RLIMIT_CPU`): bounds the work even when the reader is slow (a decode paced by Whisper). */
  cpuSeconds: number;
  /** Wall-clock limit, for runs nobody paces (a probe). The process is killed when it passes. */
  timeoutMs?: number;
}

/** 1 GiB of address space: Debian's ffmpeg maps about 300 MB of libraries; decoding audio needs little more. */
export const DEFAULT_FFMPEG_MEMORY = 1024 * 1024 * 1024;

const PRLIMIT = '/usr/bin/prlimit';
const canLimit = process.platform === 'linux' && existsSync(PRLIMIT);

/**
 * Spawns ffmpeg within `bounds`, tied to this process (it dies with it). Limits are set by util-linux's `prlimit`
 * before ffmpeg starts; where it is missing the wall-clock limit still applies. The environment is empty: ffmpeg
 * parses untrusted uploads, and a parser bug must not find the service's tokens and keys there (`binary` is an
 * absolute path from `ffmpegPath`, so no PATH is needed).
 */
export function spawnFfmpeg(
  binary: string,
  args: readonly string[],
  bounds: FfmpegBounds,
  stdio: ['ignore', 'pipe' | 'ignore', 'pipe' | 'ignore'] = ['ignore', 'pipe', 'pipe'],
): ChildProcess {
  const command = canLimit ? PRLIMIT : binary;
  const limited = canLimit ? [`--as=${bounds.memoryBytes}`, `--cpu=${bounds.cpuSeconds}`, '--', binary, ...args] : args;
  const child = spawnTied(command, limited, { stdio, env: {} });
  if (bounds.timeoutMs !== undefined) {
    const timer = setTimeout(() => child.kill('SIGKILL'), bounds.timeoutMs);
    child.once('close', () => clearTimeout(timer));
  }
  return child;
}
