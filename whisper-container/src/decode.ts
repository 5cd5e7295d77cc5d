import { open } from 'node:fs/promises';
import { InputError } from './errors';
import { DEFAULT_FFMPEG_MEMORY, ffmpegPath, firstAudioTrackOf, spawnFfmpeg } from '../../src/media/ffmpeg';
import { decodeOggOpus, IN_PROCESS_OPUS_BYTES, isOggOpus } from './opus-pcm';
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
 * Decodes the first audio track of `path` to 16 kHz mono s16le, yielding chunks as they are produced. An Ogg/Opus
 * voice note is decoded in this process (`opus-pcm.ts`); anything else streams through ffmpeg, whose pace is the
 * consumer's (pipe back-pressure), so a 4-hour file never sits in memory. Throws `InputError` (`not_audio` or
 * `corrupt`, decided with the sniffed container) when the audio cannot be decoded.
 */
export async function* decodePcm(path: string, options: DecodeOptions): AsyncGenerator<Buffer> {
  const limits = new PcmLimits(options);
  const voiceNote = options.container === 'ogg' ? await decodeVoiceNote(path, limits.maxSamples) : undefined;
  if (voiceNote) {
    yield* limits.apply(chunked(voiceNote));
    limits.checkNotEmpty();
    return;
  }
  const charged = options.chargedSeconds;
  // ffmpeg stops on its own shortly after the charge: `-t` counted in samples (asetpts, as the service measured), not
  // in the file's timestamps. The byte count in PcmLimits is what holds in any case.
  const stop = charged === undefined ? [] : ['-af', 'asetpts=N/SR/TB', '-t', String(charged + 1)];
  const child = spawnFfmpeg(
    options.ffmpeg ?? ffmpegPath(),
    [...firstAudioTrackOf(path), '-ac', '1', '-ar', String(SAMPLE_RATE), ...stop, '-f', 's16le', 'pipe:1'],
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
  let finished = false;
  try {
    const cut = yield* limits.apply(child.stdout! as AsyncIterable<Buffer>);
    if (cut) return;
    const code = await exited;
    finished = true;
    if (code !== 0) throw classify(stderr, options.container);
    limits.checkNotEmpty();
  } finally {
    // Stopped early (too long, cut, consumer gave up): do not leave ffmpeg running.
    if (!finished && child.exitCode === null) child.kill('SIGKILL');
  }
}

/** The samples of a small Ogg/Opus file, decoded here; undefined for anything ffmpeg should decode instead. */
async function decodeVoiceNote(path: string, maxSamples: number): Promise<Buffer | undefined> {
  const handle = await open(path, 'r');
  let data: Buffer;
  try {
    const { size } = await handle.stat();
    if (size > IN_PROCESS_OPUS_BYTES) return undefined;
    data = Buffer.alloc(size);
    await handle.read(data, 0, size, 0);
  } finally {
    await handle.close();
  }
  return isOggOpus(data) ? (await decodeOggOpus(data, maxSamples))?.pcm : undefined;
}

/** Whole PCM handed on in one-second pieces, as ffmpeg's pipe would. */
function* chunked(pcm: Buffer): Generator<Buffer> {
  const size = SAMPLE_RATE * BYTES_PER_SAMPLE;
  for (let at = 0; at < pcm.length; at += size) yield pcm.subarray(at, at + size);
}

/**
 * What may be passed on of a decoded stream: nothing past `maxSeconds` (`too_long`), and nothing past the charged
 * seconds beyond a rounding hair (then `onCut`).
 */
class PcmLimits {
  private bytes = 0;
  private readonly limit: number;
  private readonly capBytes: number;
  private readonly toleranceBytes = Math.round(CUT_TOLERANCE_SECONDS * SAMPLE_RATE) * BYTES_PER_SAMPLE;

  constructor(private readonly options: DecodeOptions) {
    this.limit = options.maxSeconds === undefined ? Number.POSITIVE_INFINITY : options.maxSeconds * SAMPLE_RATE * BYTES_PER_SAMPLE;
    this.capBytes =
      options.chargedSeconds === undefined ? Number.POSITIVE_INFINITY : Math.round(options.chargedSeconds * SAMPLE_RATE) * BYTES_PER_SAMPLE;
  }

  /** Samples worth decoding at all: a little past the charge or the limit, enough to tell which applies. */
  get maxSamples(): number {
    return Math.min(this.limit, this.capBytes + this.toleranceBytes) / BYTES_PER_SAMPLE + SAMPLE_RATE;
  }

  /** Passes `source` on within the limits; true when it stopped at the charge (the rest was cut). */
  async *apply(source: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer, boolean> {
    // Samples past the charge, held back until it is known whether they are a rounding hair or a cut.
    const held: Buffer[] = [];
    for await (const chunk of source) {
      const before = this.bytes;
      this.bytes += chunk.length;
      if (this.bytes > this.limit) {
        throw new InputError('too_long', `The audio is longer than ${Math.round(this.options.maxSeconds! / 60)} minutes.`);
      }
      if (this.bytes <= this.capBytes) {
        yield chunk;
        continue;
      }
      if (before < this.capBytes) yield chunk.subarray(0, this.capBytes - before);
      if (this.bytes > this.capBytes + this.toleranceBytes) {
        // More audio than was paid for: transcribe the charged part only, and say so.
        this.options.onCut?.(this.options.chargedSeconds!);
        return true;
      }
      held.push(before < this.capBytes ? chunk.subarray(this.capBytes - before) : chunk);
    }
    for (const rest of held) yield rest;
    return false;
  }

  /** Throws when nothing at all was decoded. */
  checkNotEmpty(): void {
    if (this.bytes >= BYTES_PER_SAMPLE) return;
    throw this.options.container
      ? new InputError('corrupt', 'The file looks like audio but no sound could be decoded from it.')
      : new InputError('not_audio', 'The file is not audio or video.');
  }
}

function classify(stderr: string, container: ContainerGuess): InputError {
  if (!container) return new InputError('not_audio', 'The file is not audio or video.');
  if (NO_AUDIO.test(stderr)) return new InputError('not_audio', 'The file has no audio track.');
  return new InputError('corrupt', 'The file is damaged or incomplete and could not be decoded.');
}
