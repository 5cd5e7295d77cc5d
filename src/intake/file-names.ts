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
    .trim()
    .slice(0, 120);
  return cleaned || `recording-${position + 1}`;
}
