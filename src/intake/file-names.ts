/**
 * Cleans a user's file name for display and for the names of the files sent back
 * (`NAME_result.json`). Never used as a storage path: keys come from ids.
 */
export function displayName(raw: string | undefined, position: number): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .normalize('NFC')
    // Control characters (C0 and C1), line and paragraph separators, text-direction marks and zero-width spaces: a
    // name could otherwise start a forged line in the reply or show its extension reversed.
    // eslint-disable-next-line no-control-regex -- control characters are exactly what is stripped
    .replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff<>:"|?*]/g, '')
    .replace(/^\.+/, '')
    .trim();
  // By code points, so a cut never splits an emoji's surrogate pair into text no platform can encode.
  const short = Array.from(cleaned).slice(0, 120).join('').trim();
  return short || `recording-${position + 1}`;
}
