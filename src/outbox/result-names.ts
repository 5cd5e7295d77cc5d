/** The name without its extension: "voice.ogg" -> "voice". */
export function stem(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/**
 * The stems of the files sent back for one order (`STEM_result.json`, `STEM.srt`), made unique so
 * two "voice.ogg" do not overwrite each other's results. Each name keeps its own stem where no earlier
 * file has it; a repeat gets the first `-N` no file of the order has, so "talk.ogg", "talk.mp3" and
 * "talk-2.ogg" become talk, talk-3 and talk-2 rather than two talk-2. Case is ignored, as a
 * case-insensitive file system would.
 */
export function uniqueStems(names: string[]): string[] {
  const stems = names.map(stem);
  const owner = new Map<string, number>();
  stems.forEach((s, i) => {
    if (!owner.has(s.toLowerCase())) owner.set(s.toLowerCase(), i);
  });
  const taken = new Set(owner.keys());
  return stems.map((s, i) => {
    if (owner.get(s.toLowerCase()) === i) return s;
    let n = 2;
    while (taken.has(`${s}-${n}`.toLowerCase())) n++;
    taken.add(`${s}-${n}`.toLowerCase());
    return `${s}-${n}`;
  });
}
