import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { expect } from 'vitest';
import { forgedMp3, speechWav } from './forged-audio';
import { encode, ffmpeg } from './speech';

/**
 * A corpus of malformed and odd inputs, made in the test from nothing but ffmpeg, espeak-ng and a few hand-built
 * bytes: what people send by mistake and what an attacker sends on purpose. Every channel's corpus test runs all of
 * them and checks each answer against `expect`.
 */

/** The limits the corpus is made against; the service under test must be configured with exactly these. */
export const CORPUS_LIMITS = { maxFileBytes: 400_000, maxFileSeconds: 20, maxFilesPerMessage: 5 };

/** The environment every channel's corpus test runs the service with: `CORPUS_LIMITS`, and `freeSeconds` for new users. */
export function corpusEnv(freeSeconds: number): Record<string, string> {
  return {
    NEW_USER_FREE_SECONDS: String(freeSeconds),
    MAX_FILE_BYTES: String(CORPUS_LIMITS.maxFileBytes),
    MAX_FILE_SECONDS: String(CORPUS_LIMITS.maxFileSeconds),
    MAX_FILES_PER_MESSAGE: String(CORPUS_LIMITS.maxFilesPerMessage),
  };
}

/** What the user must be told about one input. */
export type Outcome =
  /** Refused before Whisper, nothing charged. */
  | 'not_audio'
  /** A video whose container holds no audio stream: refused, nothing charged, and told why. */
  | 'no_sound'
  | 'too_large'
  | 'too_long'
  /** Real audio (silence and noise included): measured, charged and answered with a transcript or "no speech". */
  | 'transcribed';

export interface BadInput {
  /** What the case is, for failure messages. */
  label: string;
  /** The name as the sender's client gives it (may be hostile). */
  name: string;
  /** The name the service must show: the cleaned one. */
  shownAs: string;
  mimeType: string;
  content: Buffer;
  expect: Outcome;
  /** The size a platform announces, when it differs from the content (a lie, or the real size of a huge file). */
  declaredSize?: number;
}

/** The sentence each refusal must contain (src/messages.ts words it). */
export const REASONS: Record<Exclude<Outcome, 'transcribed'>, RegExp> = {
  not_audio: /not an audio or video file I can read/,
  no_sound: /no sound track/,
  too_large: /larger than the [\d.]+ (KB|MB|GB)/,
  too_long: /longer than the 0:20 limit/,
};

