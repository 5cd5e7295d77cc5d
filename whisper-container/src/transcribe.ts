import type { Logger } from 'pino';
import type { Segment, TranscriptResult } from '../../src/domain/transcript';
import { BYTES_PER_SAMPLE, SAMPLE_RATE, decodePcm } from './decode';
import type { Engine, EngineResult, EngineSegment } from './engine';
import type { EnginePool } from './pool';
import { languageCode } from './languages';
import type { ContainerGuess } from './sniff';
import { SILENCE_DB, cleanText, isSpeech, repeatsItself } from './speech';
import { wavFile } from './wav';
import { audioWindows, type AudioWindow } from './windows';

export interface TranscribeOptions {
  /** ISO code, or `auto` (multilingual models). English-only models ignore it. */
  language?: string;
  translate?: boolean;
  /** Model name written into the result (`tiny.en`). */
  model: string;
  /** Name written into the result's `file`. */
  name: string;
  container: ContainerGuess;
  ffmpeg?: string;
  /** Longer audio stops decoding and fails with `too_long`. */
  maxSeconds?: number;
  /** The seconds charged for this file: nothing past them is transcribed, and the result says `cutAt`. */
  chargedSeconds?: number;
  /** Longest window handed to the engine, in seconds (default 30, Whisper's own window). */
  windowSeconds?: number;
  log?: Logger;
}

/**
 * Encoder frames for a window: its own frames (50 a second) plus about 4 s of the silence Whisper was trained to see
 * after speech, rounded up to a multiple of 64, at least 448; 0 (all 1500) once that reaches the full window. Cut
 * closer, tiny.en loses words and sometimes says a short note twice (256 frames: two of fifty notes). Fifty 5 s notes
 * (tiny.en, greedy, no flash attention): 448 and 512 frames 10.3 % WER, 640 9.8 %, 768 9.4 %, all 1500 9.8 %; the
 * unsure-window retry below takes 448 to 9.0 % in 55 % of the full context's engine time (14 notes read twice).
 */
export function audioContextFor(seconds: number, step = 64): number {
  const frames = Math.ceil((seconds * 50 + 192) / step) * step;
  return frames >= 1500 ? 0 : Math.max(Math.ceil(448 / step) * step, frames);
}

/**
 * Below this average log-probability (of the window's least sure speech segment) a cut-context reading is checked
 * against a wider one (`RETRY_FRAMES`), and the surer of the two is kept. Measured on fifty 5 s notes in three espeak
 * voices (tiny.en, greedy): 448 frames alone 10.3 / 13.2 / 18.1 % WER, the full context alone 9.8 / 13.7 / 20.4 %,
 * this rule with a full-context second reading 9.0 / 11.0 / 18.1 % with 14, 20 and 31 of the 50 notes read twice.
 */
export const UNSURE_LOGPROB = -0.25;

/**
 * The context an unsure window is read again with (a window already read with this many frames or more, and one that
 * repeats itself, is read with all 1500). On the fifty notes 768 frames give the same 9.0 % WER as all 1500, and a
 * second reading of a 1.4 s note costs half as much: such short notes are mostly unsure, so under a burst of voice
 * notes this is most of the engines' work.
 */
export const RETRY_FRAMES = 768;

const speechOf = (result: EngineResult) => result.segments.filter(isSpeech);

/** How sure the engine was of a window: the lowest average log-probability among its speech segments (0 for none). */
function confidence(segments: EngineSegment[]): number {
  return segments.length ? Math.min(...segments.map((segment) => segment.avgLogprob)) : 0;
}

const round = (seconds: number) => Math.round(seconds * 1000) / 1000;

/**
 * Transcribes one local file: decode in windows, run them through the pool's engines (as many at once as there
 * are engines), shift segment times back to the file's clock, drop non-speech. Memory is a few windows (about
 * 1 MB of samples each) whatever the file's length.
 */
