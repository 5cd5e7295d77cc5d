/**
 * Formats seconds as a subtitle timecode `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (WebVTT).
 * Rounds to whole milliseconds first so 59.9996 s becomes 00:01:00,000, never 00:00:59,1000.
 */
export function timecode(seconds: number, separator: ',' | '.'): string {
  const totalMs = Math.max(0, Math.round((Number.isFinite(seconds) ? seconds : 0) * 1000));
  const ms = totalMs % 1000;
  const totalSeconds = Math.floor(totalMs / 1000);
  const s = totalSeconds % 60;
  const m = Math.floor(totalSeconds / 60) % 60;
  const h = Math.floor(totalSeconds / 3600);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${separator}${pad(ms, 3)}`;
}
