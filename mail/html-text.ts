/** HTML past this is not read for text: choices sit in a mail's first lines, and a hostile body must stay cheap. */
const HTML_READ_LIMIT = 64 * 1024;

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/**
 * The readable text of an HTML body's first 64 KB, for the sender's choices (`format: vtt`): tags dropped, block
 * ends as line breaks, scripts and styles left out, common entities decoded. Linear in its input, never building
 * a DOM: a full HTML-to-text conversion of a deeply nested or list-heavy body blocked the process for seconds and
 * overflowed the stack.
 */
export function htmlToPlain(html: string): string {
  return withoutCode(html.slice(0, HTML_READ_LIMIT))
    .replace(/<(?:br|\/p|\/div|\/li|\/h[1-6]|\/tr)\b[^>]*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z]{2,6});/gi, (entity: string, name: string) => {
      const lower = name.toLowerCase();
      if (lower.startsWith('#')) {
        const code = lower.startsWith('#x') ? parseInt(lower.slice(2), 16) : parseInt(lower.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
      }
      return ENTITIES[lower] ?? entity;
    })
    .replace(/[ \t]+\n/g, '\n');
}

/** The HTML without its `<script>` and `<style>` elements, by one scan (a regex could backtrack on unclosed ones). */
function withoutCode(html: string): string {
  const lower = html.toLowerCase();
  let out = '';
  let at = 0;
  for (;;) {
    const open = /<(script|style)\b/g;
    open.lastIndex = at;
    const found = open.exec(lower);
    if (!found) return out + html.slice(at);
    out += html.slice(at, found.index);
    const close = lower.indexOf(`</${found[1]}`, found.index);
    if (close < 0) return out;
    const end = lower.indexOf('>', close);
    if (end < 0) return out;
    at = end + 1;
  }
}
