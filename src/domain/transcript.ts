import { z } from 'zod';

/** One timed piece of a transcript; times in seconds from the start of the file. */
export interface Segment {
  start: number;
  end: number;
  text: string;
}

/** `NAME_result.json`, version 1, as docs/result-format.md describes it. */
export interface TranscriptResult {
  version: 1;
  file: string;
  duration: number;
  language: string;
  model: string;
  text: string;
  segments: Segment[];
  /** True when the audio holds no speech; `text` is then empty. */
  noSpeech?: boolean;
  /**
   * Set when the audio went on past the seconds charged for it (its header or the platform understated it): only
   * the first `cutAt` seconds were transcribed, and `duration` is what was.
   */
  cutAt?: number;
}

/** Written instead of a result when one input could not be transcribed; the job's other inputs go on. */
export interface TranscriptFailure {
  version: 1;
  file: string;
  error: { code: 'not_audio' | 'corrupt' | 'too_long' | 'engine'; message: string };
}

export type ResultFile = TranscriptResult | TranscriptFailure;

export const isFailure = (r: ResultFile): r is TranscriptFailure => 'error' in r;

const seconds = z.number().finite().min(0);

const transcriptResult = z.object({
  version: z.literal(1),
  file: z.string(),
  duration: seconds,
  language: z.string().min(1),
  model: z.string().min(1),
  text: z.string(),
  segments: z.array(z.object({ start: seconds, end: seconds, text: z.string() })),
  noSpeech: z.boolean().optional(),
  cutAt: seconds.optional(),
});

const transcriptFailure = z.object({
  version: z.literal(1),
  file: z.string(),
  error: z.object({ code: z.enum(['not_audio', 'corrupt', 'too_long', 'engine']), message: z.string() }),
});

/**
 * `NAME_result.json` (docs/result-format.md): checked by the worker before it writes one and by the service when it
 * reads one, so a worker of another version, or a bug, cannot hand the service a transcript it would render wrong.
 */
export const resultFileSchema: z.ZodType<ResultFile> = z.union([transcriptFailure, transcriptResult]);

/** A result file's text read, or why it is not one (the first problem, as one line). */
export function parseResultFile(text: string): { ok: true; result: ResultFile } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const parsed = resultFileSchema.safeParse(json);
  if (parsed.success) return { ok: true, result: parsed.data };
  const issue = parsed.error.issues[0]!;
  return { ok: false, reason: `${issue.path.join('.') || 'result'}: ${issue.message}` };
}
