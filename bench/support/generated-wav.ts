import { Readable } from 'node:stream';
import { wavHeader } from '../../whisper-container/src/wav';

const SAMPLE_RATE = 16_000;
const CHUNK = Buffer.alloc(64 * 1024);

/** Seconds of audio in a generated WAV of `totalBytes`. */
export const generatedWavSeconds = (totalBytes: number): number => (totalBytes - 44) / (SAMPLE_RATE * 2);

/**
 * A valid WAV of exactly `totalBytes`: a header, then silence made on demand from one shared
 * zero-filled chunk, so the file never exists in memory (or on disk) on the sending side.
 */
export function generatedWav(totalBytes: number): Readable {
  let left = totalBytes - 44;
  let headerSent = false;
  return new Readable({
    read() {
      if (!headerSent) {
        headerSent = true;
        this.push(wavHeader(left));
        return;
      }
      if (left <= 0) {
        this.push(null);
        return;
      }
      const size = Math.min(left, CHUNK.length);
      left -= size;
      this.push(size === CHUNK.length ? CHUNK : CHUNK.subarray(0, size));
    },
  });
}
