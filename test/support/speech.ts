import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ffmpegPath } from '../../src/media/ffmpeg';

const run = promisify(execFile);

/** Plain English sentences with ordinary words, so word error rate measures the engine and not espeak's spelling. */
export const SENTENCES = [
  'The quick brown fox jumps over the lazy dog.',
  'She sells fresh bread at the market every morning.',
  'We should leave early to avoid the heavy traffic.',
  'The meeting has been moved to Thursday afternoon.',
  'Please send me the report before the end of the week.',
  'My brother plays the guitar in a small band.',
  'The children were playing in the garden after school.',
  'It is going to rain later this evening.',
  'He forgot his keys on the kitchen table again.',
  'The train to the city leaves from platform four.',
  'I would like a cup of coffee with a little milk.',
  'The library closes at six on weekdays.',
  'They built a new bridge across the river last year.',
  'Remember to water the plants while I am away.',
  'The doctor said that I need more sleep.',
  'Our team won the game in the final minute.',
  'The museum has a large collection of old paintings.',
  'Can you help me carry these boxes upstairs?',
  'The weather was warm and sunny all weekend.',
  'She is learning to speak three different languages.',
  'The shop on the corner sells books and newspapers.',
  'We watched a movie about a journey across the ocean.',
  'The students listened carefully to the teacher.',
  'He cooked a simple dinner of rice and vegetables.',
  'The old house at the end of the street is empty.',
  'Turn left at the next light and park near the bank.',
  'The phone rang twice before anyone answered it.',
  'A small dog was sleeping in the warm sun.',
  'The price of fruit has gone up this month.',
  'They are planning a trip to the mountains in summer.',
  'Please close the window because it is getting cold.',
  'The company hired ten new workers this spring.',
  'I read an interesting story in the newspaper today.',
  'The farmer grows corn and potatoes on his land.',
  'We need to buy milk, eggs and butter for the cake.',
  'The bus was late because of the snow.',
  'Her garden is full of red and yellow flowers.',
  'The pilot told us to fasten our seat belts.',
  'My friend lives in a quiet town by the sea.',
  'The workers finished painting the wall before lunch.',
];

/** A deterministic text of about `seconds` of espeak speech (espeak speaks about 3 words a second at 160 wpm). */
export function speechText(seconds: number, seed = 1): string {
  const words = Math.round(seconds * 3);
  const out: string[] = [];
  let count = 0;
  let state = seed;
  while (count < words) {
    // A linear congruential step; its low bits cycle quickly, so the sentence comes from the high ones.
    state = (state * 1103515245 + 12345) % 2147483648;
    const sentence = SENTENCES[Math.floor(state / 65536) % SENTENCES.length]!;
    out.push(sentence);
    count += sentence.split(' ').length;
  }
  return out.join(' ');
}

/** Speaks `text` with espeak-ng into a WAV file (22 kHz mono). */
export async function speak(text: string, wavPath: string, options: { wpm?: number; voice?: string } = {}): Promise<void> {
  await run('espeak-ng', ['-v', options.voice ?? 'en-us', '-s', String(options.wpm ?? 160), '-w', wavPath, text], { maxBuffer: 1 << 20 });
}

/** Runs the static ffmpeg with `args` (quiet, overwrite). */
export async function ffmpeg(args: string[]): Promise<void> {
  await run(ffmpegPath(), ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], { maxBuffer: 1 << 20 });
}

/** Containers people send, each as the ffmpeg arguments that make it from a WAV. Video ones get a small picture track. */
export const CONTAINERS: Record<string, { ext: string; video?: boolean; args: string[] }> = {
  'ogg/opus': { ext: 'ogg', args: ['-c:a', 'libopus', '-b:a', '24k'] },
  mp3: { ext: 'mp3', args: ['-c:a', 'libmp3lame', '-b:a', '64k'] },
  'm4a/aac': { ext: 'm4a', args: ['-c:a', 'aac', '-b:a', '64k'] },
  wav: { ext: 'wav', args: ['-c:a', 'pcm_s16le'] },
  flac: { ext: 'flac', args: ['-c:a', 'flac'] },
  'webm/opus': { ext: 'webm', video: true, args: ['-c:v', 'libvpx', '-b:v', '50k', '-c:a', 'libopus'] },
  'mp4/h264+aac': { ext: 'mp4', video: true, args: ['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac'] },
  'mov/h264+aac': { ext: 'mov', video: true, args: ['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac'] },
};

/** Encodes `wav` into `container`, adding a tiny moving picture for the video ones. */
export async function encode(wav: string, container: keyof typeof CONTAINERS, out: string): Promise<void> {
  const spec = CONTAINERS[container]!;
  const inputs = spec.video
    ? ['-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-i', wav, '-shortest', '-map', '0:v', '-map', '1:a']
    : ['-i', wav];
  await ffmpeg([...inputs, ...spec.args, out]);
}

const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];

/** Lower case, no punctuation, small numbers spelled out: what both the reference and the transcript are compared as. */
export function normalizeWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9' ]+/g, ' ')
    .replace(/'/g, '')
    .split(/\s+/)
    .filter(Boolean)
    .map((word) => (/^\d+$/.test(word) && Number(word) < NUMBER_WORDS.length ? NUMBER_WORDS[Number(word)]! : word));
}

/** Word error rate: word-level edit distance over the reference's length. */
export function wordErrorRate(reference: string, hypothesis: string): number {
  const ref = normalizeWords(reference);
  const hyp = normalizeWords(hypothesis);
  if (ref.length === 0) return hyp.length === 0 ? 0 : 1;
  let previous = Array.from({ length: hyp.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const current = [i];
    for (let j = 1; j <= hyp.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[hyp.length]! / ref.length;
}

/**
 * Word sequences (`n` words) the transcript says more often than the reference does: an engine repeating itself.
 * Kept apart from the worker's own repeat check on purpose, so a test never judges the worker with the worker's code.
 */
export function repeatedPhrases(reference: string, hypothesis: string, n = 4): string[] {
  const counts = (words: string[]) => {
    const grams = new Map<string, number>();
    for (let i = 0; i + n <= words.length; i++) {
      const gram = words.slice(i, i + n).join(' ');
      grams.set(gram, (grams.get(gram) ?? 0) + 1);
    }
    return grams;
  };
  const said = counts(normalizeWords(reference));
  // Where the speaker repeats something, a misheard version of it may come back as often as the speaker said it.
  const mostSaid = Math.max(1, ...said.values());
  return [...counts(normalizeWords(hypothesis))]
    .filter(([gram, count]) => count > Math.max(mostSaid, said.get(gram) ?? 0))
    .map(([gram]) => gram);
}
