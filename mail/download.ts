import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MailParser, type AttachmentStream, type MessageText } from 'mailparser';
import { AttachmentRefusal, type IncomingAttachment } from '../src/ports/channel';
import { isMediaFile } from '../src/media/media-types';
import { text as wording } from '../src/messages';
import { htmlToPlain } from './html-text';
import { TextBudget } from './text-budget';

/** Text beyond this is cut: the core only needs the gist of a mail body. */
const TEXT_LIMIT = 10_000;

/** A mail's body, with its attachments waiting in temp files. */
export interface ParsedBody {
  /** sha256 of the raw message, a stable id for mail without a Message-ID. */
  rawHash: string;
  text?: string;
  attachments: IncomingAttachment[];
  /** Removes the temp files; call once the handler is done with the attachments. */
  cleanup(): Promise<void>;
}

/** Counts bytes and, past the limit, swallows the rest so the parser keeps draining the message. */
class ByteLimit extends Transform {
  bytes = 0;
  exceeded = false;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) this.exceeded = true;
    done(null, this.exceeded ? undefined : chunk);
  }
}

/** Signatures that travel as parts of a signed mail: they belong to the mail, not to what the sender sends. */
const SIGNATURE_TYPES = new Set([
  'application/pgp-signature',
  'application/pkcs7-signature',
  'application/x-pkcs7-signature',
  'application/pgp-keys',
]);

/**
 * Whether a part is the sender's file rather than part of the mail itself. Recordings always are. An image the HTML
 * body shows (a logo in a signature: a part with a Content-ID, inline or inside multipart/related) and a signature
 * part are not; everything else is, so a PDF or a photo is named in the answer instead of vanishing.
 */
function isSenderFile(part: AttachmentStream, mimeType: string, name: string): boolean {
  if (isMediaFile(mimeType, name)) return true;
  if (part.related || (part.contentId && part.contentDisposition !== 'attachment')) return false;
  return !SIGNATURE_TYPES.has(mimeType.split(';')[0].trim().toLowerCase());
}

/** A whole mail as a part: `message/rfc822`, or `message/global` with UTF-8 headers. */
const ATTACHED_MAIL = /^message\/(rfc822|global)\b/i;

/** Drops everything written to it. */
const sink = (): Writable => new Writable({ write: (_c, _e, done) => done() });

/**
 * Streams a raw message through mailparser: the sender's attachments go to temp files (at most `maxFileBytes`
 * each; larger ones become lazy refusals), for intake to take or refuse by name; inline images and signatures are
 * drained unread. Memory stays bounded by mailparser's chunking and the text parts.
 */
export async function parseBody(
  raw: Readable,
  options: {
    maxFileBytes: number;
    tmpDir?: string;
    /** Text parts past this (4 MiB) fail the parse with `MailTextTooLarge`. */ maxTextBytes?: number;
    /** Parsing a mail attached to another: its own attached mails are not opened again. */
    attached?: boolean;
  },
): Promise<ParsedBody> {
  const dir = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'mail-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  const hash = createHash('sha256');
  const attachments: IncomingAttachment[] = [];
  let text: string | undefined;
  // mailparser's own HTML-to-text builds a DOM of the whole body: seconds of blocked process for a list-heavy one, a
  // stack overflow for a deeply nested one. An HTML-only mail's text is read by `htmlToPlain` instead.
  const parser = new MailParser({ skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true });
  const pending: Promise<void>[] = [];

  const save = async (part: AttachmentStream): Promise<void> => {
    const index = attachments.length + 1;
    const name = part.filename?.trim() || `attachment-${index}`;
    // A part whose Content-Type names no type has none here (mailparser gives `false`).
    const mimeType = typeof part.contentType === 'string' && part.contentType ? part.contentType : 'application/octet-stream';
    if (!isSenderFile(part, mimeType, name)) {
      await pipeline(part.content as Readable, sink());
      return;
    }
    if (ATTACHED_MAIL.test(mimeType) && !options.attached) return saveAttachedMail(part, name, mimeType);
    const path = join(dir, String(index));
    // Reserve the slot now so the order of attachments is the order in the mail.
    const slot = attachments.push({ name, mimeType, open: async () => createReadStream(path) }) - 1;
    const limit = new ByteLimit(options.maxFileBytes);
    await pipeline(part.content as Readable, limit, createWriteStream(path));
    if (limit.exceeded) {
      await rm(path, { force: true });
      attachments[slot] = {
        name,
        mimeType,
        size: limit.bytes,
        open: async () => {
          throw new AttachmentRefusal('too_large', wording.refusals.tooLarge(options.maxFileBytes));
        },
      };
    } else {
      attachments[slot].size = limit.bytes;
    }
  };

  /**
   * A mail forwarded as an attachment (Outlook's "forward as attachment", an .eml): its files are the sender's
   * files. Read one level deep, into this mail's temp folder; a forwarded mail without files, or one that cannot
   * be read, is named as what it is.
   */
  const saveAttachedMail = async (part: AttachmentStream, name: string, mimeType: string): Promise<void> => {
    const content = part.content as Readable;
    const inner = await parseBody(content, { ...options, tmpDir: dir, attached: true }).catch(() => undefined);
    if (inner && inner.attachments.length > 0) {
      attachments.push(...inner.attachments);
      return;
    }
    content.resume();
    attachments.push({ name, mimeType, size: 0, open: async () => Readable.from([]) });
  };

  parser.on('data', (data: AttachmentStream | MessageText) => {
    if (data.type === 'text') {
      const written = data.text?.trim() || (typeof data.html === 'string' ? htmlToPlain(data.html).trim() : '');
      text = written.slice(0, TEXT_LIMIT) || undefined;
      return;
    }
    // mailparser waits for release() before it moves on, which keeps one attachment in flight at a time.
    const done = save(data).finally(() => data.release());
    pending.push(done);
    done.catch(() => undefined);
  });

  try {
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    const ended = new Promise<void>((resolve, reject) => {
      parser.on('end', resolve);
      parser.on('error', reject);
    });
    ended.catch(() => undefined);
    await pipeline(raw, tap, new TextBudget(options.maxTextBytes ?? 4 * 1024 * 1024), parser);
    await ended;
    await Promise.all(pending);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { rawHash: hash.digest('hex'), text, attachments, cleanup };
}
