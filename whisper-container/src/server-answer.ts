import { z } from 'zod';
import type { EngineResult } from './engine';

const time = z.number().finite().min(0);

/**
 * The part of whisper-server's `verbose_json` answer the worker uses. whisper.cpp 1.9.1 always sends every field;
 * the optional ones default as the server's own code does, and anything else (a string where a time belongs, a
 * segment ending before it starts) is an engine fault, not a transcript.
 */
const serverError = z.object({ error: z.string() });
const verboseJson = z.object({
  language: z.string().min(1).default('english'),
  segments: z
    .array(
      z
        .object({
          start: time,
          end: time,
          text: z.string(),
          no_speech_prob: z.number().finite().min(0).max(1).default(0),
          avg_logprob: z.number().finite().max(0).default(0),
        })
        .refine((segment) => segment.end >= segment.start, 'a segment ends before it starts'),
    )
    .default([]),
});

/** Reads an `/inference` answer's body; throws a one-line error naming what was wrong with it. */
export function parseServerAnswer(body: string): EngineResult {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new Error(`whisper-server answered something that is not JSON: ${body.slice(0, 200)}`);
  }
  const failed = serverError.safeParse(json);
  if (failed.success) throw new Error(`whisper-server: ${failed.data.error}`);
  const parsed = verboseJson.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`whisper-server answered an unexpected shape: ${issue.path.join('.') || 'answer'}: ${issue.message}`);
  }
  return {
    language: parsed.data.language,
    segments: parsed.data.segments.map((segment) => ({
      start: segment.start,
      end: segment.end,
      text: segment.text,
      noSpeechProb: segment.no_speech_prob,
      avgLogprob: segment.avg_logprob,
    })),
  };
}
