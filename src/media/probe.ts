import { open } from 'node:fs/promises';
import { DEFAULT_FFMPEG_MEMORY, ffmpegPath, firstAudioTrackOf, spawnFfmpeg, untrustedInput } from './ffmpeg';
import { oggOpusSeconds } from './opus-length';

/**
 * What intake needs to know about a stored file. `duration` is the length of its first audio track as decoded, in
 * seconds; `null` means there is no audio we can decode. `tooLong` means the decode passed `maxSeconds` and was
 * stopped there, so `duration` is only a lower bound.
 */
export interface Probe {
  duration: number | null;
  tooLong?: boolean;
  /** A video that decodes but has no audio stream at all (a screen recording without sound); `duration` is null. */
  noSound?: boolean;
  /** The decode ran out of time (`timeoutMs`) before it finished; `duration` is null. */
  timedOut?: boolean;
}

export interface ProbeOptions {
  /** Longer audio is not decoded to its end: the probe stops just past this and says `tooLong`. */
  maxSeconds: number;
  ffmpeg?: string;
  /** Wall-clock bound (default 5 minutes). */
  timeoutMs?: number;
}

const PROBE_TIMEOUT_MS = 300_000;

/** Ogg files up to this size are counted in memory; a voice note is a few dozen KB. */
const COUNTED_OGG_BYTES = 8 * 1024 * 1024;

/**
 * Measures a file's length as decoding it yields. A plain Ogg/Opus file (voice notes) is counted from its packets in
 * process, which gives the same figure as decoding without starting ffmpeg; everything else is decoded.
 */
export async function probeFile(path: string, options: ProbeOptions): Promise<Probe> {
  const counted = await countedOpus(path);
  if (counted === undefined) return decodeProbe(path, options);
  if (counted <= 0) return { duration: null };
  return counted > options.maxSeconds ? { duration: counted, tooLong: true } : { duration: counted };
}

async function countedOpus(path: string): Promise<number | undefined> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size < 4 || size > COUNTED_OGG_BYTES) return undefined;
    const data = Buffer.alloc(size);
    await handle.read(data, 0, size, 0);
    return data.toString('latin1', 0, 4) === 'OggS' ? oggOpusSeconds(data) : undefined;
  } finally {
    await handle.close();
  }
}

/**
 * Measures a file by decoding its first audio track to nothing and counting what came out. Container headers
 * (an MP3's Xing frame count, Ogg granule positions, MP4's `mvhd`/`mdhd`, WAV sizes) and the durations platforms
 * pass on from the sender's client can all lie; the samples a decoder produces are what the worker will
 * transcribe, so they are what is charged. `asetpts=N/SR/TB` restamps every frame from the number of samples
 * before it, so even forged timestamps cannot shrink the figure. The decode stops one second past `maxSeconds`.
 */
export function decodeProbe(path: string, options: ProbeOptions): Promise<Probe> {
  const stopAt = options.maxSeconds + 1;
  const args = [
    ...firstAudioTrackOf(path),
    '-af',
    'asetpts=N/SR/TB',
    '-t',
    String(stopAt),
    '-f',
    'null',
    '-progress',
    'pipe:1',
    '-nostats',
    '-',
  ];
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawnFfmpeg(options.ffmpeg ?? ffmpegPath(), args, {
      memoryBytes: DEFAULT_FFMPEG_MEMORY,
      cpuSeconds: Math.ceil((options.timeoutMs ?? PROBE_TIMEOUT_MS) / 1000),
      timeoutMs: options.timeoutMs ?? PROBE_TIMEOUT_MS,
    });
    let progress = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      // Only the last block matters; keep the tail so a long decode's progress reports cannot grow without bound.
      progress = (progress + chunk).slice(-4000);
    });
    let errors = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      errors = (errors + chunk).slice(-4000);
    });
    child.on('error', () => resolve({ duration: null }));
    child.on('close', (code) => {
      const seconds = finalTime(progress);
      // The container opened but holds no audio stream: a video without sound, if a picture decodes from it.
      if (code !== 0 && /matches no streams/.test(errors)) {
        void decodesVideo(path, options).then((video) => resolve(video ? { duration: null, noSound: true } : { duration: null }));
        return;
      }
      // Killed at the wall-clock limit: the file may be fine, only its measuring ran out of time.
      if (code !== 0 && Date.now() - started >= timeoutMs) return resolve({ duration: null, timedOut: true });
      if (code !== 0 || !/progress=end/.test(progress) || seconds === null || seconds <= 0) return resolve({ duration: null });
      if (seconds > options.maxSeconds) return resolve({ duration: seconds, tooLong: true });
      resolve({ duration: seconds });
    });
  });
}

/** Whether one frame of the file's first video stream decodes, within the probe's bounds. */
function decodesVideo(path: string, options: ProbeOptions): Promise<boolean> {
  const args = [...untrustedInput(), '-loglevel', 'error', '-i', path, '-map', '0:v:0', '-frames:v', '1', '-f', 'null', '-'];
  return new Promise((resolve) => {
    const child = spawnFfmpeg(
      options.ffmpeg ?? ffmpegPath(),
      args,
      {
        memoryBytes: DEFAULT_FFMPEG_MEMORY,
        cpuSeconds: Math.ceil((options.timeoutMs ?? PROBE_TIMEOUT_MS) / 1000),
        timeoutMs: options.timeoutMs ?? PROBE_TIMEOUT_MS,
      },
      ['ignore', 'ignore', 'ignore'],
    );
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

/** The last `out_time_us` (or the older builds' misnamed `out_time_ms`, also microseconds) of ffmpeg's progress output. */
function finalTime(progress: string): number | null {
  const matches = [...progress.matchAll(/^out_time_(?:us|ms)=(\d+)$/gm)];
  const last = matches.at(-1);
  return last ? Number(last[1]) / 1e6 : null;
}
