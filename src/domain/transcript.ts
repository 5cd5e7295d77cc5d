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
