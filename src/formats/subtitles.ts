import type { Segment } from '../domain/transcript';
import { timecode } from './timecode';

/** Segments worth a cue: players show nothing useful for empty text, and an end before the start breaks some of them. */
function cues(segments: Segment[]): Segment[] {
  return segments
    .map((segment) => ({ ...segment, text: segment.text.replace(/\s+/g, ' ').trim() }))
    .filter((segment) => segment.text.length > 0)
    .map((segment) => ({ ...segment, end: Math.max(segment.end, segment.start + 0.001) }));
}

/** SubRip: numbered cues, comma before the milliseconds. `-->` inside text would end a cue's timing line, so it is broken up. */
export function renderSrt(segments: Segment[]): string {
  return cues(segments)
    .map((cue, index) => `${index + 1}\n${timecode(cue.start, ',')} --> ${timecode(cue.end, ',')}\n${cue.text.replaceAll('-->', '->')}\n`)
    .join('\n');
}

/** WebVTT: a header, dot before the milliseconds, and `&`, `<`, `>` escaped because cue text is markup there. */
export function renderVtt(segments: Segment[]): string {
  const escape = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
  const body = cues(segments)
    .map((cue) => `${timecode(cue.start, '.')} --> ${timecode(cue.end, '.')}\n${escape(cue.text)}\n`)
    .join('\n');
  return body ? `WEBVTT\n\n${body}` : 'WEBVTT\n';
}
