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
