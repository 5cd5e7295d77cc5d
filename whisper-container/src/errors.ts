import type { TranscriptFailure } from '../../src/domain/transcript';

export type FailureCode = TranscriptFailure['error']['code'];

/**
 * One input could not be transcribed. The message is a plain sentence a user may be shown
 * ("The file is not audio or video."), never ffmpeg's or the engine's own words.
 */
export class InputError extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'InputError';
  }
}
