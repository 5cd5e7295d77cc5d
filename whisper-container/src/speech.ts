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
  if (NON_SPEECH.test(segment.text)) return false;
  if (segment.noSpeechProb > 0.6 && segment.avgLogprob < -1) return false;
  return true;
}

/** Removes non-speech markers Whisper puts inside otherwise good text ("Hello [MUSIC] there"). */
export function cleanText(text: string): string {
  return text
    .replace(/\[(BLANK_AUDIO|MUSIC|NOISE|SILENCE|INAUDIBLE|APPLAUSE|LAUGHTER)\]/giu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
