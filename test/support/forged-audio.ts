import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encode, ffmpeg, speak } from './speech';

/**
 * Recordings whose headers lie about their length, made from real espeak-ng speech with ffmpeg and a few patched
 * bytes, the way an attacker would make them: each header says about one second while the audio runs on.
 */
export interface ForgedFile {
  /** `forged.mp3`, ... */
  name: string;
  path: string;
  mimeType: string;
  /** What the patched header claims, in seconds. */
  claims: number;
}

/**
 * The speech as a WAV, and its true length. The files are named after the text, so calls running side by side in
 * one folder (the corpus makes several at once) never write over each other's half-written file.
 */
export async function speechWav(dir: string, text: string): Promise<{ wav: string; seconds: number }> {
  const name = `speech-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
  const source = join(dir, `${name}.source.wav`);
  await speak(text, source);
  // 16 kHz mono: the length is then simply bytes / 32000 after the 44-byte header.
  const wav = join(dir, `${name}.wav`);
  await ffmpeg(['-i', source, '-ac', '1', '-ar', '16000', '-c:a', 'pcm_s16le', wav]);
  const bytes = (await readFile(wav)).length - 44;
  return { wav, seconds: bytes / 32000 };
}

/** MP3 whose Xing/Info frame count is rewritten to 10 frames (about 0.3 s). */
export async function forgedMp3(dir: string, wav: string): Promise<ForgedFile> {
  const path = join(dir, 'forged.mp3');
  await encode(wav, 'mp3', path);
  const data = await readFile(path);
  let at = data.indexOf('Xing');
  if (at < 0) at = data.indexOf('Info');
  if (at < 0) throw new Error('no Xing/Info frame to forge');
  // Flags (4 bytes), then the frame count.
  data.writeUInt32BE(10, at + 8);
  await writeFile(path, data);
  return { name: 'forged.mp3', path, mimeType: 'audio/mpeg', claims: 0.3 };
}

/** The Ogg CRC (polynomial 0x04c11db7, not reflected). */
function oggCrc(page: Buffer): number {
  let crc = 0;
  for (const byte of page) {
    crc ^= byte << 24;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80000000 ? ((crc << 1) ^ 0x04c11db7) >>> 0 : (crc << 1) >>> 0;
  }
  return crc >>> 0;
}

/** Ogg/Opus whose granule positions all say one second (with valid page checksums, so readers believe them). */
export async function forgedOgg(dir: string, wav: string): Promise<ForgedFile> {
  const path = join(dir, 'forged.ogg');
  await encode(wav, 'ogg/opus', path);
  const data = await readFile(path);
  const preSkip = data.readUInt16LE(data.indexOf('OpusHead') + 10);
  let page = 0;
  for (let at = 0; at < data.length; page++) {
    if (data.toString('latin1', at, at + 4) !== 'OggS') throw new Error(`not an Ogg page at ${at}`);
    const segments = data[at + 26]!;
    let size = 27 + segments;
    for (let i = 0; i < segments; i++) size += data[at + 27 + i]!;
    // Pages 0 and 1 are the Opus headers (granule 0); every audio page now claims to end at one second.
    if (page >= 2) {
      data.writeBigInt64LE(BigInt(preSkip + 48_000), at + 6);
      data.writeUInt32LE(0, at + 22);
      data.writeUInt32LE(oggCrc(data.subarray(at, at + size)), at + 22);
    }
    at += size;
  }
  await writeFile(path, data);
  return { name: 'forged.ogg', path, mimeType: 'audio/ogg', claims: 1 };
}

/** M4A (AAC in MP4) whose `mvhd` and `mdhd` durations say one second. */
export async function forgedMp4(dir: string, wav: string): Promise<ForgedFile> {
  const path = join(dir, 'forged.m4a');
  await encode(wav, 'm4a/aac', path);
  const data = await readFile(path);
  for (const box of ['mvhd', 'mdhd']) {
    const at = data.indexOf(box);
    if (at < 0 || data[at + 4] !== 0) throw new Error(`no version-0 ${box} to forge`);
    // version/flags, creation and modification times, then the timescale and the duration in its units.
    const timescale = data.readUInt32BE(at + 16);
    data.writeUInt32BE(timescale, at + 20);
  }
  await writeFile(path, data);
  return { name: 'forged.m4a', path, mimeType: 'audio/mp4', claims: 1 };
}

/** WAV whose `data` chunk size says one second: readers, ffmpeg included, stop there, so it is charged as one. */
export async function forgedWav(dir: string, wav: string): Promise<ForgedFile> {
  const path = join(dir, 'forged.wav');
  const data = await readFile(wav);
  const at = data.indexOf('data');
  data.writeUInt32LE(32_000, at + 4);
  data.writeUInt32LE(36 + 32_000, 4);
  await writeFile(path, data);
  return { name: 'forged.wav', path, mimeType: 'audio/wav', claims: 1 };
}

/**
 * An Ogg/Opus file whose header declares `channels` output channels (mapping family 255), every one of them fed by
 * the one mono stream the packets hold: a few dozen KB that a decoder turns into `channels` times the samples.
 * Made from a mono Opus encoding of `wav` by rewriting its first page.
 */
export async function manyChannelOgg(dir: string, wav: string, channels: number): Promise<string> {
  const mono = join(dir, `mono-${channels}.ogg`);
  await ffmpeg(['-i', wav, '-ac', '1', '-c:a', 'libopus', '-b:a', '16k', mono]);
  const data = await readFile(mono);
  const segments = data[26]!;
  let firstPageEnd = 27 + segments;
  for (let i = 0; i < segments; i++) firstPageEnd += data[27 + i]!;
  const oldHead = data.subarray(27 + segments, firstPageEnd);
  // OpusHead: magic, version, channels, pre-skip, rate, gain, then family 255 with 1 stream, 0 coupled, all mapped to it.
  const head = Buffer.concat([oldHead.subarray(0, 18), Buffer.from([255, 1, 0]), Buffer.alloc(channels, 0)]);
  head[9] = channels;
  const lacing: number[] = [];
  for (let left = head.length; ; left -= 255) {
    lacing.push(Math.min(255, left));
    if (left < 255) break;
  }
  const page = Buffer.concat([data.subarray(0, 26), Buffer.from([lacing.length, ...lacing]), head]);
  page.writeUInt32LE(0, 22);
  page.writeUInt32LE(oggCrc(page), 22);
  const path = join(dir, `channels-${channels}.ogg`);
  await writeFile(path, Buffer.concat([page, data.subarray(firstPageEnd)]));
  return path;
}
