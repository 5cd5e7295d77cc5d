import { BYTES_PER_SAMPLE, SAMPLE_RATE } from './decode';

/** A stretch of decoded audio handed to the engine on its own. */
export interface AudioWindow {
  /** Where the window starts in the file, in seconds. */
  offset: number;
  /** 16 kHz mono s16le. */
  pcm: Buffer;
  /** Loudest 100 ms of the window, in dBFS; very quiet windows hold no speech and skip the engine. */
  peakDb: number;
}

export interface WindowOptions {
  /** Longest window in seconds. 30 s is Whisper's own window: one encoder pass, nothing wasted. */
  maxSeconds?: number;
  /** The cut is placed at the quietest moment between `minSeconds` and `maxSeconds`. */
  minSeconds?: number;
}

const FRAME = SAMPLE_RATE / 10; // 100 ms, long enough to tell a pause from a plosive

/** The samples of a buffer as numbers, without copying when the buffer is aligned (it is, for fresh windows). */
function samplesOf(pcm: Buffer): Int16Array {
  const count = Math.floor(pcm.length / BYTES_PER_SAMPLE);
  if (pcm.byteOffset % 2 === 0) return new Int16Array(pcm.buffer, pcm.byteOffset, count);
  const copy = new Int16Array(count);
  for (let i = 0; i < count; i++) copy[i] = pcm.readInt16LE(i * BYTES_PER_SAMPLE);
  return copy;
}

/** Root-mean-square level of samples [from, to) in dBFS. */
function levelDb(samples: Int16Array, from: number, to: number): number {
  let sum = 0;
  for (let i = from; i < to; i++) {
    const v = samples[i]! / 32768;
    sum += v * v;
  }
  const rms = Math.sqrt(sum / Math.max(1, to - from));
  return rms > 0 ? 20 * Math.log10(rms) : -120;
}

function peakLevelDb(pcm: Buffer): number {
  const samples = samplesOf(pcm);
  let peak = -120;
  for (let start = 0; start < samples.length; start += FRAME)
    peak = Math.max(peak, levelDb(samples, start, Math.min(samples.length, start + FRAME)));
  return peak;
}

/** The sample at which to cut: the middle of the quietest 100 ms frame in [min, max), latest on ties. */
function cutPoint(pcm: Buffer, min: number, max: number): number {
  const samples = samplesOf(pcm);
  let best = max;
  let bestLevel = Number.POSITIVE_INFINITY;
  for (let start = min; start + FRAME <= max; start += FRAME / 2) {
    const level = levelDb(samples, start, start + FRAME);
    if (level <= bestLevel) {
      bestLevel = level;
      best = start + FRAME / 2;
    }
  }
  return best;
}

/**
 * Cuts a PCM stream into windows of at most `maxSeconds`, each ending in the quietest moment the last stretch
 * offers, so words are rarely split and memory stays at one window whatever the file's length.
 */
export async function* audioWindows(chunks: AsyncIterable<Buffer>, options: WindowOptions = {}): AsyncGenerator<AudioWindow> {
  const maxSamples = Math.round((options.maxSeconds ?? 30) * SAMPLE_RATE);
  const minSamples = Math.round((options.minSeconds ?? 20) * SAMPLE_RATE);
  const maxBytes = maxSamples * BYTES_PER_SAMPLE;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let offsetSamples = 0;
  // A chunk may end mid-sample; carry the odd byte so samples stay aligned.
  let odd: Buffer | null = null;

  for await (let chunk of chunks) {
    if (odd) {
      chunk = Buffer.concat([odd, chunk]);
      odd = null;
    }
    if (chunk.length % BYTES_PER_SAMPLE) {
      odd = chunk.subarray(chunk.length - 1);
      chunk = chunk.subarray(0, chunk.length - 1);
    }
    pending.push(chunk);
    pendingBytes += chunk.length;
    while (pendingBytes >= maxBytes) {
      const buffer = Buffer.concat(pending, pendingBytes);
      const cut = cutPoint(buffer, minSamples, maxSamples);
      const pcm = Buffer.from(buffer.subarray(0, cut * BYTES_PER_SAMPLE));
      yield { offset: offsetSamples / SAMPLE_RATE, pcm, peakDb: peakLevelDb(pcm) };
      offsetSamples += cut;
      const rest = buffer.subarray(cut * BYTES_PER_SAMPLE);
      pending = rest.length ? [Buffer.from(rest)] : [];
      pendingBytes = rest.length;
    }
  }
  if (pendingBytes > 0) {
    const pcm = Buffer.concat(pending, pendingBytes);
    yield { offset: offsetSamples / SAMPLE_RATE, pcm, peakDb: peakLevelDb(pcm) };
  }
}
