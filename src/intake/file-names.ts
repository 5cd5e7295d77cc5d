/**
 * Cleans a user's file name for display and for the names of the files sent back
 * (`NAME_result.json`). Never used as a storage path: keys come from ids.
 */
export function displayName(raw: string | undefined, position: number): string {
  const base = (raw ?? '').split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .normalize('NFC')
    .replace(/[\u0000-\u001f\u007f<>:"|?*]/g, '')
    .replace(/^\.+/, '')
    .trim()
    .slice(0, 120);
  return cleaned || `recording-${position + 1}`;
}

/** The name without its extension: "voice.ogg" -> "voice". */
export function stem(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/** Makes stems unique within one order, so two "voice.ogg" do not overwrite each other's results. */
export function uniqueStems(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const s = stem(name);
    const count = (seen.get(s.toLowerCase()) ?? 0) + 1;
    seen.set(s.toLowerCase(), count);
    return count === 1 ? s : `${s}-${count}`;
  });
}
