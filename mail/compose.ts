import { createHash } from 'node:crypto';
import type Mail from 'nodemailer/lib/mailer';
import type { Reply, ReplyAddress } from '../src/ports/channel';
import { text } from '../src/messages';
import { groupFiles } from './split';

/** Longest References chain sent: the first id (the thread root) and the most recent ones. */
const MAX_REFERENCES = 20;

/** "Re: <subject>", never "Re: Re: <subject>". */
export function replySubject(subject: string | undefined): string {
  let s = (subject ?? '').trim();
  for (;;) {
    const stripped = s.replace(/^(re|aw|sv)\s*(\[\d+\])?\s*:\s*/i, '');
    if (stripped === s) break;
    s = stripped;
  }
  return `Re: ${s || 'your recording'}`;
}

/** The References header of a reply: the chain so far plus the message answered. */
export function replyReferences(to: ReplyAddress): string[] {
  const chain = [...new Set([...(to.references ?? []), to.messageId].filter((id) => id && id.trim()))];
  return chain.length <= MAX_REFERENCES ? chain : [chain[0], ...chain.slice(chain.length - MAX_REFERENCES + 1)];
}

const escapeHtml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const paragraphs = (text: string): string =>
  text
    .split(/\n{2,}/)
    .map((p) => `<p>${escapeHtml(p).replace(/\n/g, '<br>')}</p>`)
    .join('\n');

/** The reply's own Message-ID, derived from the reply key so a resent reply carries the same id. */
export function replyMessageId(key: string, from: string): string {
  const domain = from.includes('@') ? from.slice(from.lastIndexOf('@') + 1).replace(/>.*$/, '') : 'localhost';
  return `<reply.${createHash('sha256').update(key).digest('hex').slice(0, 32)}@${domain}>`;
}

/** Turns one core reply into a threaded email: text and HTML parts, pay link, balance, files. */
export function composeReply(to: ReplyAddress, reply: Reply, from: string): Mail.Options {
  const owed = reply.owedSeconds ? ` ${text.owed(reply.owedSeconds)}` : '';
  const balance = reply.balanceSeconds === undefined ? undefined : text.balanceLine(reply.balanceSeconds) + owed;
  const textParts = [reply.text.trim()];
  const htmlParts = [paragraphs(reply.text.trim())];
  if (reply.action) {
    textParts.push(`${reply.action.label}: ${reply.action.url}`);
    htmlParts.push(`<p><a href="${escapeHtml(reply.action.url)}">${escapeHtml(reply.action.label)}</a></p>`);
  }
  if (balance) {
    textParts.push(balance);
    htmlParts.push(`<p>${escapeHtml(balance)}</p>`);
  }
  const references = replyReferences(to);
  return {
    from,
    to: to.chatId,
    subject: replySubject(to.subject),
    messageId: replyMessageId(reply.key, from),
    inReplyTo: to.messageId || undefined,
    references: references.length ? references : undefined,
    // RFC 3834: tells vacation responders and other robots not to answer us.
    headers: { 'Auto-Submitted': 'auto-replied' },
    text: `${textParts.join('\n\n')}\n`,
    html: `<!doctype html>\n<html><body>\n${htmlParts.join('\n')}\n</body></html>\n`,
    attachments: (reply.files ?? []).map((f) => ({ filename: f.name, content: f.content, contentType: f.contentType })),
  };
}

/**
 * The mails one reply becomes: one, unless its files go over `maxBytes`; then the first carries the text
 * (saying how many mails follow) and the files that fit, and the rest of the files follow in the same thread,
 * each mail under `maxBytes`, a file too large for any mail in parts (`groupFiles`). Each mail's key (for its
 * Message-ID and for not sending it twice) is the reply's, with `#N` after the first.
 */
export function composeReplies(to: ReplyAddress, reply: Reply, from: string, maxBytes: number): { key: string; mail: Mail.Options }[] {
  const files = reply.files ?? [];
  const textBytes = Buffer.byteLength(reply.text) + Buffer.byteLength(reply.action?.url ?? '') + 200;
  const groups = groupFiles(files, textBytes, maxBytes);
  if (groups.length === 1) return [{ key: reply.key, mail: composeReply(to, reply, from) }];
  const cut = files.filter((f) => !groups.some((g) => g.some((piece) => piece.name === f.name))).map((f) => f.name);
  const first = { ...reply, text: `${reply.text.trim()}\n\n${text.mailParts(groups.length, cut)}`, files: groups[0] };
  return groups.map((group, i) => {
    if (i === 0) return { key: reply.key, mail: composeReply(to, first, from) };
    const key = `${reply.key}#${i + 1}`;
    return {
      key,
      mail: composeReply(
        to,
        { key, kind: reply.kind, orderId: reply.orderId, text: text.mailPart(i + 1, groups.length), files: group },
        from,
      ),
    };
  });
}
