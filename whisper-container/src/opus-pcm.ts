import { OggOpusDecoder, type OggOpusDecodedAudio } from 'ogg-opus-decoder';

/**
 * Ogg/Opus files (Telegram and Discord voice notes) decoded in this process: libopus compiled to WebAssembly, then
 * 48 kHz to Whisper's 16 kHz mono by a low-pass filter and every third sample. A maintained ffmpeg is a distribution
 * build that links about 200 libraries, and starting it costs about 0.2 s of CPU, as much as transcribing a short
 * voice note; here the decode costs a few milliseconds, and the untrusted bytes stay inside the WebAssembly sandbox.
 * Anything else, or an Ogg file this decoder reports errors on, goes to ffmpeg as before.
 */

/**
 * Files up to this size are decoded here: a voice note is a few dozen KB, and 512 KB of speech is minutes, whose
 * 48 kHz samples stay under about 50 MB. Larger ones stream through ffmpeg.
 */
export const IN_PROCESS_OPUS_BYTES = 512 * 1024;

const RATIO = 3;
/**
 * A Kaiser-windowed sinc low-pass at 0.97 of the 8 kHz Nyquist frequency, 32 taps per output phase: the same
 * shape as ffmpeg's default resampler (swr: `filter_size` 32, `cutoff` 0.97, `kaiser_beta` 9).
 */
const TAPS = lowPass(32 * RATIO + 1, (0.97 * 8000) / 48000, 9);

/** True for an Ogg stream whose first packet is an Opus header; only those are decoded here. */
export function isOggOpus(data: Buffer): boolean {
  return data.length > 36 && data.toString('latin1', 0, 4) === 'OggS' && data.toString('latin1', 28, 36) === 'OpusHead';
}

/**
 * Output channels decoded here at most. An Opus header may declare up to 255 channels all fed from one small stream
 * (mapping family 255), so a few KB would decode to 255 times the samples; such files go to ffmpeg, which mixes
 * them down as it decodes (or refuses past its mixer's 64 channels).
 */
export const IN_PROCESS_MAX_CHANNELS = 2;

/** Bytes of the file handed to the decoder at a time: the decode stops within one piece of the samples wanted. */
const DECODE_PIECE_BYTES = 4096;

/** What `decodeOggOpus` made: the samples, and how many 48 kHz samples per channel it decoded to make them. */
export interface DecodedOpus {
  pcm: Buffer;
  decodedSamples: number;
}

/**
 * 16 kHz mono s16le samples of an Ogg/Opus file, at most `maxSamples` of them; the decode stops once it has those,
 * so a file that runs on past them costs no more than they do. Undefined when the header declares more than
 * `IN_PROCESS_MAX_CHANNELS` channels (nothing is decoded) or the decoder reports an error (a damaged or unusual
 * stream), so that the caller falls back to ffmpeg and its error messages.
 */
export async function decodeOggOpus(data: Buffer, maxSamples = Infinity): Promise<DecodedOpus | undefined> {
  if (!isOggOpus(data) || data[37]! > IN_PROCESS_MAX_CHANNELS) return undefined;
  // The filter reaches `taps` input samples past the last output sample it makes.
  const wanted = maxSamples * RATIO + TAPS.length;
  const decoder = new OggOpusDecoder();
  const pieces: Float32Array[] = [];
  let decodedSamples = 0;
  const take = (decoded: OggOpusDecodedAudio): boolean => {
    if (decoded.errors.length > 0) return false;
    if (decoded.samplesDecoded > 0) pieces.push(mono(decoded.channelData, decoded.samplesDecoded));
    decodedSamples += decoded.samplesDecoded;
    return true;
  };
  try {
    await decoder.ready;
    for (let at = 0; at < data.length && decodedSamples < wanted; at += DECODE_PIECE_BYTES) {
      const piece = data.subarray(at, Math.min(data.length, at + DECODE_PIECE_BYTES));
      // Typed as returning the audio, but the decoder's `decode` is async.
      const decoded = await Promise.resolve(decoder.decode(new Uint8Array(piece.buffer, piece.byteOffset, piece.length)));
      if (!take(decoded)) return undefined;
    }
    if (decodedSamples < wanted && !take(await decoder.flush())) return undefined;
    if (decodedSamples === 0) return undefined;
    return { pcm: toPcm16k(concat(pieces, decodedSamples), maxSamples), decodedSamples };
  } catch {
    return undefined;
  } finally {
    decoder.free();
  }
}

/** The channels averaged, as ffmpeg's `-ac 1` mixes a stereo file. */
function mono(channels: Float32Array[], length: number): Float32Array {
  if (channels.length === 1) return channels[0]!.subarray(0, length);
  const out = new Float32Array(length);
  for (const channel of channels) for (let i = 0; i < length; i++) out[i]! += channel[i]! / channels.length;
  return out;
}

function concat(pieces: Float32Array[], length: number): Float32Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Float32Array(length);
  let at = 0;
  for (const piece of pieces) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** Filters and keeps every third sample, as signed 16-bit little-endian bytes. */
function toPcm16k(input: Float32Array, maxSamples: number): Buffer {
  const count = Math.min(Math.floor(input.length / RATIO), maxSamples);
  const out = Buffer.alloc(count * 2);
  // Written through a typed view: a per-sample `writeInt16LE` (bounds checks, a call each) cost more than the filter.
  const view = new Int16Array(out.buffer, out.byteOffset, count);
  const taps = TAPS.length;
  const half = (taps - 1) / 2;
  for (let n = 0; n < count; n++) {
    const start = n * RATIO - half;
    let sum = 0;
    if (start >= 0 && start + taps <= input.length) {
      for (let k = 0; k < taps; k++) sum += TAPS[k]! * input[start + k]!;
    } else {
      // The first and last few samples: the filter reaches past the ends, where the signal is taken as silence.
      const from = Math.max(0, -start);
      const to = Math.min(taps, input.length - start);
      for (let k = from; k < to; k++) sum += TAPS[k]! * input[start + k]!;
    }
    view[n] = Math.max(-32768, Math.min(32767, Math.round(sum * 32768)));
  }
  return out;
}

/** A windowed-sinc low-pass filter of `length` taps with `cutoff` as a fraction of the input rate, unit gain. */
function lowPass(length: number, cutoff: number, beta: number): Float64Array {
  const taps = new Float64Array(length);
  const middle = (length - 1) / 2;
  let total = 0;
  for (let i = 0; i < length; i++) {
    const x = i - middle;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const window = besselI0(beta * Math.sqrt(1 - (x / middle) ** 2)) / besselI0(beta);
    taps[i] = sinc * window;
    total += taps[i]!;
  }
  for (let i = 0; i < length; i++) taps[i]! /= total;
  return taps;
}

/** The zeroth-order modified Bessel function of the first kind, by its power series (the Kaiser window's shape). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < 1e-12 * sum) break;
  }
  return sum;
}
