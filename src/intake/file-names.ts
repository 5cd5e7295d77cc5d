/**
 * Cleans a user's file name for display and for the names of the files sent back
 * (`NAME_result.json`). Never used as a storage path: keys come from ids.
 */
export function displayName(raw: string | undefined, position: number): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .normalize('NFC')
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is stripped
    .replace(/[\u0000-\u001f\u007f<>:"|?*]/g, '')
    .replace(/^\.+/, '')
    .trim();
  // By code points, so a cut never splits an emoji's surrogate pair into text no platform can encode.
  const short = Array.from(cleaned).slice(0, 120).join('').trim();
  return short || `recording-${position + 1}`;
}
