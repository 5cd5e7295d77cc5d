/**
 * The speech sets transcript quality is measured on, made with espeak-ng and ffmpeg into a folder so nothing is
 * checked in or downloaded. Every file comes with the text that was said, so word error rate and repeats can be
 * counted. Used by bench/quality.bench.ts and by the worker's repeat test.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ffmpeg, speak, speechText } from './speech';

/**
 * Fifty different things people say in a voice note, each under 5 s at espeak's 160 words a minute. Kept apart
 * from `SENTENCES` so the notes are not the sentences the long clip repeats. The first one came back twice from
 * the worker when short notes used a cut audio context.
 */
export const NOTE_SENTENCES = [
  'The engineer explained how the bridge was designed to survive strong winds.',
  'Call me back when you get this message, it is about the delivery.',
  'I will be about half an hour late, the traffic is terrible today.',
  'Can you pick up some bread and cheese on your way home?',
  'The meeting with the new client has been moved to Monday morning.',
  "Don't forget that your sister's birthday party starts at seven.",
  'I left the spare keys with the woman across the street.',
  'The doctor wants to see you again next week for another visit.',
  'We finally finished painting the kitchen, come and have a look.',
  'My flight was delayed, so I am taking the train instead.',
  'Please send me the address of the restaurant before six.',
  'The package arrived this morning but the box was badly damaged.',
  'Our teacher asked everyone to read the first three chapters.',
  'I think the battery in the car needs to be replaced soon.',
  'The concert tickets sold out within ten minutes of going on sale.',
  'Let me know if you want to join us for dinner on Friday.',
  'The plumber said he can come and fix the leak tomorrow.',
  'She has been working on her novel for almost two years.',
  'The heavy rain flooded several roads near the river last night.',
  'I found your wallet under the seat of my car.',
  'The hotel room had a beautiful view of the old port.',
  'Remember to bring your passport and a warm jacket for the trip.',
  'The children built a huge snowman in the park this afternoon.',
  'He says the new software update fixed most of the problems.',
  'We are out of milk, could you buy two bottles please?',
  'The museum is closed on Tuesdays, so let us go on Wednesday.',
  'My phone is almost dead, I will call you from the office.',
  'The football match was postponed because of the storm.',
  'I just heard that the bakery on our street is closing down.',
  'Could you water my plants while I am away next week?',
  'The bank called about a strange payment on my account.',
  'Our friends adopted a small brown puppy from the shelter.',
  'The recipe needs three eggs, a cup of sugar and some butter.',
  'I am sorry I missed your call, I was in a long meeting.',
  'The printer on the second floor is out of paper again.',
  'The garden looks lovely now that the roses are in bloom.',
  'He has to finish the report before the end of the day.',
  'The school bus will be an hour late because of the snow.',
  'We booked a small cottage by the lake for the summer.',
  'The manager wants everyone in the conference room at noon.',
  'I saw an old friend from university at the station today.',
  'The shop around the corner now sells fresh fish on Saturdays.',
  'Please remind me to pay the electricity bill tomorrow.',
  'The baby finally fell asleep, so please call me later.',
  'A long line of people was waiting outside the new cinema.',
  'The mechanic found a problem with the brakes on my bicycle.',
  'My grandmother taught me how to bake this apple pie.',
  'The volunteers collected dozens of bags of rubbish.',
  'The weather forecast says it will be sunny all weekend.',
  'I will send you the photos from the wedding tonight.',
];

/** One audio file and what was said in it (empty for a file with no speech). */
export interface SpeechFile {
  /** File name inside the set's folder. */
  name: string;
  path: string;
  /** The same audio as 16 kHz mono WAV, for whisper-cli, which does not read Opus. */
  wav: string;
  text: string;
}

/** Encodes a WAV as a Telegram-style voice note (Opus in Ogg, 24 kbit/s) and the CLI's 16 kHz WAV of the very same audio. */
async function voiceNote(source: string, dir: string, base: string, seconds?: number): Promise<Pick<SpeechFile, 'name' | 'path' | 'wav'>> {
  const name = `${base}.ogg`;
  const path = join(dir, name);
  const pad = seconds === undefined ? [] : ['-af', 'apad', '-t', String(seconds)];
  await ffmpeg(['-i', source, '-ar', '16000', '-ac', '1', ...pad, '-c:a', 'libopus', '-b:a', '24k', '-f', 'ogg', path]);
  const wav = join(dir, `${base}.wav`);
  await ffmpeg(['-i', path, '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', wav]);
  return { name, path, wav };
}

/** Fifty voice notes of exactly 5 s (speech, then silence), as ogg/opus; `count` takes the first few. */
export async function noteSet(dir: string, count = NOTE_SENTENCES.length): Promise<SpeechFile[]> {
  await mkdir(dir, { recursive: true });
  return Promise.all(
    NOTE_SENTENCES.slice(0, count).map(async (text, index) => {
      const raw = join(dir, `raw${index}.wav`);
      await speak(text, raw);
      return { ...(await voiceNote(raw, dir, `note${String(index).padStart(2, '0')}`, 5)), text };
    }),
  );
}

/** "The quick brown fox jumps over the lazy dog" said twice in one voice note (about 6 s): a repeat the audio really holds. */
export async function foxSet(dir: string): Promise<SpeechFile[]> {
  await mkdir(dir, { recursive: true });
  const text = 'The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog.';
  const raw = join(dir, 'fox-raw.wav');
  await speak(text, raw);
  return [{ ...(await voiceNote(raw, dir, 'fox')), text }];
}

/** Human voices: the recordings alsa-utils ships ("Front Center", ...), and its noise file, which holds no words. */
export async function alsaSet(dir: string, folder = '/usr/share/sounds/alsa'): Promise<SpeechFile[]> {
  await mkdir(dir, { recursive: true });
  const names = ['Front_Center', 'Front_Left', 'Front_Right', 'Rear_Center', 'Rear_Left', 'Rear_Right', 'Side_Left', 'Side_Right', 'Noise'];
  return Promise.all(
    names.map(async (base) => {
      const path = join(dir, `${base}.wav`);
      await copyFile(join(folder, `${base}.wav`), path);
      const wav = join(dir, `${base}-16k.wav`);
      await ffmpeg(['-i', path, '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', wav]);
      return { name: `${base}.wav`, path, wav, text: base === 'Noise' ? '' : base.replace('_', ' ') };
    }),
  );
}

/** About 600 s of speech in one 16 kHz WAV (the worker benchmark's clip): the long file people send, a meeting or a lecture. */
export async function longSet(dir: string, seconds = 600): Promise<SpeechFile[]> {
  await mkdir(dir, { recursive: true });
  const text = speechText(seconds, 11);
  const raw = join(dir, 'long-raw.wav');
  await speak(text, raw);
  const path = join(dir, 'long.wav');
  await ffmpeg(['-i', raw, '-ar', '16000', '-ac', '1', '-c:a', 'pcm_s16le', path]);
  return [{ name: 'long.wav', path, wav: path, text }];
}
