/** One `Authentication-Results` header field (RFC 8601), reduced to what sender checks need. */
export interface AuthResults {
  authservId: string;
  results: { method: string; result: string; props: Record<string, string> }[];
}

/** Removes RFC 5322 comments, nested ones included, leaving quoted strings alone. */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '\\' && i + 1 < value.length) {
      if (depth === 0) out += c + value[i + 1];
      i++;
    } else if (quoted) {
      out += c;
      if (c === '"') quoted = false;
    } else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if (depth === 0) {
      if (c === '"') quoted = true;
      out += c;
    }
  }
  return out;
}

/** Parses an unfolded `Authentication-Results` value; undefined when it is not one. */
export function parseAuthResults(value: string): AuthResults | undefined {
  const parts = stripComments(value)
    .split(';')
    .map((p) => p.trim());
  // authserv-id may be followed by a version number.
  const authservId = parts[0]?.split(/\s+/)[0]?.toLowerCase();
  if (!authservId) return undefined;
  const results: AuthResults['results'] = [];
  for (const part of parts.slice(1)) {
    const m = /^([a-z0-9_.-]+)\s*=\s*([a-z]+)\b(.*)$/i.exec(part);
    if (!m) continue;
    const props: Record<string, string> = {};
    for (const p of m[3].matchAll(/([a-z0-9_-]+\.[a-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]+)/gi)) {
      props[p[1].toLowerCase()] = p[2].replace(/^"|"$/g, '').toLowerCase();
    }
    results.push({ method: m[1].toLowerCase(), result: m[2].toLowerCase(), props });
  }
  return { authservId, results };
}
