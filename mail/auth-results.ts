/**
 * RFC 8601 `Authentication-Results`, read by a tokenizer rather than split on `;`: a `;` or `dmarc=pass` inside
 * a quoted string (an envelope sender's local part the receiving server copied in) or a comment is text, not
 * structure. Anything that does not read as a whole field is refused, so a sender check never rests on a guess.
 */

/** One `ptype.property=value`, e.g. `header.from=example.com`; ptype and property lower-cased, value as written. */
export interface AuthProperty {
  ptype: string;
  property: string;
  value: string;
}

/** One resinfo: `method=result`, e.g. `dmarc=pass header.from=example.com`. */
export interface MethodResult {
  method: string;
  version?: string;
  result: string;
  reason?: string;
  props: AuthProperty[];
}

/** One `Authentication-Results` field value. */
export interface AuthResults {
  /** Lower-cased. */
  authservId: string;
  version?: number;
  /** Empty for `none`. */
  results: MethodResult[];
}

interface Token {
  kind: 'word' | 'quoted' | '=' | ';';
  /** A word as written; a quoted string's content, unescaped. */
  text: string;
  start: number;
  end: number;
  /** Whitespace or a comment came before it. */
  spaced: boolean;
}

const WHITESPACE = new Set([' ', '\t', '\r', '\n']);
/** Ends a word: whitespace, a comment, a quoted string, or the two separators the grammar needs. */
const WORD_END = new Set([...WHITESPACE, '(', ')', '"', '=', ';']);
/** RFC 8601 Keyword (an ldh-str); `_` too, which some servers use in property names. */
const KEYWORD = /^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$/i;

/** Splits a field value into tokens, dropping CFWS (nested comments included); undefined on an unclosed quote or comment. */
function tokenize(value: string): Token[] | undefined {
  const tokens: Token[] = [];
  let spaced = true;
  let i = 0;
  while (i < value.length) {
    const c = value[i];
    if (WHITESPACE.has(c)) {
      spaced = true;
      i++;
    } else if (c === '(') {
      let depth = 0;
      for (; i < value.length; i++) {
        if (value[i] === '\\') i++;
        else if (value[i] === '(') depth++;
        else if (value[i] === ')' && --depth === 0) break;
      }
      if (depth !== 0) return undefined;
      spaced = true;
      i++;
    } else if (c === ')') {
      return undefined;
    } else if (c === '"') {
      const start = i;
      let text = '';
      for (i++; i < value.length && value[i] !== '"'; i++) {
        if (value[i] === '\\') i++;
        if (i < value.length) text += value[i];
      }
      if (i >= value.length) return undefined;
      i++;
      tokens.push({ kind: 'quoted', text, start, end: i, spaced });
      spaced = false;
    } else if (c === '=' || c === ';') {
      tokens.push({ kind: c, text: c, start: i, end: i + 1, spaced });
      spaced = false;
      i++;
    } else {
      const start = i;
      while (i < value.length && !WORD_END.has(value[i])) i++;
      tokens.push({ kind: 'word', text: value.slice(start, i), start, end: i, spaced });
      spaced = false;
    }
  }
  return tokens;
}

/** Reads tokens in order; every `take` either consumes what the grammar wants or reports that it is not there. */
class Reader {
  private at = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly source: string,
  ) {}

  peek(): Token | undefined {
    return this.tokens[this.at];
  }

  done(): boolean {
    return this.at >= this.tokens.length;
  }

  take(kind: Token['kind']): Token | undefined {
    const token = this.tokens[this.at];
    if (token?.kind !== kind) return undefined;
    this.at++;
    return token;
  }

  /** A Keyword word, lower-cased. */
  keyword(): string | undefined {
    const token = this.peek();
    if (token?.kind !== 'word' || !KEYWORD.test(token.text)) return undefined;
    this.at++;
    return token.text.toLowerCase();
  }

  /**
   * A property value: the tokens that follow without CFWS between them, `=` included (VERP and SRS envelope
   * senders have it). One quoted string alone is its content; anything else (`"local part"@domain`) as written.
   */
  propertyValue(): string | undefined {
    const first = this.peek();
    if (!first || first.kind === ';' || first.kind === '=') return undefined;
    let last = first;
    this.at++;
    for (let next = this.peek(); next && !next.spaced && next.kind !== ';'; next = this.peek()) {
      last = next;
      this.at++;
    }
    if (last === first && first.kind === 'quoted') return first.text;
    return this.source.slice(first.start, last.end);
  }
}

/** `method[/version]=result`, then its reason and properties up to the next `;`. */
function readResinfo(reader: Reader): MethodResult | undefined {
  const methodToken = reader.take('word');
  if (!methodToken) return undefined;
  const [method, version, ...rest] = methodToken.text.split('/');
  if (!KEYWORD.test(method) || rest.length > 0 || (version !== undefined && !/^\d+$/.test(version))) return undefined;
  if (!reader.take('=')) return undefined;
  const result = reader.keyword();
  if (!result) return undefined;
  const entry: MethodResult = { method: method.toLowerCase(), ...(version ? { version } : {}), result, props: [] };
  while (!reader.done() && reader.peek()?.kind !== ';') {
    const key = reader.peek();
    if (key?.kind !== 'word' || !key.spaced) return undefined;
    reader.take('word');
    if (!reader.take('=')) return undefined;
    const value = reader.propertyValue();
    if (value === undefined) return undefined;
    const dot = key.text.indexOf('.');
    if (dot < 0) {
      if (!KEYWORD.test(key.text)) return undefined;
      // `reason` is the standard one; others (`action=none`, `x-bits=2048`) are vendors' extensions, read and passed over.
      if (key.text.toLowerCase() === 'reason') entry.reason = value;
      continue;
    }
    const ptype = key.text.slice(0, dot);
    const property = key.text.slice(dot + 1);
    if (!KEYWORD.test(ptype) || !KEYWORD.test(property)) return undefined;
    entry.props.push({ ptype: ptype.toLowerCase(), property: property.toLowerCase(), value });
  }
  return entry;
}

/**
 * Parses one unfolded `Authentication-Results` value (the part after the colon). Returns undefined when it is
 * not a well-formed field: no authserv-id (Microsoft 365 writes none), an unclosed quote or comment, a resinfo
 * that is not `method=result [property=value ...]`.
 */
export function parseAuthResults(value: string): AuthResults | undefined {
  const tokens = tokenize(value);
  if (!tokens) return undefined;
  const reader = new Reader(tokens, value);
  const id = reader.peek();
  if (id?.kind !== 'word' && id?.kind !== 'quoted') return undefined;
  reader.take(id.kind);
  const authservId = id.text.toLowerCase();
  if (!authservId) return undefined;
  const field: AuthResults = { authservId, results: [] };
  const version = reader.peek();
  if (version?.kind === 'word' && /^\d+$/.test(version.text)) {
    reader.take('word');
    field.version = Number(version.text);
  }
  if (!reader.take(';')) return undefined;
  const none = reader.peek();
  if (none?.kind === 'word' && none.text.toLowerCase() === 'none') {
    reader.take('word');
    return reader.done() ? field : undefined;
  }
  do {
    const entry = readResinfo(reader);
    if (!entry) return undefined;
    field.results.push(entry);
    // One `;` at the very end is tolerated: Microsoft and others write it.
  } while (reader.take(';') && !reader.done());
  return reader.done() ? field : undefined;
}
