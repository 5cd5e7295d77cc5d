import { Readable } from 'node:stream';

const SAMPLE_RATE = 16_000;
const CHUNK = Buffer.alloc(64 * 1024);

/** A 44-byte PCM WAV header (16 kHz, mono, 16-bit) announcing `dataBytes` of samples. */
function wavHeader(dataBytes: number): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(Math.min(0xffffffff, 36 + dataBytes), 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(SAMPLE_RATE, 24);
  header.writeUInt32LE(SAMPLE_RATE * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'ascii');
  header.writeUInt32LE(dataBytes, 40);
  return header;
}

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
