import type { EngineSegment } from './engine';

/**
 * Text Whisper emits for non-speech: `[BLANK_AUDIO]`, `(music)`, `[ Silence ]`, `*sigh*`, or only punctuation.
 * Presented as a transcript these read as words the speaker said, so they are dropped.
 */
const NON_SPEECH = /^\s*(\[[^\]]*\]|\([^)]*\)|\*[^*]*\*|♪+|[\s.,!?…-]*)\s*$/u;

/** Below this window level (dBFS) there is nothing to hear; the engine is not asked. */
export const SILENCE_DB = -50;

/**
 * Whether a segment is speech worth keeping. OpenAI's rule: a high no-speech probability together with
 * low confidence in the text means the model invented it (typical on noise and silence).
 */
export function isSpeech(segment: EngineSegment): boolean {
  const text = segment.text.trim();
  if (NON_SPEECH.test(text) || !/\p{L}/u.test(text)) return false;
  // Whisper only opens a bracket to describe a sound ("[phone ringing", "(tone"), even when it never closes it.
  if (/^[[(*♪]/u.test(text)) return false;
  if (segment.noSpeechProb > 0.6 && segment.avgLogprob < -1) return false;
  // Text sampled at this low a confidence is what the temperature fallback invents on tones and noise.
  if (segment.avgLogprob < -2) return false;
  return true;
}

/** Removes non-speech markers Whisper puts inside otherwise good text ("Hello [MUSIC] there"). */
export function cleanText(text: string): string {
  return text
    .replace(/\[(BLANK_AUDIO|MUSIC|NOISE|SILENCE|INAUDIBLE|APPLAUSE|LAUGHTER)\]/giu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Whether a transcript says some run of `n` words twice. With a cut audio context Whisper sometimes decodes a
 * sentence, finds audio context left, and says it again; OpenAI's decoder catches such loops by their compression
 * ratio, which a single repeated sentence is too short to raise. A window that repeats itself is decoded again with
 * the full context, which keeps a repeat the audio really holds and drops one it does not.
 */
export function repeatsItself(text: string, n = 4): boolean {
  const words = text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}' ]+/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);
  const seen = new Set<string>();
  for (let i = 0; i + n <= words.length; i++) {
    const gram = words.slice(i, i + n).join(' ');
    if (seen.has(gram)) return true;
    seen.add(gram);
  }
  return false;
}
