/** The name without its extension: "voice.ogg" -> "voice". */
export function stem(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/**
 * The stems of the files sent back for one order (`STEM_result.json`, `STEM.srt`), made unique so
 * two "voice.ogg" do not overwrite each other's results.
 */
export function uniqueStems(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((name) => {
    const s = stem(name);
    const count = (seen.get(s.toLowerCase()) ?? 0) + 1;
    seen.set(s.toLowerCase(), count);
    return count === 1 ? s : `${s}-${count}`;
  });
}
