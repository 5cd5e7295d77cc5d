import { InputError } from './errors';
import { DEFAULT_FFMPEG_MEMORY, ffmpegPath, spawnFfmpeg, untrustedInput } from '../../src/media/ffmpeg';
import type { ContainerGuess } from './sniff';

/** Whisper's input: 16 kHz mono. Samples are signed 16-bit little-endian, half the memory of float. */
export const SAMPLE_RATE = 16_000;
export const BYTES_PER_SAMPLE = 2;

/** ffmpeg's words for "this file has no audio track" (an image, a silent video, a subtitle file). */
const NO_AUDIO = /matches no streams|does not contain any stream|Output file #0 does not contain/i;

/**
 * Audio past the charged seconds that is still passed on rather than called a cut: the service measured the same
 * file with the same decoder, so a genuine file differs by milliseconds, never by this much.
 */
const CUT_TOLERANCE_SECONDS = 0.5;

/** CPU seconds one decode may use: a 4-hour opus file takes well under a minute; the rest is a crafted file. */
const DECODE_CPU_SECONDS = 1800;

export interface DecodeOptions {
  container: ContainerGuess;
  ffmpeg?: string;
  /** Longer audio stops decoding and fails with `too_long`. */
  maxSeconds?: number;
  /**
   * The seconds charged for this input: decoding stops there, whatever the file's headers claim, and `onCut` is
   * called with them when the audio went on past them.
   */
  chargedSeconds?: number;
  onCut?: (seconds: number) => void;
}

/**
 * Decodes the first audio track of `path` to 16 kHz mono s16le, yielding chunks as ffmpeg produces them.
 * The consumer's pace is ffmpeg's pace (pipe back-pressure), so a 4-hour file never sits in memory.
 * Throws `InputError` (`not_audio` or `corrupt`, decided with the sniffed container) when ffmpeg refuses.
 */
export async function* decodePcm(path: string, options: DecodeOptions): AsyncGenerator<Buffer> {
  const charged = options.chargedSeconds;
  // ffmpeg stops on its own shortly after the charge: `-t` counted in samples (asetpts, as the service measured), not
  // in the file's timestamps. The byte count below is what holds in any case.
  const stop = charged === undefined ? [] : ['-af', 'asetpts=N/SR/TB', '-t', String(charged + 1)];
  const child = spawnFfmpeg(
    options.ffmpeg ?? ffmpegPath(),
    [
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
      '-ac',
      '1',
      '-ar',
      String(SAMPLE_RATE),
      ...stop,
      '-f',
      's16le',
      'pipe:1',
    ],
    { memoryBytes: DEFAULT_FFMPEG_MEMORY, cpuSeconds: DECODE_CPU_SECONDS },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  const limit = options.maxSeconds === undefined ? Number.POSITIVE_INFINITY : options.maxSeconds * SAMPLE_RATE * BYTES_PER_SAMPLE;
  const capBytes = charged === undefined ? Number.POSITIVE_INFINITY : Math.round(charged * SAMPLE_RATE) * BYTES_PER_SAMPLE;
  const toleranceBytes = Math.round(CUT_TOLERANCE_SECONDS * SAMPLE_RATE) * BYTES_PER_SAMPLE;
  // Samples past the charge, held back until it is known whether they are a rounding hair or a cut.
  let held: Buffer[] = [];
  let bytes = 0;
  let finished = false;
  try {
    for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
      const before = bytes;
      bytes += chunk.length;
      if (bytes > limit) throw new InputError('too_long', `The audio is longer than ${Math.round(options.maxSeconds! / 60)} minutes.`);
      if (bytes <= capBytes) {
        yield chunk;
        continue;
      }
      if (before < capBytes) yield chunk.subarray(0, capBytes - before);
      if (bytes > capBytes + toleranceBytes) {
        // More audio than was paid for: transcribe the charged part only, and say so.
        options.onCut?.(charged!);
        return;
      }
      held.push(before < capBytes ? chunk.subarray(capBytes - before) : chunk);
    }
    for (const rest of held) yield rest;
    held = [];
    const code = await exited;
    finished = true;
    if (code !== 0) throw classify(stderr, options.container);
    if (bytes < BYTES_PER_SAMPLE) {
      throw options.container
        ? new InputError('corrupt', 'The file looks like audio but no sound could be decoded from it.')
        : new InputError('not_audio', 'The file is not audio or video.');
    }
  } finally {
    // Stopped early (too long, consumer gave up): do not leave ffmpeg running.
    if (!finished && child.exitCode === null) child.kill('SIGKILL');
  }
}

function classify(stderr: string, container: ContainerGuess): InputError {
  if (!container) return new InputError('not_audio', 'The file is not audio or video.');
  if (NO_AUDIO.test(stderr)) return new InputError('not_audio', 'The file has no audio track.');
  return new InputError('corrupt', 'The file is damaged or incomplete and could not be decoded.');
}
