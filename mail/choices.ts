import type { ChatCommand } from '../src/ports/channel';

/** Email's stand-in for the chat commands: `language: de`, `translate: on`, `format: srt vtt`. */
const NAMES = ['language', 'translate', 'format'] as const;

/** A choice as written: its name, a colon, and its value up to the end, a `;` or the next choice. */
const CHOICE = /\b(language|translate|format)\s*:\s*([a-z0-9.,\s]*?)\s*(?=$|;|\b(?:language|translate|format)\s*:)/gi;

/** Only the top of a body is read: choices belong above the signature and any quoted mail. */
const BODY_LINES = 20;
const MAX_CHOICES = NAMES.length * 2;

/**
 * The choices a mail writes in its subject or at the top of its body, one per name (the body's last one
 * wins over the subject's). Quoted lines (`> format: vtt`, from an earlier reply) are not the sender's
 * choices now, and reading stops at the first of them or at a signature (`-- `).
 */
export function parseChoices(subject: string | undefined, body: string | undefined): ChatCommand[] {
  const lines: string[] = [];
  for (const line of (body ?? '').split(/\r?\n/, BODY_LINES)) {
    if (line.startsWith('>') || line === '-- ' || /^On .+ wrote:$/.test(line.trim())) break;
    lines.push(line);
  }
  const found = new Map<string, string>();
  for (const source of [subject ?? '', ...lines]) {
    for (const match of source.slice(0, 1000).matchAll(CHOICE)) {
      if (found.size >= MAX_CHOICES) break;
      found.set(match[1].toLowerCase(), match[2].trim().slice(0, 100));
    }
  }
  return NAMES.filter((name) => found.has(name)).map((name) => ({ name, args: found.get(name)! }));
}