/** Text that must never reach a user: stack traces, programming values, raw error names. */
export const LEAKS = /\bat .+\(.+:\d+:\d+\)|Error:|undefined|NaN|Infinity|\[object |null\b|ENOENT|ffmpeg|stack/;

const PNG = Buffer.concat([
  Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex'),
  Buffer.from('0000000d4944415478da63f8cfc0f01f0005000201a5f6d2a30000000049454e44ae426082', 'hex'),
]);

/** A ZIP archive with one stored text file, built by hand (local header, central directory, end record). */
function zip(name: string, body: Buffer): Buffer {
  const data = deflateRawSync(body);
  const fileName = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(body.length, 22);
  local.writeUInt16LE(fileName.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(body.length, 24);
  central.writeUInt16LE(fileName.length, 28);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + fileName.length, 12);
  end.writeUInt32LE(30 + fileName.length + data.length, 16);
  return Buffer.concat([local, fileName, data, central, fileName, end]);
}

/** A canonical 44-byte WAV header; `dataBytes` is what it claims, not what follows. */
function wavHeader(dataBytes: number, options: { rate?: number; channels?: number } = {}): Buffer {
  const rate = options.rate ?? 16_000;
  const channels = options.channels ?? 1;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** An ID3v2.3 tag with a title frame and `padding` zero bytes, and nothing after it. */
function id3Only(padding: number): Buffer {
  const title = Buffer.concat([Buffer.from([0]), Buffer.from('Only a tag')]);
  const frame = Buffer.alloc(10);
  frame.write('TIT2', 0, 'latin1');
  frame.writeUInt32BE(title.length, 4);
  const body = Buffer.concat([frame, title, Buffer.alloc(padding)]);
  const size = body.length;
  const header = Buffer.from([0x49, 0x44, 0x33, 3, 0, 0, (size >> 21) & 0x7f, (size >> 14) & 0x7f, (size >> 7) & 0x7f, size & 0x7f]);
  return Buffer.concat([header, body]);
}

/** Seeded bytes, so a failing case can be reproduced. */
function noiseBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

async function lavfi(dir: string, name: string, args: string[]): Promise<Buffer> {
  const path = join(dir, name);
  await ffmpeg([...args, path]);
  return readFile(path);
}

/** 250 characters of mixed scripts, emoji (surrogate pairs) and combining marks, ending in `.mp3`. */
export const LONG_UNICODE_NAME = Array.from('Запись-録音-🎙️-é̂-'.repeat(20)).slice(0, 246).join('') + '.mp3';

/** The refused inputs: none of them reaches Whisper, none costs anything. */
export async function refusedInputs(dir: string): Promise<BadInput[]> {
  const { maxFileBytes } = CORPUS_LIMITS;
  const { wav: speech } = await speechWav(dir, 'The meeting has been moved to Thursday afternoon.');
  const wavBytes = await readFile(speech);
  const [silentMp4, silentWebm, silentMov, longSilentOgg, longSilentMp3, mp3, m4aTail, ogg, flac] = await Promise.all([
    lavfi(dir, 'silent-video.mp4', [
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=64x48:rate=5',
      '-t',
      '2',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
    ]),
    lavfi(dir, 'silent-video.webm', ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=5', '-t', '2', '-c:v', 'libvpx']),
    lavfi(dir, 'silent-video.mov', ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=5', '-t', '2', '-c:v', 'mjpeg']),
    lavfi(dir, 'long.ogg', ['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '40', '-c:a', 'libopus', '-b:a', '8k']),
    lavfi(dir, 'long.mp3', ['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '40', '-c:a', 'libmp3lame', '-b:a', '8k']),
    encode(speech, 'mp3', join(dir, 'speech.mp3')).then(() => readFile(join(dir, 'speech.mp3'))),
    // moov at the end (no faststart): cut before it, nothing can be decoded.
    encode(speech, 'm4a/aac', join(dir, 'speech.m4a')).then(() => readFile(join(dir, 'speech.m4a'))),
    encode(speech, 'ogg/opus', join(dir, 'speech.ogg')).then(() => readFile(join(dir, 'speech.ogg'))),
    encode(speech, 'flac', join(dir, 'speech.flac')).then(() => readFile(join(dir, 'speech.flac'))),
  ]);
  const longSpeech = await speechWav(
    dir,
    'The train to the city leaves from platform four. Remember to water the plants while I am away. '.repeat(5),
  );
  const forged = await forgedMp3(dir, longSpeech.wav);
  // Playlists pointing at real speech on this machine: reading them would open another file and charge for it.
  const hls = `#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:3.0,\nfile://${speech}\n#EXTINF:3.0,\n${speech}\n#EXT-X-ENDLIST\n`;
  const concat = `ffconcat version 1.0\nfile '${speech}'\nfile '/etc/passwd'\n`;
  const text = Buffer.from('Hello,\nthis is a plain text note, not a recording.\n'.repeat(40));
  const html = Buffer.from(
    '<!doctype html><html><head><title>Voice</title></head><body><audio src="x.mp3"></audio><p>Not audio</p></body></html>\n',
  );

  const c = (
    label: string,
    name: string,
    mimeType: string,
    content: Buffer,
    expect: Outcome = 'not_audio',
    extra: Partial<BadInput> = {},
  ): BadInput => ({ label, name, shownAs: name, mimeType, content, expect, ...extra });

  return [
    // Files that say what they are: platforms and mail clients send them with their own type.
    c('PNG image', 'photo.png', 'image/png', PNG),
    c('plain text file', 'notes.txt', 'text/plain', text),
    c('ZIP archive', 'archive.zip', 'application/zip', zip('voice.ogg', ogg)),
    c(
      'PDF document',
      'report.pdf',
      'application/pdf',
      Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n'),
    ),
    c('zero-byte mp3', 'empty.mp3', 'audio/mpeg', Buffer.alloc(0)),
    c('zero-byte ogg', 'empty.ogg', 'audio/ogg', Buffer.alloc(0)),
    c('zero-byte video', 'empty.mp4', 'video/mp4', Buffer.alloc(0)),
    c('one byte', 'one-byte.wav', 'audio/wav', Buffer.from([0])),
    c('random bytes as mp3', 'random.mp3', 'audio/mpeg', noiseBytes(50_000, 1)),
    c('random bytes as ogg', 'random.ogg', 'audio/ogg', noiseBytes(50_000, 2)),
    c('random bytes as wav', 'random.wav', 'audio/wav', noiseBytes(50_000, 3)),
    c('random bytes as m4a', 'random.m4a', 'audio/mp4', noiseBytes(50_000, 4)),
    c('random bytes as octet-stream', 'random.opus', 'application/octet-stream', noiseBytes(20_000, 5)),
    c('random bytes after OggS', 'oggs-junk.ogg', 'audio/ogg', Buffer.concat([Buffer.from('OggS'), noiseBytes(20_000, 6)])),
    c('plain text as mp3', 'notes.mp3', 'audio/mpeg', text),
    c('plain text as wav', 'notes.wav', 'audio/x-wav', text),
    c('UTF-16 text as m4a', 'letter.m4a', 'audio/mp4', Buffer.from('\ufeffNot a recording at all. '.repeat(30), 'utf16le')),
    c('HTML as mp3', 'page.mp3', 'audio/mpeg', html),
    c('HTML as mp4', 'page.mp4', 'video/mp4', html),
    c('PNG as mp3', 'image.mp3', 'audio/mpeg', PNG),
    c('PNG as ogg', 'image.ogg', 'audio/ogg', PNG),
    c('PNG as video', 'clip.mp4', 'video/mp4', PNG),
    c('ZIP as mp3', 'archive.mp3', 'audio/mpeg', zip('song.mp3', text)),
    c('ZIP as wav', 'archive.wav', 'audio/wav', zip('voice.wav', wavBytes.subarray(0, 4000))),
    c('PDF as m4a', 'document.m4a', 'audio/mp4', Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n')),
    c('ELF binary as mp3', 'program.mp3', 'audio/mpeg', Buffer.concat([Buffer.from('7f454c46020101', 'hex'), noiseBytes(8000, 7)])),
    c('MIDI as mp3', 'tune.mp3', 'audio/mpeg', Buffer.from('4d546864000000060000000100604d54726b0000000400ff2f00', 'hex')),
    c('WAV header, no data', 'header-only.wav', 'audio/wav', wavHeader(0)),
    c('WAV header claiming data that is absent', 'hollow.wav', 'audio/wav', wavHeader(1_000_000)),
    c('WAV with zero channels', 'no-channels.wav', 'audio/wav', Buffer.concat([wavHeader(3200, { channels: 0 }), Buffer.alloc(3200)])),
    c('WAV with sample rate 0', 'zero-rate.wav', 'audio/wav', Buffer.concat([wavHeader(3200, { rate: 0 }), Buffer.alloc(3200)])),
    c('MP3 that is only an ID3 tag', 'tag-only.mp3', 'audio/mpeg', id3Only(0)),
    c('ID3 tag with 100 KB of padding', 'padded-tag.mp3', 'audio/mpeg', id3Only(100_000)),
    c('ID3 tag then random bytes', 'tag-junk.mp3', 'audio/mpeg', Buffer.concat([id3Only(0), noiseBytes(10_000, 8)])),
    c('FLAC header only', 'header.flac', 'audio/flac', flac.subarray(0, 42)),
    c('MP4 ftyp box only', 'ftyp-only.m4a', 'audio/mp4', m4aTail.subarray(0, 32)),
    c('Matroska EBML header only', 'ebml.webm', 'video/webm', silentWebm.subarray(0, 40)),
    c('video without an audio track (mp4)', 'screen.mp4', 'video/mp4', silentMp4, 'no_sound'),
    c('video without an audio track (webm)', 'screen.webm', 'video/webm', silentWebm, 'no_sound'),
    c('video without an audio track (mov)', 'screen.mov', 'video/quicktime', silentMov, 'no_sound'),
    c('Ogg/Opus cut after its headers', 'cut-headers.ogg', 'audio/ogg', ogg.subarray(0, ogg.indexOf('OggS', ogg.indexOf('OpusTags')))),
    c('M4A cut before its moov box', 'cut.m4a', 'audio/mp4', m4aTail.subarray(0, Math.floor(m4aTail.length / 2))),
    c('MP3 cut inside its first frame', 'cut.mp3', 'audio/mpeg', mp3.subarray(0, 60)),
    c('HLS playlist renamed .mp3', 'playlist.mp3', 'audio/mpeg', Buffer.from(hls)),
    c('HLS playlist as m4a', 'playlist.m4a', 'audio/mp4', Buffer.from(hls)),
    c('ffconcat file renamed .mp3', 'concat.mp3', 'audio/mpeg', Buffer.from(concat)),
    c('ffconcat file as ogg', 'concat.ogg', 'audio/ogg', Buffer.from(concat)),
    c('path traversal name', [...Array(4).fill('..'), 'etc', 'passwd.mp3'].join('/'), 'audio/mpeg', text, 'not_audio', {
      shownAs: 'passwd.mp3',
    }),
    c('Windows path traversal name', '..\\..\\windows\\system.ini.wav', 'audio/wav', PNG, 'not_audio', { shownAs: 'system.ini.wav' }),
    c('name with control characters', 'bad\u0000na\u0007me\r\n.mp3', 'audio/mpeg', html, 'not_audio', { shownAs: 'badname.mp3' }),
    c('250-character Unicode name', LONG_UNICODE_NAME, 'audio/mpeg', PNG, 'not_audio', {
      shownAs: Array.from(LONG_UNICODE_NAME.normalize('NFC')).slice(0, 30).join(''),
    }),
    c('dot-only name', '...', 'audio/mpeg', PNG, 'not_audio', { shownAs: 'recording-' }),
    c('over the byte limit', 'huge.wav', 'audio/wav', Buffer.concat([wavHeader(maxFileBytes), Buffer.alloc(maxFileBytes)]), 'too_large'),
    c('over the byte limit, size not announced', 'huge-quiet.mp3', 'audio/mpeg', noiseBytes(maxFileBytes + 5000, 9), 'too_large', {
      declaredSize: -1,
    }),
    c('over the seconds limit (ogg)', 'long.ogg', 'audio/ogg', longSilentOgg, 'too_long'),
    c('over the seconds limit (mp3)', 'long.mp3', 'audio/mpeg', longSilentMp3, 'too_long'),
    c('over the seconds limit, header says 0.3 s', 'forged.mp3', 'audio/mpeg', await readFile(forged.path), 'too_long'),
  ];
}

/** Odd inputs that are real audio: they are measured, charged and answered with a transcript or "no speech". */
export async function audioInputs(dir: string): Promise<BadInput[]> {
  const [silence, noise, speechMp3, speechOgg] = await Promise.all([
    lavfi(dir, 'silence.ogg', ['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '3', '-c:a', 'libopus', '-b:a', '16k']),
    lavfi(dir, 'noise.wav', ['-f', 'lavfi', '-i', 'anoisesrc=r=16000:a=0.3:seed=7', '-t', '3', '-c:a', 'pcm_s16le']),
    speechWav(dir, 'She sells fresh bread at the market every morning.').then(async ({ wav }) => {
      await encode(wav, 'mp3', join(dir, 'odd.mp3'));
      return readFile(join(dir, 'odd.mp3'));
    }),
    speechWav(dir, 'The library closes at six on weekdays.').then(async ({ wav }) => {
      await encode(wav, 'ogg/opus', join(dir, 'odd.ogg'));
      return readFile(join(dir, 'odd.ogg'));
    }),
  ]);
  const truncated = join(dir, 'truncated.ogg');
  // The second half of the recording is gone (an interrupted upload); what is there is still audio.
  await writeFile(truncated, speechOgg.subarray(0, Math.floor(speechOgg.length * 0.6)));
  return [
    { label: 'silence', name: 'silence.ogg', shownAs: 'silence.ogg', mimeType: 'audio/ogg', content: silence, expect: 'transcribed' },
    { label: 'noise', name: 'noise.wav', shownAs: 'noise.wav', mimeType: 'audio/wav', content: noise, expect: 'transcribed' },
    {
      label: 'MP3 sent as Ogg (lying MIME type and name)',
      name: 'lying.ogg',
      shownAs: 'lying.ogg',
      mimeType: 'audio/ogg',
      content: speechMp3,
      expect: 'transcribed',
    },
    {
      label: 'truncated recording',
      name: 'truncated.ogg',
      shownAs: 'truncated.ogg',
      mimeType: 'audio/ogg',
      content: await readFile(truncated),
      expect: 'transcribed',
    },
  ];
}

/** Both halves of the corpus, made in a fresh temporary folder (`prefix` names it) that the test removes when done. */
export async function makeCorpus(prefix: string): Promise<{ dir: string; refused: BadInput[]; audio: BadInput[] }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    const [refused, audio] = await Promise.all([refusedInputs(dir), audioInputs(dir)]);
    return { dir, refused, audio };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Asserts the answer to one message of more files than `CORPUS_LIMITS.maxFilesPerMessage`: each file within the
 * limit is named, each one past it named on one line with the reason, and nothing internal leaks.
 */
export function expectFilesUpToLimit(status: string, files: BadInput[]): void {
  for (const input of files.slice(0, CORPUS_LIMITS.maxFilesPerMessage)) expect(status).toContain(input.shownAs);
  for (const input of files.slice(CORPUS_LIMITS.maxFilesPerMessage)) {
    const lines = status.split('\n').filter((l) => l.includes(input.shownAs));
    expect(lines).toEqual([expect.stringMatching(/over the limit of 5 files in one message/)]);
  }
  expect(status).not.toMatch(LEAKS);
}

/** Speech to send after the corpus: it must still be transcribed. */
export const CHECK_SENTENCE = 'Please send the quarterly report to the finance team before Friday.';

/** Splits `items` into groups of at most `size`. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Ensures an answer names `input` exactly once, with the reason its outcome calls for, and leaks nothing. */
export function checkRefusal(answer: string, input: BadInput): string | undefined {
  const lines = answer.split('\n').filter((line) => line.includes(input.shownAs));
  if (lines.length !== 1)
    return `${input.label}: expected one line naming "${input.shownAs}", got ${lines.length} in ${JSON.stringify(answer)}`;
  if (input.expect !== 'transcribed' && !REASONS[input.expect].test(lines[0]!))
    return `${input.label}: expected ${input.expect} in ${JSON.stringify(lines[0])}`;
  if (LEAKS.test(answer)) return `${input.label}: internal detail leaked in ${JSON.stringify(answer)}`;
  return undefined;
}
