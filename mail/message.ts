import { simpleParser, type AddressObject, type EmailAddress } from 'mailparser';
import { mailboxIdentity } from '../src/email-identity';
import type { IncomingMessage } from '../src/ports/channel';
import { parseChoices } from './choices';
import type { ParsedBody } from './download';

/** The header facts the mail channel decides on, read before the body is downloaded. */
export interface MailHeaders {
  /** As written, with angle brackets; absent when the mail has none. */
  messageId?: string;
  /** The first From address, lower-cased, and its display name. */
  from?: { address: string; name?: string };
  /** How many addresses From holds; DMARC only vouches for a single one. */
  fromCount: number;
  subject?: string;
  /** The References chain, oldest first. */
  references: string[];
  /** Every header field, unfolded, topmost first; names lower-cased. */
  fields: { name: string; value: string }[];
}

/** All values of one header field, topmost first. */
export function headerValues(headers: MailHeaders, name: string): string[] {
  const key = name.toLowerCase();
  return headers.fields.filter((f) => f.name === key).map((f) => f.value);
}

const flatten = (list: EmailAddress[]): EmailAddress[] => list.flatMap((a) => (a.group ? flatten(a.group) : a.address ? [a] : []));

/** Parses a raw header block (as IMAP `BODY.PEEK[HEADER]` returns it). */
export async function parseHeaders(raw: Buffer): Promise<MailHeaders> {
  // The header block alone parses as a message without a body; mailparser decodes encoded words.
  const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  const fromObjects: AddressObject[] = parsed.from ? [parsed.from] : [];
  const addresses = flatten(fromObjects.flatMap((o) => o.value));
  const first = addresses[0];
  const refs = parsed.references === undefined ? [] : Array.isArray(parsed.references) ? parsed.references : [parsed.references];
  return {
    messageId: parsed.messageId?.trim() || undefined,
    from: first?.address ? { address: first.address.trim().toLowerCase(), name: first.name || undefined } : undefined,
    fromCount: addresses.length,
    subject: parsed.subject,
    references: refs.flatMap((r) => r.split(/\s+/)).filter((r) => r.length > 0),
    fields: parsed.headerLines.map((h) => ({
      name: h.key,
      value: h.line
        .slice(h.line.indexOf(':') + 1)
        .replace(/\r?\n[ \t]+/g, ' ')
        .trim(),
    })),
  };
}

/**
 * The core's message for a mail whose sender passed the checks. The sender is part of the id: someone
 * reusing another's Message-ID cannot make their mail a "duplicate". Lines such as `format: vtt` in the
 * subject or body are the sender's choices, as commands are in chats. The sender's identity is the mailbox
 * (`mailboxIdentity`: `ann+news@gmail.com` is ann@gmail.com); replies go to the address that wrote.
 */
export function toIncoming(headers: MailHeaders & { from: { address: string; name?: string } }, body: ParsedBody): IncomingMessage {
  const from = headers.from.address;
  return {
    channel: 'email',
    id: headers.messageId ? `mail:${from}:${headers.messageId}` : `mail:${from}:sha256:${body.rawHash}`,
    sender: { id: mailboxIdentity(from), name: headers.from.name },
    replyTo: {
      channel: 'email',
      chatId: from,
      messageId: headers.messageId ?? '',
      subject: headers.subject,
      references: headers.references,
    },
    choices: parseChoices(headers.subject, body.text),
    attachments: body.attachments,
    text: body.text,
  };
}
