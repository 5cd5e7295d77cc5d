import { open } from 'node:fs/promises';

/** What the first bytes of a file say it is. `null` means no audio or video container we know. */
export type ContainerGuess = 'ogg' | 'mp3' | 'mp4' | 'wav' | 'flac' | 'matroska' | 'aac' | 'aiff' | 'amr' | 'asf' | 'caf' | 'flv' | null;

/** Enough bytes to see every signature below, including an MP3 whose ID3 tag is followed by frames. */
const HEAD_BYTES = 64;

/**
 * Guesses the container from magic numbers. Blob keys carry no extension and user file names lie, so this is the
 * only thing that tells "not audio at all" (a PDF, a photo) from "audio, but broken" when ffmpeg refuses a file.
 */
export function sniffContainer(head: Buffer): ContainerGuess {
  const ascii = (start: number, end: number) => head.subarray(start, end).toString('latin1');
  if (head.length < 4) return null;
  if (ascii(0, 4) === 'OggS') return 'ogg';
  if (ascii(0, 4) === 'fLaC') return 'flac';
  if (ascii(0, 4) === 'RIFF' && (ascii(8, 12) === 'WAVE' || ascii(8, 12) === 'AVI ')) return 'wav';
  if (ascii(0, 4) === 'FORM' && /^AIF[FC]$/.test(ascii(8, 12))) return 'aiff';
  if (ascii(4, 8) === 'ftyp' || ascii(4, 8) === 'moov' || ascii(4, 8) === 'mdat' || ascii(4, 8) === 'wide') return 'mp4';
  if (head.readUInt32BE(0) === 0x1a45dfa3) return 'matroska';
  if (ascii(0, 3) === 'ID3') return 'mp3';
  if (ascii(0, 5) === '#!AMR') return 'amr';
  if (ascii(0, 4) === 'caff') return 'caf';
  if (ascii(0, 3) === 'FLV') return 'flv';
  if (head.readUInt32BE(0) === 0x3026b275) return 'asf';
  // Frame sync: 11 set bits. ADTS (AAC) has layer bits 00; MPEG audio layers I-III have them non-zero.
  if (head[0] === 0xff && (head[1]! & 0xe0) === 0xe0) return (head[1]! & 0x06) === 0 ? 'aac' : 'mp3';
  return null;
}

/** Reads the head of a file and sniffs it; also reports whether the file is empty. */
export async function sniffFile(path: string): Promise<{ container: ContainerGuess; empty: boolean }> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    return { container: sniffContainer(head.subarray(0, bytesRead)), empty: bytesRead === 0 };
  } finally {
    await handle.close();
  }
}
