import { spawnTied } from '../../src/tied-spawn';
import { InputError } from './errors';
import { ffmpegPath } from '../../src/media/ffmpeg';
import type { ContainerGuess } from './sniff';

/** Whisper's input: 16 kHz mono. Samples are signed 16-bit little-endian, half the memory of float. */
export const SAMPLE_RATE = 16_000;
export const BYTES_PER_SAMPLE = 2;

/** ffmpeg's words for "this file has no audio track" (an image, a silent video, a subtitle file). */
const NO_AUDIO = /matches no streams|does not contain any stream|Output file #0 does not contain/i;

/**
 * Decodes the first audio track of `path` to 16 kHz mono s16le, yielding chunks as ffmpeg produces them.
 * The consumer's pace is ffmpeg's pace (pipe back-pressure), so a 4-hour file never sits in memory.
 * Throws `InputError` (`not_audio` or `corrupt`, decided with the sniffed container) when ffmpeg refuses.
 */
export async function* decodePcm(
  path: string,
  options: { container: ContainerGuess; ffmpeg?: string; maxSeconds?: number },
): AsyncGenerator<Buffer> {
  const child = spawnTied(
    options.ffmpeg ?? ffmpegPath(),
    [
      '-nostdin',
      '-hide_banner',
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
      '-f',
      's16le',
      'pipe:1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
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
  let bytes = 0;
  let finished = false;
  try {
    for await (const chunk of child.stdout! as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > limit) throw new InputError('too_long', `The audio is longer than ${Math.round(options.maxSeconds! / 60)} minutes.`);
      yield chunk;
    }
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