export async function transcribeFile(path: string, pool: EnginePool, options: TranscribeOptions): Promise<TranscriptResult> {
  const results: (WindowResult | undefined)[] = [];
  const inFlight = new Set<Promise<void>>();
  let windowError: unknown;
  let decodeError: unknown;
  let samples = 0;
  let cutAt: number | undefined;
  const pcm = decodePcm(path, {
    container: options.container,
    ffmpeg: options.ffmpeg,
    maxSeconds: options.maxSeconds,
    chargedSeconds: options.chargedSeconds,
    onCut: (seconds) => (cutAt = seconds),
  });
  const windowSeconds = options.windowSeconds ?? 30;
  try {
    for await (const window of audioWindows(pcm, { maxSeconds: windowSeconds, minSeconds: (windowSeconds * 2) / 3 })) {
      if (windowError) break;
      // Wait for a free engine only now, with this window already decoded: decoding the next window overlaps the
      // engines' work instead of leaving an engine idle while ffmpeg catches up. Memory: engines + 1 windows.
      while (inFlight.size >= pool.size) await Promise.race(inFlight);
      const index = results.length;
      results.push(undefined);
      samples += window.pcm.length / BYTES_PER_SAMPLE;
      const seconds = window.pcm.length / BYTES_PER_SAMPLE / SAMPLE_RATE;
      // Too quiet to hold speech, or too short to say a word in: the engine would only make something up.
      if (window.peakDb < SILENCE_DB || seconds < 0.2) continue;
      // Never rejects: a failed window is remembered, so no rejection goes unobserved while others are in flight.
      const job: Promise<void> = pool
        .use((engine) => transcribeWindow(engine, window, seconds, options))
        .then(
          (result) => {
            results[index] = result;
          },
          (error: unknown) => {
            windowError ??= error;
          },
        )
        .finally(() => inFlight.delete(job));
      inFlight.add(job);
    }
  } catch (error) {
    decodeError = error;
  }
  // Let the windows already sent finish before their engines are reused or closed.
  await Promise.all(inFlight);
  // Rethrown as caught: the first window or decoder failure, unchanged.
  // eslint-disable-next-line @typescript-eslint/only-throw-error
  if (decodeError) throw decodeError;
  // eslint-disable-next-line @typescript-eslint/only-throw-error
  if (windowError) throw windowError;

  const segments: Segment[] = [];
  for (const result of results) {
    for (const segment of result?.segments ?? []) {
      const previous = segments.at(-1);
      // Keep times monotonic even where a window's first segment starts a hair before the last one ended.
      const start = previous ? Math.max(segment.start, previous.start) : segment.start;
      segments.push({ start: round(start), end: round(Math.max(segment.end, start)), text: segment.text });
    }
  }
  const languageName = results.find((result) => result?.language)?.language;
  const duration = round(samples / SAMPLE_RATE);
  // The engine says which language it used: the detected one, the one asked for, or English for `.en` models.
  const language = languageName ? languageCode(languageName) : options.language && options.language !== 'auto' ? options.language : 'en';
  const result: TranscriptResult = {
    version: 1,
    file: options.name,
    duration,
    language: options.translate ? 'en' : language,
    model: options.model,
    text: segments.map((segment) => segment.text).join(' '),
    segments,
  };
  if (segments.length === 0) result.noSpeech = true;
  if (cutAt !== undefined) result.cutAt = cutAt;
  return result;
}

interface WindowResult {
  language: string;
  /** Speech segments only, on the file's clock. */
  segments: Segment[];
}

async function transcribeWindow(engine: Engine, window: AudioWindow, seconds: number, options: TranscribeOptions): Promise<WindowResult> {
  const started = performance.now();
  const request = {
    wav: wavFile(window.pcm),
    audioCtx: audioContextFor(seconds, engine.contextStep),
    language: options.language,
    translate: options.translate,
  };
  let result = await engine.transcribe(request);
  let retried: false | 'repeat' | 'unsure' = false;
  if (request.audioCtx !== 0) {
    const first = speechOf(result);
    const repeats = repeatsItself(first.map((segment) => segment.text).join(' '));
    if (repeats || confidence(first) < UNSURE_LOGPROB) {
      const wider = repeats || request.audioCtx >= RETRY_FRAMES ? 0 : RETRY_FRAMES;
      const full = await engine.transcribe({ ...request, audioCtx: wider });
      const second = speechOf(full);
      retried = repeats ? 'repeat' : 'unsure';
      // A repeat is settled by the full context (see repeatsItself); otherwise the surer of the two readings wins.
      if (repeats || (second.length > 0 && confidence(second) > confidence(first))) result = full;
    }
  }
  options.log?.debug(
    { offset: window.offset, seconds, segments: result.segments.length, retried, ms: Math.round(performance.now() - started) },
    'window transcribed',
  );
  const segments: Segment[] = [];
  for (const segment of result.segments) {
    if (!isSpeech(segment)) continue;
    const text = cleanText(segment.text);
    if (!text) continue;
    const start = window.offset + Math.min(Math.max(0, segment.start), seconds);
    const end = window.offset + Math.min(Math.max(segment.start, segment.end), seconds);
    segments.push({ start, end, text });
  }
  return { language: result.language, segments };
}
