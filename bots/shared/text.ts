/** Cuts text into pieces a chat platform accepts, at line or word breaks where it can. Empty text gives no pieces. */
export function splitText(text: string, limit: number): string[] {
  const pieces: string[] = [];
  let rest = text.trim();
  while (rest.length > limit) {
    let cut = rest.lastIndexOf('\n', limit);
    if (cut < limit / 2) cut = rest.lastIndexOf(' ', limit);
    if (cut < limit / 2) cut = limit;
    // Never between the two halves of one character (an emoji, much CJK punctuation): neither half is text.
    const code = rest.charCodeAt(cut - 1);
    if (code >= 0xd800 && code <= 0xdbff) cut -= 1;
    pieces.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).trimStart();
  }
  if (rest) pieces.push(rest);
  return pieces;
}

/** Two "voice.ogg" in one message would give two results with one name; the second becomes "voice-2.ogg". */
export function uniqueName(name: string, taken: Set<string>): string {
  let candidate = name;
  for (let n = 2; taken.has(candidate.toLowerCase()); n++) {
    const dot = name.lastIndexOf('.');
    candidate = dot > 0 ? `${name.slice(0, dot)}-${n}${name.slice(dot)}` : `${name}-${n}`;
  }
  taken.add(candidate.toLowerCase());
  return candidate;
}

/**
 * Text cut to `limit` for a platform that takes one message only (a status that is edited in place). Its last
 * paragraph survives whole: in a quote that is the price and what to do, which a plain cut would lose first; the
 * lines before it are shortened, marked with "…".
 */
export function fitText(text: string, limit: number): string {
  if (text.length <= limit) return text;
  const at = text.lastIndexOf('\n\n');
  const tail = at >= 0 ? text.slice(at) : '';
  if (!tail || tail.length > limit / 2) return `${head(text, limit - 1)}…`;
  return `${head(text, limit - tail.length - 1)}…${tail}`;
}

/** The first `length` code units of `text`, one fewer when the cut would halve a character. */
function head(text: string, length: number): string {
  const code = text.charCodeAt(length - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? length - 1 : length);
}
