import type { TranscriptResult } from '../domain/transcript';
import { renderSrt, renderVtt } from './subtitles';

export { timecode } from './timecode';
export { renderSrt, renderVtt } from './subtitles';

/** The ways a transcript can be handed to a person or a player. */
export const transcriptFormats = ['txt', 'srt', 'vtt', 'json'] as const;
export type TranscriptFormat = (typeof transcriptFormats)[number];

/** True when `value` names a format `renderTranscript` knows. */
export function isTranscriptFormat(value: string): value is TranscriptFormat {
  return (transcriptFormats as readonly string[]).includes(value);
}

/** MIME type of each format, for attachments and HTTP responses. */
export const formatContentType: Record<TranscriptFormat, string> = {
  txt: 'text/plain; charset=utf-8',
  srt: 'application/x-subrip; charset=utf-8',
  vtt: 'text/vtt; charset=utf-8',
  json: 'application/json',
};

/**
 * Renders a transcript. `txt` is one segment per line (readable, and diff-friendly when re-run);
 * `json` is the `NAME_result.json` document itself. A no-speech result renders as empty text and
 * cue-less subtitles; saying "no speech" to the user is the caller's sentence to choose.
 */
export function renderTranscript(result: TranscriptResult, format: TranscriptFormat): string {
  switch (format) {
    case 'txt': {
      const lines = result.segments.map((segment) => segment.text.replace(/\s+/g, ' ').trim()).filter(Boolean);
      const text = lines.length > 0 ? lines.join('\n') : result.text.trim();
      return text ? `${text}\n` : '';
    }
    case 'srt':
      return renderSrt(result.segments);
    case 'vtt':
      return renderVtt(result.segments);
    case 'json':
      return `${JSON.stringify(result, null, 2)}\n`;
  }
}
